"""Foreign feed formats register here, as map layers do in services/layers.py.

CityOps reads Smart Data Models entities on its own topics (SPEC section 4). A city's other
feeds come in other shapes: a FIWARE context broker's notifications, IoT Agent devices, a
national road-weather service. Each such format is one module of this package that registers
an adapter; ``services.telemetry.parse_message`` consults the registry, and everything an
adapter hands back is parsed, validated and kept (or rejected with its reason) exactly like
CityOps's own messages. docs/ADAPTERS.md says how a city adds its own.

Two kinds:
- a **topic adapter** reads the messages of topics CityOps does not read itself (IoT Agent
  devices' ``/<apikey>/<device>/attrs``, ``<root>/digitraffic/...``, ``/hfp/...``). It is asked
  only after the built-in routes have not matched, so the normal ``<root>/telemetry/<id>`` path
  never pays for it. An adapter names the topic level it reads (``level="hfp"`` for
  ``/hfp/...``, ``level="digitraffic", under_root=True`` for ``<root>/digitraffic/...``): a
  topic is then offered only to the adapters of its first level, found with one dictionary
  look-up however many adapters there are; an adapter without a level (topics whose first level
  is a device's apikey) is asked after them.
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
    "services.adapters.digitraffic_tms",
    "services.adapters.hsl_hfp",
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
    # the topic's first level it reads ("hfp" for /hfp/..., with under_root for <root>/<level>/...);
    # None: any topic (asked after the adapters of the topic's level)
    level: str | None = None
    under_root: bool = False


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
# (under the root?, first level) -> the topic adapters of that level; then those of no level
TOPIC_BY_LEVEL: dict[tuple[bool, str], tuple[TopicAdapter, ...]] = {}
TOPIC_ANY_LEVEL: tuple[TopicAdapter, ...] = ()


def register_topic_adapter(name: str, title: str, *, match: Callable, subscriptions: Iterable[str] = (),
                           configure: Callable | None = None, level: str | None = None, under_root: bool = False):
    """Decorates the adapter's ``read`` function."""

    def decorate(read: Callable[..., list[Adapted]]):
        TOPIC_ADAPTERS[name] = TopicAdapter(name, title, match, read, tuple(subscriptions), configure, level,
                                            under_root)
        _index_topic_adapters()
        return read

    return decorate


def unregister_topic_adapter(name: str) -> None:
    TOPIC_ADAPTERS.pop(name, None)
    _index_topic_adapters()


def _index_topic_adapters() -> None:
    global TOPIC_ANY_LEVEL
    by_level: dict[tuple[bool, str], list[TopicAdapter]] = {}
    for adapter in TOPIC_ADAPTERS.values():
        if adapter.level is not None:
            by_level.setdefault((adapter.under_root, adapter.level), []).append(adapter)
    TOPIC_BY_LEVEL.clear()
    TOPIC_BY_LEVEL.update({key: tuple(found) for key, found in by_level.items()})
    TOPIC_ANY_LEVEL = tuple(adapter for adapter in TOPIC_ADAPTERS.values() if adapter.level is None)


def register_document_adapter(name: str, title: str, *, types: Iterable[str] = (), keys: Iterable[str] = ()):
    """Decorates the adapter's ``unwrap`` function."""

    def decorate(unwrap: Callable[[dict], list]):
        adapter = DocumentAdapter(name, title, unwrap, frozenset(types), frozenset(keys))
        DOCUMENT_ADAPTERS[name] = adapter
        DOCUMENT_BY_TYPE.update({kind: adapter for kind in adapter.types})
        DOCUMENT_BY_KEY.update({key: adapter for key in adapter.keys})
        return unwrap

    return decorate


_plugins_loaded = False


def load_plugins() -> None:
    """Imports the plug-ins once, when the registry is first consulted: not when services.telemetry
    is imported, since the plug-ins import it (so any of them may be imported first)."""
    global _plugins_loaded
    if not _plugins_loaded:
        for module in PLUGINS:
            importlib.import_module(module)
        _plugins_loaded = True


def document_adapter_for(document: dict) -> DocumentAdapter | None:
    if not _plugins_loaded:
        load_plugins()
    kind = document.get("type")
    if kind is not None:
        return DOCUMENT_BY_TYPE.get(kind) if type(kind) is str else None
    for key in DOCUMENT_BY_KEY:
        if key in document:
            return DOCUMENT_BY_KEY[key]
    return None


def topic_level(parts: list[str], root_parts: list[str]) -> tuple[bool, str]:
    """(under the root?, the topic's first level there): ``city/digitraffic/...`` -> (True,
    "digitraffic"); ``/hfp/v2/...`` -> (False, "hfp")."""
    depth = len(root_parts)
    if len(parts) > depth and parts[:depth] == root_parts:
        return True, parts[depth]
    return False, parts[1] if len(parts) > 1 and parts[0] == "" else parts[0]


def topic_adapter_for(parts: list[str], root_parts: list[str]) -> tuple[TopicAdapter, Any] | None:
    load_plugins()
    for adapter in (*TOPIC_BY_LEVEL.get(topic_level(parts, root_parts), ()), *TOPIC_ANY_LEVEL):
        found = adapter.match(parts, root_parts)
        if found is not None:
            return adapter, found
    return None


def adapters_of_level(parts: list[str], root_parts: list[str]) -> tuple[TopicAdapter, ...]:
    """The adapters that read the topic's first level (to say, when none took it, which do)."""
    load_plugins()
    return TOPIC_BY_LEVEL.get(topic_level(parts, root_parts), ())


def extra_subscriptions() -> list[str]:
    """MQTT topic filters outside ``<root>/#`` that registered adapters read."""
    load_plugins()
    return [topic for adapter in TOPIC_ADAPTERS.values() for topic in adapter.subscriptions]


def configure_all(settings, engine) -> dict[str, Any]:
    """Each adapter's state (provisioning, station lists), keyed by adapter name."""
    load_plugins()
    return {name: adapter.configure(settings, engine)
            for name, adapter in TOPIC_ADAPTERS.items() if adapter.configure is not None}

