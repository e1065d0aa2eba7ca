"""FIWARE IoT Agent JSON devices over MQTT (telefonicaid/iotagent-json).

Topics (``<apikey>`` and ``<device>`` as provisioned, see services/adapters/iot_agent.py):

- ``/json/<apikey>/<device>/attrs``: a measure group ``{"t": 15, "h": 70}`` or an array of them;
- ``/json/<apikey>/<device>/attrs/<attr>``: one measure, the payload is its value (``70``), or an
  array of ``{"timestamp", "value"}`` readings of it;
- ``/<apikey>/<device>/attrs[/<attr>]``: the same without the protocol prefix, as older agents
  and both the JSON and the UltraLight agents take it (a payload that is not a JSON object or
  array is read as UltraLight 2.0).

A measure named ``TimeInstant`` (or ``timestamp``) is the observation time.
"""
from __future__ import annotations

from typing import Any

from services.adapters import Adapted, register_topic_adapter
from services.adapters.iot_agent import configure, entities_for
from services.adapters.ultralight import measure_groups as ultralight_groups
from services.i18n import say
from services.telemetry import Rejected, decode_json


def match_json_topic(parts: list[str], root_parts: list[str]) -> tuple[str, str, str | None] | None:
    """(apikey, device, attribute or None) of an IoT Agent JSON topic."""
    if len(parts) in (5, 6) and parts[0] == "" and parts[1] == "json" and parts[4] == "attrs":
        return _ids(parts[2], parts[3], parts[5] if len(parts) == 6 else None)
    if len(parts) in (4, 5) and parts[0] == "" and parts[3] == "attrs" and parts[1] not in ("json", "ul"):
        return _ids(parts[1], parts[2], parts[4] if len(parts) == 5 else None)
    return None


def _ids(apikey: str, device: str, attribute: str | None):
    if not apikey or not device or attribute == "":
        return None
    return apikey, device, attribute


@register_topic_adapter("iot_agent_json", "FIWARE IoT Agent JSON (MQTT)", match=match_json_topic,
                        subscriptions=("/json/+/+/attrs/#", "/+/+/attrs/#"), configure=configure)
def read_json_measures(found, payload: bytes, context, received_at) -> list[Adapted]:
    apikey, device_id, attribute = found
    if attribute is not None:
        groups = single_measure_groups(attribute, payload)
    elif payload.lstrip()[:1] in (b"{", b"["):
        groups = measure_groups(decode_json(payload))
    else:
        groups = ultralight_groups(payload)
    return entities_for(context, apikey, device_id, groups)


def measure_groups(document: Any) -> list[dict]:
    groups = document if isinstance(document, list) else [document]
    if not groups or not all(isinstance(group, dict) and group for group in groups):
        raise Rejected("invalid_value", say("IoT Agent JSON measures must be an object of measures or an array of "
                                            "them"))
    return groups


def single_measure_groups(attribute: str, payload: bytes) -> list[dict]:
    """``/attrs/<attr>``: the payload is the measure's value, or timestamped readings of it."""
    try:
        value = decode_json(payload)
    except Rejected:  # a bare text value, as a device may send it
        try:
            value = payload.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise Rejected("not_json", say("the measure is neither JSON nor UTF-8 text")) from None
    if isinstance(value, list) and value and all(isinstance(item, dict) and "value" in item for item in value):
        return [{attribute: item["value"], **({"TimeInstant": item["timestamp"]} if "timestamp" in item else {})}
                for item in value]
    return [{attribute: value}]
