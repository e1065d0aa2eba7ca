"""The "requests" map layer: open citizen requests by service, overdue ones stand out
(GeoJSON FeatureCollection, see services/layers.py)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine

from services.i18n import N_
from services.city import City
from services.incidents import iso
from services.layers import LayerData, register_layer
from services.requests.orders import OPEN_STATUSES, STATUS_LABELS, OrderFilter, list_orders

STATE_COLOURS = {"on_time": "#2b8a3e", "due_soon": "#e8a317", "overdue": "#d7191c"}
STATE_LABELS = {"on_time": N_("on time"), "due_soon": N_("due soon"), "overdue": N_("overdue")}


def request_feature(order) -> dict:
    state = order.clock.state or "on_time"
    return {"type": "Feature", "id": f"request-{order.id}",
            "geometry": {"type": "Point", "coordinates": [order.lon, order.lat]},
            "properties": {"id": order.id, "label": f"{order.label} — {STATUS_LABELS[order.status]}",
                           "observed_at": iso(order.updated_at), "service_code": order.service_code,
                           "service": order.service_label, "department": order.department,
                           "status": order.status, "due_at": iso(order.clock.due_at), "due_state": state,
                           "overdue": state == "overdue", "colour": STATE_COLOURS[state],
                           "radius": 9 if state == "overdue" else 6}}


@register_layer("requests", N_("Citizen requests"), order=45)
def requests_layer(engine: Engine, city: City, now: datetime) -> LayerData:
    from services.runtime import current
    from services.requests.catalogue import catalogue_of

    orders = list_orders(engine, catalogue_of(current().settings), now, OrderFilter(statuses=OPEN_STATUSES))
    return LayerData(features=[request_feature(o) for o in orders],
                     newest_at=max((o.updated_at for o in orders), default=None), stale_after_s=float("inf"),
                     legend=[(STATE_COLOURS[s], STATE_LABELS[s]) for s in STATE_COLOURS])
