"""FIWARE UltraLight 2.0 devices over MQTT (telefonicaid/iotagent-ul).

Topic ``/ul/<apikey>/<device>/attrs`` (or ``/<apikey>/<device>/attrs``, see iot_agent_json.py);
payload ``t|15|h|70``: pairs of measure name and value, several measure groups separated by
``#``, a group optionally starting with its ISO 8601 time (``2016-06-13T00:35:30Z|t|15``).
What the names mean comes from provisioning (services/adapters/iot_agent.py).
"""
from __future__ import annotations

from services.adapters import Adapted, register_topic_adapter
from services.adapters.iot_agent import entities_for
from services.i18n import say
from services.telemetry import Rejected


def match_ultralight_topic(parts: list[str], root_parts: list[str]) -> tuple[str, str] | None:
    if len(parts) == 5 and parts[0] == "" and parts[1] == "ul" and parts[4] == "attrs" and parts[2] and parts[3]:
        return parts[2], parts[3]
    return None


@register_topic_adapter("ultralight", "FIWARE UltraLight 2.0 (MQTT)", match=match_ultralight_topic,
                        subscriptions=("/ul/+/+/attrs",), level="ul")
def read_ultralight(found, payload: bytes, context, received_at) -> list[Adapted]:
    apikey, device_id = found
    return entities_for(context, apikey, device_id, measure_groups(payload))


def measure_groups(payload: bytes) -> list[dict]:
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError as bad:
        raise Rejected("not_json", say("an UltraLight payload must be UTF-8 text: {problem} at byte {at:,}",
                                       problem=bad.reason, at=bad.start)) from None
    groups = []
    for chunk in text.split("#"):
        fields = [part.strip() for part in chunk.split("|")]
        if fields == [""]:
            continue
        group = {}
        if len(fields) % 2 == 1:  # an odd field count starts with the group's time
            group["TimeInstant"] = fields.pop(0)
        for name, value in zip(fields[::2], fields[1::2]):
            if not name:
                raise Rejected("invalid_value", say("UltraLight measure group {group} has an empty measure name",
                                                    group=repr(chunk[:80])))
            group[name] = value
        if group:
            groups.append(group)
    if not groups:
        raise Rejected("invalid_value", say("the UltraLight payload holds no measure (expected name|value pairs)"))
    return groups
