"""Formatting for screens: site time zone, ages, numbers."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo


def site_time(moment: datetime | None, timezone: str, with_date: bool = False) -> str:
    if moment is None:
        return "never"
    local = moment.astimezone(ZoneInfo(timezone))
    return local.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")


def age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} d"


def value_summary(values: dict, limit: int = 3) -> str:
    numbers = [(k, v) for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return ", ".join(f"{k} {v:g}" for k, v in numbers[:limit])
