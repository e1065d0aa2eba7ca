"""The KPI catalogue as data (config/kpis.yaml, setting CITYOPS_KPIS_FILE): one entry per KPI.

``load_catalogue(path)`` reads the file into frozen ``Kpi`` entries, checked all at once: every
problem is listed with its place (``kpis[3].measure: no measure registered as 'x'``) in one
``CatalogueError``. Adding a KPI is one entry here and one registered measure
(services/kpis/registry.py), never a new code path.
"""
from __future__ import annotations

import importlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import yaml

from services.kpis.registry import MEASURES

log = logging.getLogger("cityops.kpis")

DIMENSIONS = ("emergency", "service", "mobility", "environment", "flood", "operations")
DIRECTIONS = ("lower", "higher")
SOURCES = ("observations", "incidents", "requests", "alarms", "devices")
LANGUAGES = ("en", "zh")
FIELDS = {"key", "label", "dimension", "unit", "direction", "measure", "params", "method", "standard", "target",
          "sources", "districts"}
_KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")  # dimension.name, as in the contract


class CatalogueError(ValueError):
    """The catalogue cannot be used; ``problems`` lists each with its place."""

    def __init__(self, path: str, problems: list[str]):
        super().__init__(f"{path}: " + "; ".join(problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class Kpi:
    key: str
    label: Mapping[str, str]
    dimension: str
    unit: str
    direction: str  # lower | higher: which way is better
    measure: str
    params: Mapping[str, Any] = field(default_factory=dict)
    method: Mapping[str, str] = field(default_factory=dict)
    standard: str = ""
    target: float | None = None
    sources: tuple[str, ...] = ()
    districts: bool = True  # computed per district as well as city-wide

    def label_in(self, locale: str | None) -> str:
        return _in(self.label, locale)

    def method_in(self, locale: str | None) -> str:
        return _in(self.method, locale)

    @property
    def lower_is_better(self) -> bool:
        return self.direction == "lower"


def _in(texts: Mapping[str, str], locale: str | None) -> str:
    language = (locale or "en").replace("-", "_").split("_")[0].lower()
    return texts.get(language) or texts.get("en") or ""


@dataclass(frozen=True)
class Catalogue:
    kpis: tuple[Kpi, ...] = ()

    def __iter__(self) -> Iterator[Kpi]:
        return iter(self.kpis)

    def __len__(self) -> int:
        return len(self.kpis)

    def __contains__(self, key: object) -> bool:
        return key in self.by_key

    @property
    def by_key(self) -> dict[str, Kpi]:
        return {kpi.key: kpi for kpi in self.kpis}

    @property
    def by_dimension(self) -> dict[str, tuple[Kpi, ...]]:
        return {dimension: tuple(kpi for kpi in self.kpis if kpi.dimension == dimension)
                for dimension in DIMENSIONS if any(kpi.dimension == dimension for kpi in self.kpis)}

    def get(self, key: str) -> Kpi | None:
        return self.by_key.get(key)


def registered_measures() -> Mapping[str, Any]:
    """Every measure, once the measures package (services/kpis/measures/) has registered them."""
    try:
        importlib.import_module("services.kpis.measures")
    except ModuleNotFoundError as error:
        if error.name != "services.kpis.measures":
            raise
    return MEASURES


def load_catalogue(path: Path | str, measures: Mapping[str, Any] | None = None) -> Catalogue:
    """The catalogue in ``path``, or CatalogueError listing every problem."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise CatalogueError(str(path), [f"cannot be read: {error.strerror or error}"]) from None
    except yaml.YAMLError as error:
        raise CatalogueError(str(path), [f"is not YAML: {error}"]) from None
    return parse_catalogue(raw, registered_measures() if measures is None else measures, str(path))


def parse_catalogue(raw: Any, measures: Mapping[str, Any], where: str = "catalogue") -> Catalogue:
    if not isinstance(raw, dict) or not isinstance(raw.get("kpis"), list):
        raise CatalogueError(where, ["must be a mapping with a list 'kpis'"])
    problems: list[str] = []
    kpis: list[Kpi] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw["kpis"]):
        place = f"kpis[{index}]"
        if not isinstance(entry, dict):
            problems.append(f"{place}: must be a mapping")
            continue
        place = f"kpis[{index}] ({entry.get('key')})" if isinstance(entry.get("key"), str) else place
        found = _entry_problems(entry, measures)
        problems.extend(f"{place}.{problem}" for problem in found)
        key = entry.get("key")
        if isinstance(key, str) and key in seen:
            problems.append(f"{place}.key: {key!r} is used twice")
        seen.add(key if isinstance(key, str) else "")
        if not found:
            kpis.append(_kpi(entry))
    if problems:
        raise CatalogueError(where, problems)
    return Catalogue(tuple(kpis))


def _entry_problems(entry: dict, measures: Mapping[str, Any]) -> list[str]:
    problems = [f"{name}: unknown field" for name in sorted(set(entry) - FIELDS)]
    for name in ("key", "label", "dimension", "unit", "direction", "measure"):
        if entry.get(name) in (None, ""):
            problems.append(f"{name}: missing")
    key = entry.get("key")
    if key is not None and not (isinstance(key, str) and _KEY.match(key)):
        problems.append(f"key: {key!r} is not a key like 'emergency.total_response_p90'")
    for name, known in (("dimension", DIMENSIONS), ("direction", DIRECTIONS)):
        value = entry.get(name)
        if value is not None and value not in known:
            problems.append(f"{name}: unknown {name} {value!r} (one of {', '.join(known)})")
    measure = entry.get("measure")
    if measure is not None and measure not in measures:
        problems.append(f"measure: no measure registered as {measure!r}")
    for name in ("label", "method"):
        texts = entry.get(name)
        if texts is None and name == "method":
            problems.append("method: missing")
        elif texts is not None and not (isinstance(texts, dict) and all(
                isinstance(texts.get(language), str) and texts[language].strip() for language in LANGUAGES)):
            problems.append(f"{name}: must give the text in {' and '.join(LANGUAGES)}")
    if entry.get("unit") is not None and not isinstance(entry["unit"], str):
        problems.append("unit: must be text")
    sources = entry.get("sources", [])
    if not isinstance(sources, list) or not sources:
        problems.append(f"sources: a list of what recomputes it ({', '.join(SOURCES)})")
    else:
        problems.extend(f"sources: unknown source {source!r} (one of {', '.join(SOURCES)})"
                        for source in sources if source not in SOURCES)
    target = entry.get("target")
    if target is not None and (isinstance(target, bool) or not isinstance(target, (int, float))):
        problems.append(f"target: must be a number or null, not {target!r}")
    if not isinstance(entry.get("params", {}) or {}, dict):
        problems.append("params: must be a mapping")
    if not isinstance(entry.get("districts", True), bool):
        problems.append("districts: must be true or false")
    return problems


def _kpi(entry: dict) -> Kpi:
    target = entry.get("target")
    return Kpi(key=entry["key"], label=dict(entry["label"]), dimension=entry["dimension"], unit=entry["unit"],
               direction=entry["direction"], measure=entry["measure"], params=dict(entry.get("params") or {}),
               method=dict(entry["method"]), standard=str(entry.get("standard") or ""),
               target=None if target is None else float(target), sources=tuple(entry["sources"]),
               districts=entry.get("districts", True))


_cache: dict[Path, tuple[float, Catalogue]] = {}


def catalogue_of(settings) -> Catalogue:
    """The catalogue of CITYOPS_KPIS_FILE, read again when the file changes. A missing file is an
    empty catalogue (logged once): nothing to compute, nothing shown."""
    path = Path(settings.kpis_file)
    try:
        modified = path.stat().st_mtime
    except FileNotFoundError:
        if path not in _cache:
            log.warning("no KPI catalogue at %s: no KPI is computed", path)
            _cache[path] = (-1.0, Catalogue())
        return _cache[path][1]
    cached = _cache.get(path)
    if cached is None or cached[0] != modified:
        _cache[path] = (modified, load_catalogue(path))
    return _cache[path][1]


def current_catalogue() -> Catalogue:
    """The catalogue of this process (its runtime's settings, else the environment's)."""
    from services import runtime
    from services.config import Settings

    try:
        settings = runtime.current().settings
    except RuntimeError:
        settings = Settings.from_env()
    return catalogue_of(settings)
