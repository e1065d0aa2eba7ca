"""Foreign feed formats register here, as map layers do in services/layers.py.

CityOps reads Smart Data Models entities on its own topics (SPEC section 4). A city's other
feeds come in other shapes: a FIWARE context broker's notifications, IoT Agent devices, a
national road-weather service. Each such format is one module of this package that registers
an adapter; ``services.telemetry.parse_message`` consults the registry, and everything an
adapter hands back is parsed, validated and kept (or rejected with its reason) exactly like
CityOps's own messages. docs/ADAPTERS.md says how a city adds its own.

Two kinds:
- a **topic adapter** reads the messages of topics CityOps does not read itself (IoT Agent
  devices' ``/<apikey>/<device>/attrs``, ``<root>/digitraffic/...``). It is asked only after
  the built-in routes have not matched, so the normal ``<root>/telemetry/<id>`` path never
  pays for it.
- a **document adapter** unwraps a JSON document that arrives on a CityOps topic but wraps the
  entities (a broker notification's ``data``, a GeoJSON FeatureCollection). It is chosen by
  the document's top-level ``type`` (or, for documents without one, by a top-level key), a
  single dictionary look-up for an ordinary entity.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Iterable

# Modules whose import registers adapters. A city adds its own module here (docs/ADAPTERS.md).
PLUGINS = (
    "services.adapters.fiware_notifications",
    "services.adapters.iot_agent_json",
    "services.adapters.ultralight",
    "services.adapters.digitraffic",
)


@dataclass(frozen=True)
class Adapted:
    """What an adapter made of a message: entities for one of CityOps's own routes."""

    kind: str  # "telemetry" | "unit_state" | "reports"
    device_id: str  # the device the entities belong to when they carry no id of their own
    entities: list[dict]


@dataclass(frozen=True)
class TopicAdapter:
    name: str
    title: str
    # (topic split on "/", root split on "/") -> what read() needs, or None when not its topic
    match: Callable[[list[str], list[str]], Any]
    # (match, raw payload, ParseContext, received_at) -> the entities; raises telemetry.Rejected
    read: Callable[..., list[Adapted]]
    # topics outside <root>/ the ingest must subscribe to as well (MQTT filters)
    subscriptions: tuple[str, ...] = ()
    # (settings, engine) -> the adapter's state, put in ParseContext.adapters[name] by the runtime
    configure: Callable[..., Any] | None = None


@dataclass(frozen=True)
class DocumentAdapter:
    name: str
    title: str
    unwrap: Callable[[dict], list]  # the document -> its entities (dicts; others are rejected)
    types: frozenset[str] = frozenset()  # top-level "type" values it unwraps
    keys: frozenset[str] = frozenset()  # or, for documents without "type", a top-level key


TOPIC_ADAPTERS: dict[str, TopicAdapter] = {}
DOCUMENT_ADAPTERS: dict[str, DocumentAdapter] = {}
# look-ups for the parser, rebuilt on each registration
DOCUMENT_BY_TYPE: dict[str, DocumentAdapter] = {}
DOCUMENT_BY_KEY: dict[str, DocumentAdapter] = {}


def register_topic_adapter(name: str, title: str, *, match: Callable, subscriptions: Iterable[str] = (),
                           configure: Callable | None = None):
    """Decorates the adapter's ``read`` function."""

    def decorate(read: Callable[..., list[Adapted]]):
        TOPIC_ADAPTERS[name] = TopicAdapter(name, title, match, read, tuple(subscriptions), configure)
        return read

    return decorate


def register_document_adapter(name: str, title: str, *, types: Iterable[str] = (), keys: Iterable[str] = ()):
    """Decorates the adapter's ``unwrap`` function."""

    def decorate(unwrap: Callable[[dict], list]):
        adapter = DocumentAdapter(name, title, unwrap, frozenset(types), frozenset(keys))
        DOCUMENT_ADAPTERS[name] = adapter
        DOCUMENT_BY_TYPE.update({kind: adapter for kind in adapter.types})
        DOCUMENT_BY_KEY.update({key: adapter for key in adapter.keys})
        return unwrap

    return decorate


def load_plugins() -> None:
    for module in PLUGINS:
        importlib.import_module(module)


def document_adapter_for(document: dict) -> DocumentAdapter | None:
    kind = document.get("type")
    if kind is not None:
        return DOCUMENT_BY_TYPE.get(kind) if type(kind) is str else None
    for key in DOCUMENT_BY_KEY:
        if key in document:
            return DOCUMENT_BY_KEY[key]
    return None


def topic_adapter_for(parts: list[str], root_parts: list[str]) -> tuple[TopicAdapter, Any] | None:
    for adapter in TOPIC_ADAPTERS.values():
        found = adapter.match(parts, root_parts)
        if found is not None:
            return adapter, found
    return None


def extra_subscriptions() -> list[str]:
    """MQTT topic filters outside ``<root>/#`` that registered adapters read."""
    return [topic for adapter in TOPIC_ADAPTERS.values() for topic in adapter.subscriptions]


def configure_all(settings, engine) -> dict[str, Any]:
    """Each adapter's state (provisioning, station lists), keyed by adapter name."""
    return {name: adapter.configure(settings, engine)
            for name, adapter in TOPIC_ADAPTERS.items() if adapter.configure is not None}

