"""IoT Agent provisioning, shared by the IoT Agent JSON and UltraLight 2.0 adapters.

Devices that speak a FIWARE IoT Agent protocol send bare measures (``{"t": 15}``, ``t|15``)
on ``/<apikey>/<device>/attrs``; what they mean comes from provisioning, as in an IoT Agent:

- a **service group** (apikey): the entity type of its devices, the mapping of measure names
  (``object_id``) to attribute names, static attributes (a fixed ``location``), and whether a
  device it does not list is taken (``autoprovision``);
- a **device** (apikey + device id): its entity id (``entity_name``), its own type, mapping and
  static attributes, over the group's.

Provisioning is kept in the database (tables ``iot_service_groups`` / ``iot_devices``): the
ingest reads it, config/iot_agent.yaml is applied at the ingest's start, and the REST API
(api/iot_agent.py, administrator) changes it while CityOps runs. A message whose apikey has no
group, or whose device is not provisioned in a group without autoprovision, is rejected with
reason ``unprovisioned``.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.engine import Engine

from services.access.principal import Principal
from services.adapters import Adapted
from services.audit import record
from services.commands import authorize
from services.db import session_scope
from services.i18n import say
from services.models import IotDevice, IotServiceGroup, utcnow
from services.telemetry import ENTITY_SPECS, REPORT_TYPES, Rejected, normalize_id

PROVISION = "devices.provision"  # the permission (services/access/principal.py)
CONFIG_FILE = Principal.system("config")  # provisioning read from config/iot_agent.yaml at start-up

log = logging.getLogger("cityops.iot_agent")

RELOAD_MISSING_S = 1.0  # an unknown apikey/device re-reads provisioning at most this often
RELOAD_S = 10.0  # provisioning changed through the API reaches the ingest within this
TIME_MEASURES = ("TimeInstant", "timestamp")  # a measure holding the observation time


class ProvisioningError(ValueError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message, self.field = message, field


@dataclass(frozen=True)
class ServiceGroup:
    apikey: str
    entity_type: str
    attributes: tuple[tuple[str, str], ...] = ()  # (object_id, name)
    static_attributes: tuple[tuple[str, Any], ...] = ()  # (name, value)
    autoprovision: bool = False

    def as_json(self) -> dict:
        return {"apikey": self.apikey, "entity_type": self.entity_type,
                "attributes": [{"object_id": o, "name": n} for o, n in self.attributes],
                "static_attributes": [{"name": n, "value": v} for n, v in self.static_attributes],
                "autoprovision": self.autoprovision}


@dataclass(frozen=True)
class DeviceProvision:
    apikey: str
    device_id: str
    entity_name: str | None = None
    entity_type: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    static_attributes: tuple[tuple[str, Any], ...] = ()

    def as_json(self) -> dict:
        return {"apikey": self.apikey, "device_id": self.device_id, "entity_name": self.entity_name,
                "entity_type": self.entity_type,
                "attributes": [{"object_id": o, "name": n} for o, n in self.attributes],
                "static_attributes": [{"name": n, "value": v} for n, v in self.static_attributes]}


# ---------------------------------------------------------------- validation (config file and API)

def _text(raw: dict, name: str, *, required: bool, limit: int = 128) -> str | None:
    value = raw.get(name)
    if value is None or value == "":
        if required:
            raise ProvisioningError(f"{name} is required", name)
        return None
    if not isinstance(value, str) or "/" in value or "+" in value or "#" in value or len(value) > limit:
        raise ProvisioningError(f"{name} must be text of at most {limit} characters without / + #", name)
    return value


def _mapping(raw: dict) -> tuple[tuple[str, str], ...]:
    items = raw.get("attributes") or []
    if not isinstance(items, list):
        raise ProvisioningError("attributes must be a list of {object_id, name}", "attributes")
    pairs = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise ProvisioningError("each attribute needs a name (and object_id: the device's measure name)",
                                    "attributes")
        object_id = item.get("object_id") or item["name"]
        if not isinstance(object_id, str):
            raise ProvisioningError("object_id must be text", "attributes")
        pairs.append((object_id, item["name"]))
    return tuple(pairs)


def _statics(raw: dict) -> tuple[tuple[str, Any], ...]:
    items = raw.get("static_attributes") or []
    if not isinstance(items, list):
        raise ProvisioningError("static_attributes must be a list of {name, value}", "static_attributes")
    pairs = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or "value" not in item:
            raise ProvisioningError("each static attribute needs a name and a value", "static_attributes")
        pairs.append((item["name"], item["value"]))
    return tuple(pairs)


def _entity_type(raw: dict, *, required: bool) -> str | None:
    entity_type = _text(raw, "entity_type", required=required, limit=64)
    if entity_type is not None and entity_type not in ENTITY_SPECS and entity_type not in REPORT_TYPES:
        raise ProvisioningError(f"entity_type must be one CityOps reads: {', '.join(sorted(ENTITY_SPECS))}",
                                "entity_type")
    return entity_type


def service_group_from(raw: Any) -> ServiceGroup:
    if not isinstance(raw, dict):
        raise ProvisioningError("a service group must be an object")
    autoprovision = raw.get("autoprovision", False)
    if not isinstance(autoprovision, bool):
        raise ProvisioningError("autoprovision must be true or false", "autoprovision")
    return ServiceGroup(apikey=_text(raw, "apikey", required=True), entity_type=_entity_type(raw, required=True),
                        attributes=_mapping(raw), static_attributes=_statics(raw), autoprovision=autoprovision)


def device_from(raw: Any) -> DeviceProvision:
    if not isinstance(raw, dict):
        raise ProvisioningError("a device must be an object")
    return DeviceProvision(apikey=_text(raw, "apikey", required=True), device_id=_text(raw, "device_id", required=True),
                           entity_name=_text(raw, "entity_name", required=False, limit=256),
                           entity_type=_entity_type(raw, required=False),
                           attributes=_mapping(raw), static_attributes=_statics(raw))


# ---------------------------------------------------------------- storage

def _group_row(row: IotServiceGroup) -> ServiceGroup:
    return service_group_from({"apikey": row.apikey, "entity_type": row.entity_type, "attributes": row.attributes,
                               "static_attributes": row.static_attributes, "autoprovision": row.autoprovision})


def _device_row(row: IotDevice) -> DeviceProvision:
    return device_from({"apikey": row.apikey, "device_id": row.device_id, "entity_name": row.entity_name,
                        "entity_type": row.entity_type, "attributes": row.attributes,
                        "static_attributes": row.static_attributes})


def list_groups(engine: Engine) -> list[ServiceGroup]:
    with engine.connect() as connection:
        rows = connection.execute(select(IotServiceGroup).order_by(IotServiceGroup.apikey)).all()
    return [_group_row(row) for row in rows]


def list_devices(engine: Engine) -> list[DeviceProvision]:
    with engine.connect() as connection:
        rows = connection.execute(select(IotDevice).order_by(IotDevice.apikey, IotDevice.device_id)).all()
    return [_device_row(row) for row in rows]


def save_group(engine: Engine, group: ServiceGroup, *, principal: Principal, source: str = "api") -> None:
    authorize(principal, PROVISION)
    with session_scope(engine) as session:
        row = session.get(IotServiceGroup, group.apikey)
        before = _group_row(row).as_json() if row else None
        if row is None:
            row = IotServiceGroup(apikey=group.apikey, entity_type=group.entity_type, updated_at=utcnow())
        after = group.as_json()
        row.entity_type, row.attributes = group.entity_type, after["attributes"]
        row.static_attributes, row.autoprovision = after["static_attributes"], group.autoprovision
        row.source, row.updated_at = source, utcnow()
        session.add(row)
        record(session, principal.name, "iot_agent.service_group.save", f"iot-service-group:{group.apikey}", before, after)


def save_device(engine: Engine, device: DeviceProvision, *, principal: Principal, source: str = "api") -> None:
    authorize(principal, PROVISION)
    with session_scope(engine) as session:
        row = session.get(IotDevice, (device.apikey, device.device_id))
        before = _device_row(row).as_json() if row else None
        if row is None:
            row = IotDevice(apikey=device.apikey, device_id=device.device_id, updated_at=utcnow())
        after = device.as_json()
        row.entity_name, row.entity_type = device.entity_name, device.entity_type
        row.attributes, row.static_attributes = after["attributes"], after["static_attributes"]
        row.source, row.updated_at = source, utcnow()
        session.add(row)
        record(session, principal.name, "iot_agent.device.save", f"iot-device:{device.apikey}/{device.device_id}",
               before, after)


def delete_group(engine: Engine, apikey: str, *, principal: Principal) -> bool:
    authorize(principal, PROVISION)
    with session_scope(engine) as session:
        row = session.get(IotServiceGroup, apikey)
        if row is None:
            return False
        record(session, principal.name, "iot_agent.service_group.delete", f"iot-service-group:{apikey}",
               _group_row(row).as_json(), None)
        session.delete(row)
    return True


def delete_device(engine: Engine, apikey: str, device_id: str, *, principal: Principal) -> bool:
    authorize(principal, PROVISION)
    with session_scope(engine) as session:
        row = session.get(IotDevice, (apikey, device_id))
        if row is None:
            return False
        record(session, principal.name, "iot_agent.device.delete", f"iot-device:{apikey}/{device_id}",
               _device_row(row).as_json(), None)
        session.delete(row)
    return True


def apply_config_file(engine: Engine, path: Path) -> tuple[int, int]:
    """Writes the file's service groups and devices (overwriting those with the same keys)."""
    if not path.exists():
        return 0, 0
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(document, dict):
        raise ProvisioningError(f"{path}: expected service_groups: and devices: lists")
    try:
        groups = [service_group_from(raw) for raw in document.get("service_groups") or []]
        devices = [device_from(raw) for raw in document.get("devices") or []]
    except ProvisioningError as error:
        raise ProvisioningError(f"{path}: {error.message}", error.field) from None
    for group in groups:
        save_group(engine, group, principal=CONFIG_FILE, source="config")
    for device in devices:
        save_device(engine, device, principal=CONFIG_FILE, source="config")
    return len(groups), len(devices)


# ---------------------------------------------------------------- the ingest's view

class Provisioning:
    """The ingest's cached copy of the provisioning tables, re-read when it may be out of date."""

    def __init__(self, engine: Engine | None, groups=(), devices=()):
        self.engine = engine
        self._groups = {g.apikey: g for g in groups}
        self._devices = {(d.apikey, d.device_id): d for d in devices}
        self._loaded_at = time.monotonic() if engine is None else float("-inf")

    def _reload(self, older_than: float) -> None:
        if self.engine is None or time.monotonic() - self._loaded_at < older_than:
            return
        self._loaded_at = time.monotonic()
        try:
            self._groups = {g.apikey: g for g in list_groups(self.engine)}
            self._devices = {(d.apikey, d.device_id): d for d in list_devices(self.engine)}
        except Exception:  # the database is away: keep what is known, the message is judged on it
            log.exception("could not re-read IoT Agent provisioning")

    def lookup(self, apikey: str, device_id: str) -> tuple[ServiceGroup | None, DeviceProvision | None]:
        self._reload(RELOAD_S)
        if apikey not in self._groups or (apikey, device_id) not in self._devices:
            self._reload(RELOAD_MISSING_S)
        return self._groups.get(apikey), self._devices.get((apikey, device_id))


def configure(settings, engine: Engine) -> Provisioning:
    groups, devices = apply_config_file(engine, settings.iot_agent_file)
    if groups or devices:
        log.info("IoT Agent provisioning from %s: %d service groups, %d devices",
                 settings.iot_agent_file, groups, devices)
    return Provisioning(engine)


# ---------------------------------------------------------------- measures -> entities

def provisioning_of(context) -> Provisioning:
    """The provisioning the runtime configured (it is the state of the iot_agent_json adapter)."""
    provisioning = context.adapters.get("iot_agent_json")
    return provisioning if provisioning is not None else Provisioning(None)


def entities_for(context, apikey: str, device_id: str, measure_groups: list[dict]) -> list[Adapted]:
    """The entities a provisioned device's measure groups stand for (one entity per group)."""
    group, device = provisioning_of(context).lookup(apikey, device_id)
    if group is None and device is None:
        raise Rejected("unprovisioned", say("no IoT Agent service group has apikey {apikey}", apikey=repr(apikey)))
    if device is None and not group.autoprovision:
        raise Rejected("unprovisioned", say("device {device} is not provisioned in service group {apikey}",
                                            device=repr(device_id), apikey=repr(apikey)))
    entity_type = (device and device.entity_type) or (group and group.entity_type)
    if not entity_type:
        raise Rejected("unprovisioned", say("device {device} has no entity type and no service group gives one",
                                            device=repr(device_id)))
    names = dict(group.attributes if group else ())
    names.update(device.attributes if device else ())
    statics = dict(group.static_attributes if group else ())
    statics.update(device.static_attributes if device else ())
    entity_id = (device and device.entity_name) or device_id
    entities = []
    for measures in measure_groups:
        entity = {"id": entity_id, "type": entity_type, **statics}
        for object_id, value in measures.items():
            if object_id in TIME_MEASURES:
                entity["dateObserved"] = value
            else:
                entity[names.get(object_id, object_id)] = value
        entities.append(entity)
    kind = "unit_state" if entity_type == "Vehicle" else "reports" if entity_type in REPORT_TYPES else "telemetry"
    return [Adapted(kind, normalize_id(entity_id), entities)]
