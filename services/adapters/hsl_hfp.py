"""Helsinki region public transport positions (HSL high-frequency positioning, HFP) as Vehicle states.

Every HSL bus, tram, train, metro and ferry publishes its position about once a second on
HSL's open broker (mqtt.hsl.fi, plain MQTT: a Mosquitto bridge brings the topics the city wants
onto its own broker unchanged). Topics, as published:

- v2: ``/hfp/v2/<journey_type>/<temporal_type>/<event_type>/<transport_mode>/<operator_id>/<vehicle_number>/``
  then ``<route_id>/<direction_id>/<headsign>/<start_time>/<next_stop>/<geohash_level>/<geohash>/<sid>/``
- v1: ``/hfp/v1/<journey_type>/<temporal_type>/<transport_mode>/<operator_id>/<vehicle_number>/...``
  (positions only; a dead run's topic ends after the vehicle number)

Payload ``{"VP": {"tst": "2018-04-05T17:38:36Z", "spd": 0.16, "hdg": 225, "lat": 60.19, "long": 25.03, ...}}``:
``tst`` the time (UTC), ``spd`` the speed in m/s, ``hdg`` the heading in degrees from north,
``lat``/``long`` the position (null when the vehicle has no fix).

A vehicle is ``<operator_id>/<vehicle_number>`` of the topic (HSL's unique vehicle id: the
payload's ``oper`` is the operator running the trip, which may be a subcontractor); its CityOps
device is ``hsl-<operator_id>-<vehicle_number>``, a Vehicle state as on ``<root>/units/<id>/state``
(SPEC section 4). It is not a response unit: only the units CityOps registers can be dispatched.
Read: vehicle positions (``vp``) of ongoing journeys and dead runs (to or from the depot:
``serviceStatus`` ``outOfService``); other events (stops, doors, signal priority) and the
``upcoming`` copies of a position (the same fix, for the vehicle's next journey) are not read.
"""
from __future__ import annotations

from dataclasses import dataclass

from services.adapters import Adapted, register_topic_adapter
from services.i18n import say
from services.telemetry import Rejected, checked_id, decode_json, from_unix_seconds

LEVEL = "hfp"
DEVICE_PREFIX = "hsl-"
# HFP transport modes as the Smart Data Models' vehicleType (ubus: HSL's U-line buses; robot: automated buses)
VEHICLE_TYPES = {"ubus": "bus", "robot": "bus"}
SERVICE_STATUS = {"journey": "onRoute", "deadrun": "outOfService"}


@dataclass(frozen=True)
class HfpTopic:
    version: str
    journey_type: str
    temporal_type: str
    event_type: str
    transport_mode: str
    operator_id: str
    vehicle_number: str


def match_hfp_topic(parts: list[str], root_parts: list[str]) -> HfpTopic | None:
    if len(parts) < 8 or parts[0] != "" or parts[1] != LEVEL:
        return None
    if parts[2] == "v2" and len(parts) >= 9:
        return HfpTopic("v2", *parts[3:9])
    if parts[2] == "v1":  # no event type: every v1 message is a position
        journey_type, temporal_type, mode, operator_id, vehicle_number = parts[3:8]
        return HfpTopic("v1", journey_type, temporal_type, "vp", mode, operator_id, vehicle_number)
    return None


@register_topic_adapter("hsl_hfp", "HSL high-frequency positioning (Helsinki public transport): "
                        "/hfp/v2/<journey|deadrun>/ongoing/vp/... and /hfp/v1/...", match=match_hfp_topic,
                        subscriptions=("/hfp/v2/+/ongoing/vp/#", "/hfp/v1/+/ongoing/#"), level=LEVEL)
def read_vehicle_position(topic: HfpTopic, payload: bytes, context, received_at) -> list[Adapted]:
    if topic.event_type != "vp":
        raise Rejected("wrong_topic", say("the HFP adapter reads vehicle positions (vp), not {event} events",
                                          event=repr(topic.event_type)))
    if topic.temporal_type != "ongoing":
        raise Rejected("wrong_topic", say("the HFP adapter reads the ongoing journey's positions; {temporal} repeats "
                                          "them for the vehicle's next journey", temporal=repr(topic.temporal_type)))
    if topic.journey_type not in SERVICE_STATUS:
        raise Rejected("wrong_topic", say("HFP journey type {journey} is not journey or deadrun",
                                          journey=repr(topic.journey_type)))
    if not topic.operator_id or not topic.vehicle_number:
        raise Rejected("invalid_value", say("the HFP topic names no operator and vehicle number"))
    device_id = checked_id(f"{DEVICE_PREFIX}{topic.operator_id}-{topic.vehicle_number}", say("HFP vehicle id"))
    document = decode_json(payload)
    position = document.get("VP") if isinstance(document, dict) else None
    if not isinstance(position, dict):
        raise Rejected("invalid_value", say("an HFP vehicle position is {shape}", shape='{"VP": {...}}'))
    entity = {"type": "Vehicle", "serviceStatus": SERVICE_STATUS[topic.journey_type]}
    if topic.transport_mode:
        entity["vehicleType"] = VEHICLE_TYPES.get(topic.transport_mode, topic.transport_mode)
    if position.get("tst") is not None:
        entity["observationDateTime"] = position["tst"]
    elif position.get("tsi") is not None:
        entity["observationDateTime"] = from_unix_seconds(position["tsi"], "tsi").isoformat()
    if position.get("lat") is not None and position.get("long") is not None:
        entity["location"] = {"type": "Point", "coordinates": [position["long"], position["lat"]]}
    if position.get("spd") is not None:
        entity["speed"] = {"value": position["spd"], "unitCode": "MTS"}
    if position.get("hdg") is not None:
        entity["bearing"] = position["hdg"]
    return [Adapted("unit_state", device_id, [entity])]

