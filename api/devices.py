"""Telemetry endpoints: health, devices, their observations, rejected messages."""
from __future__ import annotations

from flask import jsonify, request

from api import models
from api.core import ApiError, Parameter, endpoint, int_arg, time_arg
from services.devices import device_observations, get_device, list_devices
from services.health import health_report
from services.i18n import _
from services.rejections import list_rejections
from services.runtime import current
from services.telemetry import REASONS


@endpoint("/health", "Broker, database and ingest counters; HTTP 503 when degraded", role=None,
          response=models.Health)
def health():
    report = health_report(current().engine)
    return jsonify(report), 200 if report["status"] == "ok" else 503


@endpoint("/health/live", "The web server answers (no database query): what screens poll for their connection banner",
          role=None, response=models.Liveness)
def liveness():
    return jsonify({"status": "ok"})


_TIME = {"type": "string", "format": "date-time"}


@endpoint("/devices", "Devices with type, location, last observation and stale flag",
          parameters=(Parameter("type", "query", "only devices of this entity type", {"type": "string"}),),
          response=models.Devices)
def devices():
    views = list_devices(current().engine, device_type=request.args.get("type") or None)
    return jsonify({"devices": [view.as_json() for view in views], "count": len(views)})


@endpoint("/devices/<device_id>", "One device",
          parameters=(Parameter("device_id", "path", "device id", {"type": "string"}),), response=models.Device)
def device(device_id: str):
    view = get_device(current().engine, device_id)
    if view is None:
        raise ApiError(404, "not_found", _("no device {device_id}", device_id=repr(device_id)), "device_id")
    return jsonify(view.as_json())


@endpoint("/devices/<device_id>/observations", "Observation history of a device, oldest first",
          parameters=(
              Parameter("device_id", "path", "device id", {"type": "string"}),
              Parameter("since", "query", "ISO 8601; observations at or after", _TIME),
              Parameter("until", "query", "ISO 8601; observations at or before", _TIME),
              Parameter("limit", "query", "at most this many (the newest), 1..10000", {"type": "integer"}),
          ), response=models.Observations)
def observations(device_id: str):
    engine = current().engine
    if get_device(engine, device_id) is None:
        raise ApiError(404, "not_found", _("no device {device_id}", device_id=repr(device_id)), "device_id")
    since, until = time_arg("since"), time_arg("until")
    if since and until and since > until:
        raise ApiError(400, "invalid_range", _("since must not be after until"), "since")
    limit = int_arg("limit", 1000, 1, 10_000)
    rows = device_observations(engine, device_id, since=since, until=until, limit=limit)
    return jsonify({"device_id": device_id, "observations": [row.as_json() for row in rows], "count": len(rows)})


@endpoint("/rejected-messages", "Messages the ingest could not use, with their reasons (administrator)",
          role="rejections.read",
          parameters=(Parameter("reason", "query", "one of the reason codes",
                                {"type": "string", "enum": sorted(REASONS)}),
                      Parameter("limit", "query", "at most this many, newest first", {"type": "integer"})),
          response=models.Rejections)
def rejected_messages():
    reason = request.args.get("reason") or None
    if reason is not None and reason not in REASONS:
        raise ApiError(400, "invalid_value", _("reason must be one of {choices}",
                                               choices=', '.join(sorted(REASONS))), "reason")
    rows = list_rejections(current().engine, reason=reason, limit=int_arg("limit", 100, 1, 1000))
    return jsonify({"rejected": [row.as_json() for row in rows], "count": len(rows), "reasons": REASONS})


