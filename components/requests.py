"""Pure builders of the citizen-request screens (pages/requests.py): queue rows, countdowns, the
request's card and timeline. No I/O."""
from __future__ import annotations

from dash import html

from components.format import site_time
from services.requests.orders import SATISFACTION, STATUS_LABELS

DUE_LABELS = {"on_time": "on time", "due_soon": "due soon", "overdue": "OVERDUE"}


def countdown(seconds_left: float | None) -> str:
    """``3h 05m left`` or ``overdue 1d 2h``; empty when no clock runs."""
    if seconds_left is None:
        return ""
    left = abs(int(seconds_left))
    days, hours, minutes = left // 86400, left % 86400 // 3600, left % 3600 // 60
    text = f"{days}d {hours}h" if days else f"{hours}h {minutes:02d}m" if hours else f"{minutes}m"
    return f"{text} left" if seconds_left >= 0 else f"overdue {text}"


def queue_row(order, timezone: str) -> dict:
    return {"id": order.id, "request": order.request_id, "service": order.service_label,
            "department": order.department_label or "— unclassified —" if not order.department
            else order.department_label, "status": STATUS_LABELS[order.status], "district": order.district or "",
            "received": site_time(order.received_at, timezone, with_date=True),
            "due": countdown(order.clock.seconds_left), "due_state": order.clock.state or "",
            "transfers": order.transfer_count}


def order_card(order, timezone: str) -> html.Div:
    rating = (f"{SATISFACTION[order.satisfaction]}" + (f" — “{order.satisfaction_comment}”"
                                                       if order.satisfaction_comment else "")
              if order.satisfaction else "not rated yet")
    rows = [("Request", order.request_id), ("Service", f"{order.service_label} / {order.service_label_zh or ''}"),
            ("Department", order.department_label or "unassigned"), ("Status", STATUS_LABELS[order.status]),
            ("Clock", f"{order.clock.phase or 'stopped'} {countdown(order.clock.seconds_left)}"
                      f" ({DUE_LABELS.get(order.clock.state, '')})" if order.clock.phase else "stopped"),
            ("Where", f"{order.address or ''} {order.district or ''} ({order.lat:.5f}, {order.lon:.5f})"),
            ("What", order.description or ""), ("Citizen told", order.status_notes or ""),
            ("Transfers", str(order.transfer_count)), ("Satisfaction", rating),
            ("Received", site_time(order.received_at, timezone, with_date=True))]
    if order.merged_into:
        rows.append(("Merged into", f"#{order.merged_into}"))
    return html.Div([html.H3(order.label, className="request-title"),
                     html.Dl([part for label, value in rows for part in (html.Dt(label), html.Dd(value))],
                             className="request-facts", id="requests-facts"),
                     html.Div(html.A("photo", href=order.media_url, target="_blank", rel="noopener")
                              if order.media_url else None)], className="request-card",
                    **{"data-status": order.status, "data-satisfaction": order.satisfaction or ""})


def timeline(facts, timezone: str) -> html.Ol:
    return html.Ol([html.Li([html.Span(site_time(f.at, timezone, with_date=True), className="when"), " ",
                             html.Strong(f.kind), f" — {f.message} ", html.Span(f"({f.actor})", className="who")])
                    for f in facts], className="request-timeline")
