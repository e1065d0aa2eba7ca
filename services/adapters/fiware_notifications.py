"""FIWARE context broker notifications and the GeoJSON representation of entities.

A context broker (Orion, Orion-LD, Scorpio, Stellio) pushes a subscription's changes as a
notification; with an MQTT subscription it publishes that document on a topic the operator
chooses (for CityOps: ``<root>/telemetry/<broker>``, ``<root>/reports``, ...):

- NGSI v2 (Orion): ``{"subscriptionId": "...", "data": [entity, ...]}``, the entities normalized
  or keyValues (``attrsFormat``);
- NGSI-LD: ``{"id": "urn:ngsi-ld:Notification:...", "type": "Notification", "subscriptionId",
  "notifiedAt", "data": [entity, ...]}``.

NGSI-LD brokers and the Smart Data Models also give entities as GeoJSON (``Accept:
application/geo+json``): a ``Feature`` whose ``properties`` are the entity's attributes (with
its ``type``) and whose ``geometry`` is its location, or a ``FeatureCollection`` of them.

Each is unwrapped to its entities; they are then read like any other (services/telemetry.py).
"""
from __future__ import annotations

from typing import Any

from services.adapters import register_document_adapter
from services.i18n import say
from services.telemetry import Rejected


@register_document_adapter("fiware_notifications", "FIWARE NGSI v2 / NGSI-LD broker notifications",
                           types=("Notification",), keys=("subscriptionId",))
def notification_entities(document: dict) -> list:
    data = document.get("data")
    if not isinstance(data, list):
        raise Rejected("invalid_value", say("a broker notification needs \"data\": an array of entities"))
    if not data:
        raise Rejected("invalid_value", say("the notification's data holds no entity"))
    return data


@register_document_adapter("geojson_entities", "Entities as GeoJSON Feature / FeatureCollection",
                           types=("Feature", "FeatureCollection"))
def feature_entities(document: dict) -> list:
    if document.get("type") == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list) or not features:
            raise Rejected("invalid_value", say("a FeatureCollection needs a non-empty \"features\" array"))
        return [feature_entity(feature) for feature in features]
    return [feature_entity(document)]


def feature_entity(feature: Any) -> dict:
    """The entity a GeoJSON Feature represents: its properties, its id, its geometry as location."""
    if not isinstance(feature, dict) or not isinstance(feature.get("properties"), dict):
        raise Rejected("invalid_value", say("a GeoJSON Feature needs \"properties\" holding the entity"))
    entity = dict(feature["properties"])
    if "id" in feature and "id" not in entity:
        entity["id"] = feature["id"]
    if "location" not in entity and feature.get("geometry") is not None:
        entity["location"] = feature["geometry"]
    return entity
