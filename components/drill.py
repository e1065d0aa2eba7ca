"""The DRILL badge: whatever a drill produced (services/drills.py) says so wherever it is shown."""
from __future__ import annotations

from dash import html


def drill_badge(drill: str | None) -> html.Span | None:
    if not drill:
        return None
    return html.Span("DRILL", className="drill-badge", title=f"drill {drill!r}: an exercise, not scored")
