"""IoT Agent provisioning (administrator): service groups and devices, as an IoT Agent's
configuration and provisioning APIs take them (services/adapters/iot_agent.py). A change
reaches the ingest within seconds; every write is in the audit log."""
from __future__ import annotations

from flask import g, jsonify

from api import models
from api.core import ApiError, Parameter, endpoint
from services.adapters.iot_agent import (
    ProvisioningError,
    delete_device,
    delete_group,
    device_from,
    list_devices,
    list_groups,
    save_device,
    save_group,
    service_group_from,
)
from services.i18n import _
from services.runtime import current


def _items(body: models.IotServiceGroups | models.IotDevices, name: str) -> list:
    """``{"<name>": [...]}`` as an IoT Agent takes it, or one object."""
    items = getattr(body, name)
    return items if items is not None else [body.model_dump(exclude_unset=True)]


def _validated(items: list, read) -> list:
    try:
        return [read(item) for item in items]
    except ProvisioningError as error:
        raise ApiError(400, "invalid_value", error.message, error.field) from None


@endpoint("/iot/services", "IoT Agent service groups (apikey -> entity type, mapping, static attributes)",
          role="devices.provision", response=models.ServiceGroups)
def iot_service_groups():
    groups = list_groups(current().engine)
    return jsonify({"services": [group.as_json() for group in groups], "count": len(groups)})


@endpoint("/iot/services", "Create or replace IoT Agent service groups", method="POST", role="devices.provision",
          body=models.IotServiceGroups, response=models.ServiceGroups, status=201)
def save_iot_service_groups(body: models.IotServiceGroups):
    groups = _validated(_items(body, "services"), service_group_from)
    for group in groups:
        save_group(current().engine, group, principal=g.principal)
    return jsonify({"services": [group.as_json() for group in groups], "count": len(groups)}), 201


@endpoint("/iot/services/<apikey>", "Remove an IoT Agent service group", method="DELETE", role="devices.provision",
          parameters=(Parameter("apikey", "path", "the group's apikey", {"type": "string"}),), response=models.Deleted)
def remove_iot_service_group(apikey: str):
    if not delete_group(current().engine, apikey, principal=g.principal):
        raise ApiError(404, "not_found", _("no service group with apikey {apikey}", apikey=repr(apikey)), "apikey")
    return jsonify({"deleted": apikey})


@endpoint("/iot/devices", "IoT Agent devices (device id -> entity id, own mapping)", role="devices.provision",
          response=models.ProvisionedDevices)
def iot_devices():
    rows = list_devices(current().engine)
    return jsonify({"devices": [device.as_json() for device in rows], "count": len(rows)})


@endpoint("/iot/devices", "Create or replace IoT Agent devices", method="POST", role="devices.provision",
          body=models.IotDevices, response=models.ProvisionedDevices, status=201)
def save_iot_devices(body: models.IotDevices):
    rows = _validated(_items(body, "devices"), device_from)
    for device in rows:
        save_device(current().engine, device, principal=g.principal)
    return jsonify({"devices": [device.as_json() for device in rows], "count": len(rows)}), 201


@endpoint("/iot/devices/<apikey>/<device_id>", "Remove an IoT Agent device", method="DELETE", role="devices.provision",
          parameters=(Parameter("apikey", "path", "its service group's apikey", {"type": "string"}),
                      Parameter("device_id", "path", "the device id", {"type": "string"})), response=models.Deleted)
def remove_iot_device(apikey: str, device_id: str):
    if not delete_device(current().engine, apikey, device_id, principal=g.principal):
        raise ApiError(404, "not_found", _("no device {device_id} under apikey {apikey}",
                                           device_id=repr(device_id), apikey=repr(apikey)), "device_id")
    return jsonify({"deleted": f"{apikey}/{device_id}"})
