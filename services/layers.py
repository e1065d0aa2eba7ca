"""Map layers register themselves here; each builds a GeoJSON FeatureCollection from the database.

A layer is a function ``build(engine, city, now) -> LayerData``. Producers and consumers agree on
one shape (Grafana data frames): every feature has a stable ``id``, a GeoJSON ``geometry`` and
``properties`` with at least ``label`` (what hover shows first) and ``observed_at`` (ISO 8601
UTC of the data it shows, or null). The map, the wall screen and ``GET /api/v1/layers/<name>``
all read layers through ``build_layer``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from sqlalchemy.engine import Engine

from services.city import City


@dataclass(frozen=True)
class LayerData:
    features: list[dict]
    newest_at: datetime | None  # time of the newest data in the layer
    stale_after_s: float  # the layer is stale when its newest data is older than this
    # (colour, label) or (colour, label, values): the label an English message (marked N_) that each screen
    # translates, with the values of its {placeholders} (text values translated too)
    legend: list[tuple] = field(default_factory=list)

    def feature_collection(self) -> dict:
        return {"type": "FeatureCollection", "features": self.features}


@dataclass(frozen=True)
class LayerSpec:
    name: str
    title: str
    order: int
    build: Callable[[Engine, City, datetime], LayerData]


LAYERS: dict[str, LayerSpec] = {}


def register_layer(name: str, title: str, order: int):
    def decorate(build: Callable[[Engine, City, datetime], LayerData]):
        LAYERS[name] = LayerSpec(name, title, order, build)
        return build

    return decorate


# Modules whose import registers layers (a plug-in registry, as Redash does for its sources).
PLUGINS = ("services.live_layers", "services.requests.layer")


def load_plugins() -> None:
    import importlib

    for module in PLUGINS:
        importlib.import_module(module)


def layer_names() -> list[str]:
    return [spec.name for spec in sorted(LAYERS.values(), key=lambda spec: spec.order)]


def build_layer(name: str, engine: Engine, city: City, now: datetime) -> LayerData:
    if name not in LAYERS:
        raise KeyError(name)
    return LAYERS[name].build(engine, city, now)
