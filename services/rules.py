"""Alarm rules: the rules file (config/rules.yaml), its validation, and the evaluation engine.

A rule is data (``Rule``): a metric, a comparison, a threshold (a number, or the device's own
registry value such as ``device.alert_level``), how long it must hold, a clearing threshold
(hysteresis) and how long that must hold, a severity and a scope. The file format is described
at the top of config/rules.yaml; ``parse_rules`` turns its text into a ``RuleSet`` or a
``Refused`` (``rules_refused``) listing every problem with its place (``rules[2].threshold: ...``).

``RuleEngine.react`` runs on the committed observations, on the leading ingest process, in the
transaction that moves the reactions' cursor (services/reactions.py). Rules are indexed by
entity type, so an observation only meets the rules that can match it. Durations use
observation times (dateObserved). State per (rule, device) exists only while a condition is
building up, holding or clearing; it is kept in memory and written to ``rule_states`` with the
alarms, so a restart or a new leader resumes it. The database is the truth for open alarms and
is re-read every few seconds (an operator's clear).
"""
from __future__ import annotations

import logging
import math
import operator
import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import yaml
from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from services.alarms import (
    SEVERITIES,
    SYSTEM_ACTOR,
    IncidentRequest,
    RaiseAlarm,
    Trigger,
    active_alarm_keys,
    clear_by_rule,
    clear_by_rule_in,
    escalate_due,
    open_incident_for_alarm,
)
from services.access.principal import Principal
from services.audit import record
from services.commands import Command, Refused
from services.db import session_scope
from services.devices import DEFAULT_INTERVAL_S, station_levels
from services.i18n import Said, Term, _, say
from services.models import Alarm, Device, RuleState, utcnow
from services.telemetry import ENTITY_SPECS, TELEMETRY_TYPES, ObservationIn
from services.vocabulary import duration, label

log = logging.getLogger("cityops.rules")

RULE_STATES = RuleState.__table__

OPS: dict[str, Callable[[float, float], bool]] = {">": operator.gt, ">=": operator.ge, "<": operator.lt,
                                                  "<=": operator.le}
OP_SYMBOLS = {">": ">", ">=": "≥", "<": "<", "<=": "≤"}
KINDS = ("threshold", "silence")
INCIDENT_MODES = ("none", "offer", "auto")
DEFAULT_MIN_RERAISE_S = 600.0
PLAYED_PAST_S = 10.0  # how long the rule engine trusts what it read of the demo's played past
RULE_KEYS = {
    "id", "name", "description", "kind", "entity_type", "metric", "per", "op", "threshold", "for",
    "clear_threshold", "clear_for", "severity", "scope", "escalate_after", "min_reraise", "incident",
    "incident_priority", "incident_category", "incident_sub_category", "category", "sub_category", "intervals",
    "enabled", "public", "advice",
}
DEFAULT_CATEGORY = {"AirQualityObserved": ("environment", "airPollution"), "FloodMonitoring": ("weather", "flood"),
                    "WaterObserved": ("weather", "flood"), "WeatherObserved": ("weather", "rainfall"),
                    "TrafficFlowObserved": ("traffic", "trafficJam")}


def rules_refused(problems: list[str]) -> Refused:
    """Every problem of a rules file, each with its place (``rules[2].threshold: ...``), in ``details``."""
    return Refused("invalid_rules", "; ".join(problems), Refused.INVALID, "rules", tuple(problems))


# ---------------------------------------------------------------- durations and thresholds

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(raw: Any) -> float:
    """Seconds from ``90``, ``"90s"``, ``"5m"``, ``"1h30m"``."""
    if isinstance(raw, bool):
        raise ValueError(_("a duration is a number of seconds or text like 90s, 5m, 1h"))
    if isinstance(raw, (int, float)):
        if raw < 0:
            raise ValueError(_("a duration cannot be negative"))
        return float(raw)
    text = str(raw).strip().lower().replace(" ", "")
    match = _DURATION.match(text)
    if not text or not match or not any(match.groups()):
        raise ValueError(_("{value} is not a duration (like 90s, 5m, 1h)", value=repr(raw)))
    hours, minutes, seconds = (float(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


_REF = re.compile(r"^(device\.[A-Za-z_]\w*|aqi\.unhealthy_level|-?\d+(?:\.\d+)?)(?:\s*([-+*])\s*(\d+(?:\.\d+)?))?$")


@dataclass(frozen=True)
class Ref:
    """A threshold: a number, ``device.<meta key>`` or ``aqi.unhealthy_level``, optionally ``+ - *`` a number."""

    text: str
    constant: float | None = None
    device_key: str | None = None
    adjust_op: str | None = None
    operand: float = 0.0

    @classmethod
    def parse(cls, raw: Any, unhealthy_level: int | None) -> "Ref":
        if isinstance(raw, bool) or raw is None:
            raise ValueError(_("a threshold is a number, device.<key> or aqi.unhealthy_level"))
        text = str(raw).strip()
        match = _REF.match(text)
        if not match:
            raise ValueError(_("{value} is not a number, device.<key> or aqi.unhealthy_level (optionally +, - or * n)",
                               value=repr(raw)))
        base, adjust_op, operand = match.groups()
        if base == "aqi.unhealthy_level":
            if unhealthy_level is None:
                raise ValueError(_("aqi.unhealthy_level needs services.aqi (not available)"))
            constant, device_key = float(unhealthy_level), None
        elif base.startswith("device."):
            constant, device_key = None, base[len("device."):]
        else:
            constant, device_key = float(base), None
        ref = cls(text, constant, device_key, adjust_op, float(operand or 0))
        if constant is not None:  # fold the adjustment once
            return cls(text, ref._adjust(constant), None)
        return ref

    def _adjust(self, value: float) -> float:
        if self.adjust_op == "+":
            return value + self.operand
        if self.adjust_op == "-":
            return value - self.operand
        if self.adjust_op == "*":
            return value * self.operand
        return value

    def resolve(self, meta: dict | None) -> float | None:
        if self.constant is not None:
            return self.constant
        raw = (meta or {}).get(self.device_key)
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            return None  # this device has no such registry value: the rule does not apply to it
        return self._adjust(float(raw))


# ---------------------------------------------------------------- metrics

WATER_LEVEL = ("currentLevel", "height", "waterLevel")


def _first_of(names: tuple[str, ...]) -> Callable[[dict], float | None]:
    if len(names) == 1:
        name = names[0]
        return lambda values: values.get(name)

    def read(values: dict) -> float | None:
        for name in names:
            value = values.get(name)
            if value is not None:
                return value
        return None

    return read


def _aqi_reader(standard: str, what: str) -> Callable[[dict], float | None]:
    from services.aqi import compute_aqi

    def read(values: dict) -> float | None:
        result = compute_aqi(values, standard)
        if result.index is None:
            return None
        return float(result.index if what == "index" else result.level)

    return read


@lru_cache(maxsize=64)
def aqi_floors(standard: str, index_needed: int) -> tuple[tuple[str, float], ...]:
    """For each pollutant, the largest concentration whose sub-index stays below ``index_needed``.

    AQI is the maximum of monotone sub-indices, so a reading with every pollutant at or below
    its floor cannot reach ``index_needed``: the engine skips the (costly) AQI for it.
    """
    from services.aqi import POLLUTANTS, sub_index

    floors = []
    for pollutant in POLLUTANTS:
        low, high = 0.0, 100_000.0
        if sub_index(pollutant, high, standard) < index_needed:
            floors.append((pollutant, high))
            continue
        if sub_index(pollutant, low, standard) >= index_needed:
            return ()  # every reading may reach it: no prefilter
        for _step in range(60):
            middle = (low + high) / 2
            if sub_index(pollutant, middle, standard) >= index_needed:
                high = middle
            else:
                low = middle
        floors.append((pollutant, low))
    return tuple(floors)


def _aqi_prefilter(standard: str, metric: str, op: str, threshold: float) -> Callable[[dict], bool] | None:
    """A cheap test that a reading may raise an ``aqi``/``aqi_level`` rule (``>``/``>=`` a constant)."""
    from services.aqi import category_for

    if op not in (">", ">="):
        return None
    needed = threshold if op == ">=" else threshold + 1  # indices and levels are integers
    needed = math.ceil(needed)
    if metric == "aqi_level":
        index_needed = next((i for i in range(0, 501) if category_for(i, standard)[0] >= needed), None)
        if index_needed is None:
            return lambda values: False
    else:
        index_needed = needed
    floors = aqi_floors(standard, int(index_needed))
    if not floors:
        return None

    def may_raise(values: dict) -> bool:
        for pollutant, floor in floors:
            value = values.get(pollutant)
            if value is not None and value > floor:
                return True
        return False

    return may_raise


DERIVED_METRICS: dict[str, Callable[[str], Callable[[dict], float | None]]] = {
    # name -> a factory taking the AQI standard and returning a reader of an observation's values
    "water_level": lambda standard: _first_of(WATER_LEVEL),
    "aqi": lambda standard: _aqi_reader(standard, "index"),
    "aqi_level": lambda standard: _aqi_reader(standard, "level"),
}


# ---------------------------------------------------------------- rules

@dataclass(frozen=True)
class Scope:
    district: str | None = None
    devices: frozenset[str] | None = None

    def matches(self, device_id: str, district: str | None) -> bool:
        if self.devices is not None and device_id not in self.devices:
            return False
        return self.district is None or self.district == district

    def describe(self) -> str:
        """The scope in words, in the reader's language (the Rules page)."""
        if self.devices is not None:
            return _("devices {devices}", devices=", ".join(sorted(self.devices)))
        return _("district {district}", district=self.district) if self.district else _("all devices")


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    kind: str
    entity_types: tuple[str, ...]
    severity: str
    category: str
    sub_category: str
    scope: Scope = Scope()
    description: str = ""
    metric: str = ""
    op: str = ">"
    threshold: Ref | None = None
    per: Ref | None = None
    for_s: float = 0.0
    clear_threshold: Ref | None = None
    clear_for_s: float = 0.0
    escalate_after_s: float | None = None
    min_reraise_s: float = DEFAULT_MIN_RERAISE_S
    incident: str = "none"
    incident_category: str | None = None
    incident_sub_category: str | None = None
    incident_priority: int = 3
    intervals: float = 3.0
    enabled: bool = True
    public: bool = False  # its alarms are public warnings: the kiosk shows them, with ``advice``
    advice: tuple[tuple[str, str], ...] = ()  # what to do, per language tag: (("en", "..."), ("zh", "..."))
    reader: Callable[[dict], float | None] | None = field(default=None, compare=False, repr=False)
    # a cheap "could this reading raise?" test, for costly derived metrics (the AQI)
    prefilter: Callable[[dict], bool] | None = field(default=None, compare=False, repr=False)

    @property
    def scoped(self) -> bool:
        return self.scope.district is not None or self.scope.devices is not None

    @property
    def raises(self) -> Callable[[float, float], bool]:
        return OPS[self.op]

    def measure(self, values: dict, meta: dict | None) -> float | None:
        value = self.reader(values)
        if value is None or self.per is None:
            return value
        divisor = self.per.resolve(meta)
        return value / divisor if divisor else None

    def clears(self, value: float, clear_threshold: float) -> bool:
        """Back past the clearing threshold (strictly): the other side of the hysteresis band."""
        return value < clear_threshold if self.op in (">", ">=") else value > clear_threshold

    def incident_request(self) -> IncidentRequest | None:
        if self.incident == "none" or not self.incident_category:
            return None
        return IncidentRequest(self.incident_category, self.incident_sub_category, self.incident_priority)

    def explain(self) -> str:
        """The rule in one line, in the reader's language, for the Rules page. The metric is named in words;
        thresholds stay as the rules file writes them (``device.alert_level``, ``aqi.unhealthy_level``)."""
        if self.kind == "silence":
            return _("no observation for {n} × the device's reporting interval", n=f"{self.intervals:g}")
        per = f" / {self.per.text}" if self.per else ""
        text = f"{label(self.metric)}{per} {OP_SYMBOLS[self.op]} {self.threshold.text}"
        if self.for_s:
            text = _("{condition} for {duration}", condition=text, duration=duration(self.for_s))
        clear = self.clear_threshold.text if self.clear_threshold else self.threshold.text
        if clear != self.threshold.text or self.clear_for_s:
            if self.clear_for_s:
                text = _("{condition}; clears once past {threshold} for {duration}", condition=text,
                         threshold=clear, duration=duration(self.clear_for_s))
            else:
                text = _("{condition}; clears once past {threshold}", condition=text, threshold=clear)
        return text


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    aqi_standard: str
    text: str = ""

    def __post_init__(self):
        by_type: dict[str, list[Rule]] = {}
        for rule in self.rules:
            if rule.enabled and rule.kind == "threshold":
                for entity_type in rule.entity_types:
                    by_type.setdefault(entity_type, []).append(rule)
        object.__setattr__(self, "by_type", {k: tuple(v) for k, v in by_type.items()})
        object.__setattr__(self, "by_id", {rule.id: rule for rule in self.rules})
        object.__setattr__(self, "silence", tuple(r for r in self.rules if r.enabled and r.kind == "silence"))

    def escalation_times(self) -> dict[str, float]:
        return {rule.id: rule.escalate_after_s for rule in self.rules if rule.escalate_after_s}


# ---------------------------------------------------------------- parsing and validation

def _aqi_module():
    try:
        from services import aqi
        return aqi
    except ImportError:
        return None


def extract_rule_names(fileobj, keywords, comment_tags, options):
    """Babel extractor (babel.cfg ``[rules: config/rules.yaml]``): the names operators read of the shipped
    rules, so the catalogue translates them; a name an administrator writes later shows as written."""
    document = yaml.safe_load(fileobj.read().decode("utf-8")) or {}
    for rule in document.get("rules") or []:
        if isinstance(rule, dict) and isinstance(rule.get("name"), str):
            yield 0, "_", rule["name"], [f"alarm rule {rule.get('id')}"]


def parse_rules(text: str, aqi_standard: str | None = None) -> RuleSet:
    """The rules of a YAML text; ``aqi_standard`` (CITYOPS_AQI_STANDARD) overrides the file's."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = _(" at line {line} column {column}", line=mark.line + 1, column=mark.column + 1) if mark else ""
        raise rules_refused([_("not valid YAML{where}: {problem}", where=where,
                                 problem=getattr(error, "problem", None) or error)]) from None
    if not isinstance(document, dict) or not isinstance(document.get("rules"), list):
        raise rules_refused([_("the file must be a mapping with a 'rules' list")])
    problems: list[str] = []
    unknown_top = set(document) - {"rules", "aqi_standard"}
    if unknown_top:
        problems.append(_("unknown top-level key(s): {keys}", keys=", ".join(sorted(map(str, unknown_top)))))
    aqi = _aqi_module()
    standard = aqi_standard or document.get("aqi_standard") or (aqi.DEFAULT_STANDARD if aqi else "us-epa-2024")
    if aqi is not None and standard not in aqi.STANDARDS:
        problems.append("aqi_standard: " + _("{value} is not one of {allowed}", value=repr(standard),
                                                 allowed=", ".join(aqi.STANDARDS)))
    unhealthy = aqi.UNHEALTHY_LEVEL.get(standard) if aqi else None
    rules, seen = [], set()
    for index, raw in enumerate(document["rules"]):
        place = f"rules[{index}]"
        if isinstance(raw, dict) and isinstance(raw.get("id"), str):
            place = f"rules[{index}] ({raw['id']})"
        rule_problems: list[str] = []
        rule = _parse_rule(raw, standard, unhealthy, lambda msg, p=place, out=rule_problems: out.append(f"{p}.{msg}"))
        if rule is not None and rule.id in seen:
            rule_problems.append(f"{place}.id: " + _("{id} is used twice", id=repr(rule.id)))
        problems += rule_problems
        if rule is not None and not rule_problems:
            seen.add(rule.id)
            rules.append(rule)
    if problems:
        raise rules_refused(problems)
    return RuleSet(tuple(rules), standard, text)


def _parse_rule(raw: Any, standard: str, unhealthy: int | None, problem: Callable[[str], None]) -> Rule | None:
    if not isinstance(raw, dict):
        problem(" " + _("a rule must be a mapping of keys to values"))
        return None
    for key in sorted(set(map(str, raw)) - RULE_KEYS):
        problem(f"{key}: " + _("unknown key (known: {keys})", keys=", ".join(sorted(RULE_KEYS))))

    def get(key, check, default=None):
        if key not in raw or raw[key] is None:
            return default
        try:
            return check(raw[key])
        except (ValueError, TypeError) as error:
            problem(f"{key}: {error}")
            return default

    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not re.fullmatch(r"[A-Za-z0-9][\w-]{0,63}", rule_id):
        problem("id: " + _("needs letters, digits, - or _ (at most 64)"))
        rule_id = None
    name = raw.get("name") if isinstance(raw.get("name"), str) and raw.get("name").strip() else None
    if name is None:
        problem("name: " + _("needs text"))
    kind = get("kind", lambda v: _one_of(v, KINDS), "threshold")
    types = get("entity_type", _entity_types, ())
    if not types:
        problem("entity_type: " + _("needs one or more of {allowed}", allowed=", ".join(sorted(TELEMETRY_TYPES))))
    severity = get("severity", lambda v: _one_of(v, SEVERITIES), None)
    if severity is None and "severity" not in raw:
        problem("severity: " + _("needs one of {allowed}", allowed=", ".join(SEVERITIES)))
    default_category = DEFAULT_CATEGORY.get(types[0] if types else "", ("infrastructure", "deviceOffline"))
    values = dict(
        description=get("description", str, ""),
        scope=get("scope", _scope, Scope()),
        escalate_after_s=get("escalate_after", parse_duration, None),
        min_reraise_s=get("min_reraise", parse_duration, DEFAULT_MIN_RERAISE_S),
        incident=get("incident", lambda v: _one_of(v, INCIDENT_MODES), "none"),
        incident_category=get("incident_category", str, None),
        incident_sub_category=get("incident_sub_category", str, None),
        incident_priority=get("incident_priority", _priority, 3),
        category=get("category", str, default_category[0]),
        sub_category=get("sub_category", str, default_category[1]),
        enabled=get("enabled", _boolean, True),
        public=get("public", _boolean, False),
        advice=get("advice", _advice, ()),
    )
    if values["public"] and not values["advice"]:
        problem("advice: " + _("a public rule says what to do, as text or per language ({example})",
                                example="{en: ..., zh: ...}"))
    if values["incident"] != "none" and not values["incident_category"]:
        problem("incident_category: " + _("needed when incident is offer or auto"))
    if kind == "silence":
        values["intervals"] = get("intervals", _positive, 3.0)
        for key in ("metric", "op", "threshold", "for", "clear_threshold", "clear_for", "per"):
            if key in raw:
                problem(f"{key}: " + _("a silence rule has no {key}", key=key))
    elif kind == "threshold":
        values.update(_threshold_parts(raw, types, standard, unhealthy, problem, get))
    if None in (rule_id, name, kind, severity) or not types:
        return None
    return Rule(id=rule_id, name=name.strip(), kind=kind, entity_types=types, severity=severity, **values)


def _threshold_parts(raw, types, standard, unhealthy, problem, get) -> dict:
    parts: dict = {}
    metric = raw.get("metric")
    names = tuple(metric) if isinstance(metric, list) else (metric,)
    if not names or not all(isinstance(n, str) and n for n in names):
        problem("metric: " + _("needs an attribute name, a list of them, or one of {allowed}",
                                allowed=", ".join(DERIVED_METRICS)))
        return parts
    known = {m.name for t in types for m in ENTITY_SPECS[t].measures}
    if len(names) == 1 and names[0] in DERIVED_METRICS:
        if names[0].startswith("aqi") and _aqi_module() is None:
            problem("metric: " + _("the aqi metrics need services.aqi, which is not available"))
            return parts
        if names[0].startswith("aqi") and set(types) != {"AirQualityObserved"}:
            problem("metric: " + _("aqi metrics apply to AirQualityObserved only"))
        parts["reader"] = DERIVED_METRICS[names[0]](standard)
    else:
        for name in names:
            if name not in known:
                problem("metric: " + _("{name} is not measured by {types} (known: {known}; derived: {derived})",
                                       name=repr(name), types=", ".join(types), known=", ".join(sorted(known)),
                                       derived=", ".join(DERIVED_METRICS)))
        parts["reader"] = _first_of(names)
    parts["metric"] = names[0] if len(names) == 1 else "|".join(names)
    op = raw.get("op")
    if op not in OPS:
        problem("op: " + _("needs one of {allowed}", allowed=", ".join(OPS)))
        return parts
    parts["op"] = op
    ref = lambda v: Ref.parse(v, unhealthy)  # noqa: E731
    if "threshold" not in raw:
        problem("threshold: " + _("needed"))
        return parts
    parts["threshold"] = get("threshold", ref, None)
    if parts["metric"] in ("aqi", "aqi_level") and parts["threshold"] is not None \
            and parts["threshold"].constant is not None:
        parts["prefilter"] = _aqi_prefilter(standard, parts["metric"], op, parts["threshold"].constant)
    parts["per"] = get("per", ref, None)
    parts["for_s"] = get("for", parse_duration, 0.0)
    parts["clear_threshold"] = get("clear_threshold", ref, parts["threshold"])
    parts["clear_for_s"] = get("clear_for", parse_duration, 0.0)
    threshold, clear = parts["threshold"], parts["clear_threshold"]
    if threshold is not None and clear is not None and threshold.constant is not None and clear.constant is not None:
        raising_up = op in (">", ">=")
        if (raising_up and clear.constant > threshold.constant) or (not raising_up and clear.constant < threshold.constant):
            problem("clear_threshold: " + (
                _("must be at or below the threshold for a {op} rule (hysteresis)", op=repr(op)) if raising_up
                else _("must be at or above the threshold for a {op} rule (hysteresis)", op=repr(op))))
    return parts


def _one_of(value, allowed) -> str:
    if value not in allowed:
        raise ValueError(_("{value} is not one of {allowed}", value=repr(value), allowed=", ".join(allowed)))
    return value


def _entity_types(value) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    for item in items:
        if item not in TELEMETRY_TYPES:
            raise ValueError(_("{value} is not one of {allowed}", value=repr(item),
                               allowed=", ".join(sorted(TELEMETRY_TYPES))))
    return tuple(dict.fromkeys(items))


def _scope(value) -> Scope:
    if not isinstance(value, dict) or not value:
        raise ValueError(_("scope is a mapping: {forms}", forms="{district: ...}, {device: ...} or {devices: [...]}"))
    unknown = set(value) - {"district", "device", "devices"}
    if unknown:
        raise ValueError(_("unknown scope key(s) {keys}; use district, device or devices",
                           keys=", ".join(map(str, unknown))))
    devices = None
    if "device" in value:
        devices = frozenset([str(value["device"])])
    if "devices" in value:
        if not isinstance(value["devices"], list) or not value["devices"]:
            raise ValueError(_("devices is a non-empty list of device ids"))
        devices = (devices or frozenset()) | frozenset(map(str, value["devices"]))
    district = value.get("district")
    if district is not None and not isinstance(district, str):
        raise ValueError(_("district is a district name"))
    return Scope(district=district, devices=devices)


def _priority(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4:
        raise ValueError(_("a priority is 1 (highest) .. 4"))
    return value


def _positive(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(_("needs a positive number"))
    return float(value)


def in_language(texts: tuple[tuple[str, str], ...], language: str) -> str:
    """A rule's text (its ``advice``) in ``language``, else English, else the first language given."""
    by_language = dict(texts)
    return by_language.get(language) or by_language.get("en") or next(iter(by_language.values()), "")


def _advice(value) -> tuple[tuple[str, str], ...]:
    """Text (English), or a mapping of language tags to text: {en: "Keep away from the river", zh: "..."}."""
    texts = {"en": value} if isinstance(value, str) else value
    if not isinstance(texts, dict) or not texts:
        raise ValueError(_("advice is text, or a mapping of language tags (en, zh) to text"))
    for language, text in texts.items():
        if not isinstance(language, str) or not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*", language):
            raise ValueError(_("{value} is not a language tag such as en or zh", value=repr(language)))
        if not isinstance(text, str) or not 1 <= len(text.strip()) <= 300:
            raise ValueError(_("advice in {language} needs text of 1-300 characters", language=language))
    return tuple((language, text.strip()) for language, text in texts.items())


def _boolean(value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(_("needs true or false"))
    return value


# ---------------------------------------------------------------- the rules file

class RulesFile:
    """The rules file of a process: read on demand, re-read when it changes (checked every few s)."""

    def __init__(self, path: Path, aqi_standard: str | None = None, check_every_s: float = 2.0):
        self.path = Path(path)
        self.aqi_standard = aqi_standard
        self.check_every_s = check_every_s
        self._lock = threading.Lock()
        self._ruleset: RuleSet | None = None
        self._mtime: float | None = None
        self._checked = 0.0
        self.error: str | None = None  # the last reload's problem (the previous rules stay in force)

    def current(self) -> RuleSet:
        now = time.monotonic()
        if self._ruleset is not None and now - self._checked < self.check_every_s:
            return self._ruleset
        with self._lock:
            self._checked = now
            try:
                mtime = self.path.stat().st_mtime_ns
            except FileNotFoundError:
                mtime = None
            if self._ruleset is None or mtime != self._mtime:
                self._reload(mtime)
            return self._ruleset

    def _reload(self, mtime) -> None:
        try:
            text = self.path.read_text(encoding="utf-8") if mtime is not None else "rules: []\n"
            self._ruleset = parse_rules(text, self.aqi_standard)
            self.error = None
            log.info("loaded %d alarm rule(s) from %s", len(self._ruleset.rules), self.path)
        except (Refused, OSError) as error:
            self.error = str(error)
            log.error("the rules file %s is not usable (%s); keeping the previous rules", self.path, error)
            if self._ruleset is None:
                self._ruleset = RuleSet((), self.aqi_standard or "us-epa-2024", "")
        self._mtime = mtime


@dataclass
class SaveRules(Command):
    """An administrator saves the rules file: validated first, written atomically, audited."""

    engine: Engine
    principal: Principal
    path: Path
    text: str
    aqi_standard: str | None = None
    ruleset: RuleSet | None = None
    permission = "rules.save"

    def check(self) -> None:
        if not isinstance(self.text, str):
            raise rules_refused(["the rules file is text"])
        if len(self.text) > 200_000:
            raise rules_refused(["the file is larger than 200 KB"])
        self.ruleset = parse_rules(self.text, self.aqi_standard)

    def run(self) -> RuleSet:
        engine, self.path = self.engine, Path(self.path)
        before = self.path.read_text(encoding="utf-8") if self.path.exists() else None
        with session_scope(engine) as session:
            record(session, self.principal.name, "rules.save", f"rules:{self.path.name}",
                   None if before is None else {"text": before}, {"text": self.text,
                                                                  "rules": [r.id for r in self.ruleset.rules]})
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(self.path.suffix + ".tmp")
            temporary.write_text(self.text, encoding="utf-8")
            os.replace(temporary, self.path)  # atomic: the ingest never reads half a file
        return self.ruleset


# ---------------------------------------------------------------- evaluation

@dataclass(frozen=True, slots=True)
class DeviceInfo:
    id: str
    type: str | None
    name: str | None
    district: str | None
    meta: dict | None
    interval_s: int | None
    lon: float | None
    lat: float | None


@dataclass(slots=True)
class _State:
    active: bool = False
    breach_since: datetime | None = None
    clear_since: datetime | None = None
    last_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class _Action:
    kind: str  # raise | clear
    rule: Rule
    device: DeviceInfo
    observation: ObservationIn
    value: float
    threshold: float | None
    started_at: datetime


@dataclass(frozen=True, slots=True)
class _Raised:
    rule: Rule
    alarm_id: int
    incident_id: int | None


class RuleEngine:
    """Evaluates the rules on committed observations and raises/clears alarms (the reactions'
    leader, services/reactions.py). The state of each (rule, device) whose condition is building
    up, holding or clearing is kept in memory and written to ``rule_states`` in the transaction
    that writes the alarms (and moves the reactions' cursor): a restart or a new leader resumes it."""

    def __init__(self, engine: Engine, rules: RulesFile, *, after_change: Callable[[], None] = lambda: None,
                 resync_s: float = 5.0, device_refresh_s: float = 300.0, runtime=None):
        self.engine = engine
        self.runtime = runtime
        self.rules = rules
        self.after_change = after_change
        self.resync_s = resync_s
        self.device_refresh_s = device_refresh_s
        self._states: dict[tuple[str, str], _State] = {}
        self._dirty: set[tuple[str, str]] = set()  # states changed since they were last written
        self._states_loaded = False
        self._changed = False  # an alarm was cleared (the Alert outbox has something to publish)
        self._devices: dict[str, DeviceInfo] = {}
        self._devices_loaded = 0.0
        # (device, entity type) -> the rules that apply to it (by type and scope) under the current rules
        self._applicable: dict[tuple[str, str], tuple[Rule, ...]] = {}
        self._synced = 0.0
        self._ruleset: RuleSet | None = None
        self._played: tuple[float | None, tuple[datetime, datetime, bool] | None] = (None, None)  # (read at, play)
        self._lock = threading.RLock()
        self._insert_state = (postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert)(RULE_STATES)
        self._upsert_state = self._insert_state.on_conflict_do_update(
            index_elements=["rule_id", "device_id"],
            set_={name: self._insert_state.excluded[name] for name in ("active", "breach_since", "clear_since",
                                                                        "last_at")})

    # ------------------------------------------------------------ reacting to committed observations

    def on_batch(self, result) -> None:
        """Evaluates observations in a transaction of their own (tests, tools, the rules bench)."""
        observations = result.stored_observations
        if not observations:
            return
        try:
            with session_scope(self.engine) as session:
                raised = self.react(session, observations)
        except Exception:
            self.forget()
            raise
        self.after_commit(raised)

    def react(self, session, observations: Sequence[ObservationIn]) -> list[_Raised]:
        """The alarms and rule states that follow from ``observations``, written in ``session``.
        If the caller's transaction does not commit, it must call ``forget()``."""
        with self._lock:
            if not self._states_loaded:
                self._load_states()
            actions = self.evaluate(list(observations))
            raised = self.apply_in(session, actions)
            self._write_states(session)
        return raised

    def after_commit(self, raised: list[_Raised]) -> None:
        """What follows a committed reaction: the Alert outbox, and the incidents of ``incident: auto``."""
        for item in raised:
            request = item.rule.incident_request()
            if item.rule.incident == "auto" and request and item.incident_id is None:
                try:
                    open_incident_for_alarm(self.engine, item.alarm_id, SYSTEM_ACTOR, request, self.runtime)
                except Exception as error:  # the alarm stands; the operator can still open it in one click
                    log.warning("alarm %s: could not open its incident automatically: %s", item.alarm_id, error)
        if raised or self._changed:
            self._changed = False
            self.after_change()

    def forget(self) -> None:
        """The transaction did not commit: the in-memory state goes back to the database's."""
        with self._lock:
            self._states, self._dirty, self._states_loaded, self._synced = {}, set(), False, 0.0

    def _load_states(self) -> None:
        with self.engine.connect() as connection:
            rows = connection.execute(select(RULE_STATES)).all()
        self._states = {(r.rule_id, r.device_id): _State(r.active, r.breach_since, r.clear_since, r.last_at)
                        for r in rows}
        self._dirty = set()
        self._states_loaded = True
        self._changed = False

    def _write_states(self, session) -> None:
        if not self._dirty:
            return
        upserts, deletes = [], []
        for key in self._dirty:
            state = self._states.get(key)
            if state is None:
                deletes.append({"r": key[0], "d": key[1]})
            else:
                upserts.append({"rule_id": key[0], "device_id": key[1], "active": state.active,
                                "breach_since": state.breach_since, "clear_since": state.clear_since,
                                "last_at": state.last_at})
        if deletes:
            session.execute(RULE_STATES.delete().where(RULE_STATES.c.rule_id == bindparam("r"),
                                                       RULE_STATES.c.device_id == bindparam("d")), deletes)
        if upserts:
            session.execute(self._upsert_state, upserts)
        self._dirty = set()

    def evaluate(self, observations: list[ObservationIn]) -> list[_Action]:
        """The state transitions of a batch, in observation time; the database is touched only to
        learn new devices and open alarms. Changed states are marked for ``_write_states``."""
        ruleset = self.rules.current()
        if ruleset is not self._ruleset:
            self._on_new_rules(ruleset)
        by_type = ruleset.by_type
        relevant = [o for o in observations if o.entity_type in by_type]
        if not relevant:
            return []
        self._maybe_resync()
        devices = self._device_infos({o.device_id for o in relevant})
        if len(relevant) > 1:
            relevant.sort(key=lambda o: o.observed_at)
        actions: list[_Action] = []
        states, dirty, applicable = self._states, self._dirty, self._applicable
        for observation in relevant:
            device = devices.get(observation.device_id)
            meta = station_levels(observation.values, device.meta if device else None)
            rules = applicable.get((observation.device_id, observation.entity_type))
            if rules is None:  # the rules of its type whose scope takes this device, once per device
                district = device.district if device else None
                rules = applicable[(observation.device_id, observation.entity_type)] = tuple(
                    rule for rule in by_type[observation.entity_type]
                    if not rule.scoped or rule.scope.matches(observation.device_id, district))
            for rule in rules:
                key = (rule.id, observation.device_id)
                state = states.get(key)
                if state is None and rule.prefilter is not None and not rule.prefilter(observation.values):
                    continue  # cannot raise: skip the costly metric
                value = rule.reader(observation.values) if rule.per is None else rule.measure(observation.values, meta)
                if value is None:
                    continue
                if state is None:
                    threshold = rule.threshold.resolve(meta)
                    if threshold is None or not rule.raises(value, threshold):
                        continue  # the common case: nothing to remember
                    state = states[key] = _State()
                dirty.add(key)
                self._step(rule, key, state, observation, device, meta, value, actions)
        return actions

    def _step(self, rule: Rule, key, state: _State, observation: ObservationIn, device: DeviceInfo | None,
              meta: dict, value: float, actions: list[_Action]) -> None:
        """``meta``: the device's registry values with the reading's own levels first (station_levels)."""
        at = observation.observed_at
        if state.last_at is not None and at < state.last_at:
            return  # a late, older reading does not move the state back in time
        if self._present_before_its_turn(state.last_at, at):
            return
        state.last_at = at
        device = device or DeviceInfo(observation.device_id, observation.entity_type, None, None, None, None,
                                      observation.lon, observation.lat)
        if not state.active:
            threshold = rule.threshold.resolve(meta)
            if threshold is not None and rule.raises(value, threshold):
                state.breach_since = state.breach_since or at
                if (at - state.breach_since).total_seconds() >= rule.for_s:
                    actions.append(_Action("raise", rule, device, observation, value, threshold, state.breach_since))
                    state.active, state.clear_since = True, None
            else:
                del self._states[key]
            return
        clear_threshold = rule.clear_threshold.resolve(meta)
        if clear_threshold is not None and rule.clears(value, clear_threshold):
            state.clear_since = state.clear_since or at
            if (at - state.clear_since).total_seconds() >= rule.clear_for_s:
                actions.append(_Action("clear", rule, device, observation, value, clear_threshold, state.clear_since))
                del self._states[key]
        else:
            state.clear_since = None

    def apply_in(self, session, actions: Iterable[_Action]) -> list[_Raised]:
        raised: list[_Raised] = []
        actions = list(actions)
        played = self._played_past(session) if actions else None
        for action in actions:
            rule, device = action.rule, action.device
            # a reading of the demo's played past raises and clears at its own moment, as it would have then
            moment = action.observation.observed_at
            at = moment if played is not None and played[0] <= moment < played[1] else None
            if action.kind == "clear":
                metric = alarm_metric(rule)
                text = say("back to {value} (clears past {threshold}) for {duration}",
                           value=Term("alarm_value", [metric, action.value]),
                           threshold=Term("alarm_value", [metric, action.threshold]),
                           duration=Term("duration", rule.clear_for_s))
                clear_by_rule_in(session, rule.id, device.id, action.value, text, at=at)
                self._changed = True
                continue
            description = say("{rule} at {device}: {value}", rule=Term("msgid", rule.name),
                              device=device.name or device.id,
                              value=Term("alarm_value", [alarm_metric(rule), action.value, action.threshold]))
            trigger = _trigger(rule, device, description, alarm_metric(rule), action.value, action.threshold,
                               action.started_at, action.observation.lon, action.observation.lat)
            outcome = RaiseAlarm(trigger).validate().run_in(session, at)
            drill = (action.observation.values or {}).get("drill")
            if drill and outcome.outcome == "new":  # raised from a drill's reading (services/drills.py)
                from services.drills import mark_alarm

                mark_alarm(session.connection(), outcome.alarm.id, drill)
            log.info("alarm %s (%s) on %s: %s", outcome.alarm.id, rule.id, device.id, outcome.outcome)
            raised.append(_Raised(rule, outcome.alarm.id, outcome.alarm.incident_id))
        return raised

    def _present_before_its_turn(self, last_at: datetime | None, at: datetime) -> bool:
        """Whether a reading of the present comes to a state of the demo's past while the past is still being
        played: its turn is after the whole past. Taken then, it moved the state's clock to the present and the
        past's next readings were older, passed over: an alarm raised in the past was never cleared there (two
        of the first three plays each left one or two active, which the past's later alarms then repeated)."""
        play = self._play() if last_at is not None else None
        return play is not None and not play[2] and last_at < play[1] <= at

    def _played_past(self, session) -> tuple[datetime, datetime] | None:
        """The window of the demo's played past (begun or finished), None without one."""
        play = self._play(session)
        return None if play is None else play[:2]

    def _play(self, session=None) -> tuple[datetime, datetime, bool] | None:
        """The demo's play of the past (services/simulator/history.py ``play_state``), read again after
        ``PLAYED_PAST_S`` (a play starts once)."""
        from services.simulator.history import play_state

        read_at, play = self._played
        if read_at is None or time.monotonic() - read_at > PLAYED_PAST_S:
            if session is None:
                with self.engine.connect() as connection:
                    play = play_state(connection)
            else:
                play = play_state(session)
            self._played = (time.monotonic(), play)
        return play

    # ------------------------------------------------------------ the scheduled silence check

    def check_silence(self, now: datetime | None = None) -> tuple[int, int]:
        """Raises the silence rules' alarms for devices that stopped reporting, clears those that
        came back. A device is silent when, for ``intervals`` x its reporting interval, it has
        neither sent a message nor made an observation (the later of the two counts, so a backlog
        being replayed with old timestamps does not make every device look silent). When more than
        half of the watched devices fall silent at once, the feed or the ingest is down, not the
        devices: no alarm storm, one warning in the log."""
        now = now or utcnow()
        ruleset = self.rules.current()
        raised = cleared = 0
        if not ruleset.silence:
            return raised, cleared
        active = active_alarm_keys(self.engine)
        types = sorted({t for rule in ruleset.silence for t in rule.entity_types})
        with self.engine.connect() as connection:
            rows = connection.execute(select(
                Device.id, Device.type, Device.name, Device.district, Device.meta, Device.interval_s, Device.lon,
                Device.lat, Device.last_observed_at, Device.last_received_at)
                .where(Device.type.in_(types), Device.last_observed_at.is_not(None))
            ).all()
        for rule in ruleset.silence:
            watched, to_raise = 0, []
            for row in rows:
                if row.type not in rule.entity_types or not rule.scope.matches(row.id, row.district):
                    continue
                watched += 1
                interval = row.interval_s or DEFAULT_INTERVAL_S.get(row.type, 60)
                limit = rule.intervals * interval
                last = max(row.last_observed_at, row.last_received_at or row.last_observed_at)
                silent_s = (now - last).total_seconds()
                is_open = (rule.id, row.id) in active
                if silent_s > limit and not is_open:
                    to_raise.append((row, silent_s, limit, interval, last))
                elif silent_s <= limit and is_open:
                    try:
                        clear_by_rule(self.engine, rule.id, row.id, round(silent_s, 1),
                                      say("{device} reports again", device=row.name or row.id))
                        cleared += 1
                    except Exception:
                        log.exception("silence rule %s on %s failed", rule.id, row.id)
            if len(to_raise) > max(5, watched // 2):
                log.warning("%d of %d devices fell silent at once: the feed or the ingest is down, not the devices; "
                            "no %s alarms raised", len(to_raise), watched, rule.id)
                continue
            for row, silent_s, limit, interval, last in to_raise:
                device = DeviceInfo(row.id, row.type, row.name, row.district, row.meta, row.interval_s, row.lon, row.lat)
                description = say("{rule}: no observation from {device} for {silent} (expected every {interval})",
                                  rule=Term("msgid", rule.name), device=row.name or row.id,
                                  silent=Term("duration", silent_s),
                                  interval=Term("duration", interval))
                try:
                    raise_for_rule(self.engine, rule, device, description, "silent_s", round(silent_s, 1), limit,
                                   last + timedelta(seconds=limit), row.lon, row.lat, self.runtime)
                    raised += 1
                except Exception:
                    log.exception("silence rule %s on %s failed", rule.id, row.id)
        if raised or cleared:
            self.after_change()
        return raised, cleared

    def escalate(self, now: datetime | None = None):
        escalated = escalate_due(self.engine, self.rules.current().escalation_times(), now)
        if escalated:
            self.after_change()
        return escalated

    # ------------------------------------------------------------ state kept in step with the database

    def _on_new_rules(self, ruleset: RuleSet) -> None:
        current = {rule.id: rule for rule in ruleset.rules}
        old = self._ruleset.by_id if self._ruleset else None
        for key in list(self._states):
            # a changed rule starts afresh (the DB says which alarms are open); on the first rules of
            # this process, the states written by the previous leader are kept for the rules that exist
            if key[0] not in current or (old is not None and current[key[0]] != old.get(key[0])):
                self._states.pop(key)
                self._dirty.add(key)
        self._ruleset = ruleset
        self._applicable = {}
        self._synced = 0.0

    def _maybe_resync(self) -> None:
        now = time.monotonic()
        if now - self._synced < self.resync_s:
            return
        self._synced = now
        active = active_alarm_keys(self.engine)
        for key, state in list(self._states.items()):
            if state.active and key not in active:
                del self._states[key]  # cleared by an operator: the condition must build up again
                self._dirty.add(key)
        threshold_rules = {rule_id for rule_id, rule in self._ruleset.by_id.items() if rule.kind == "threshold"}
        for key, started_at in active.items():
            if key[0] in threshold_rules:
                state = self._states.get(key)
                if state is None:  # raised before states were kept: older readings cannot clear it
                    self._states[key] = _State(active=True, last_at=started_at)
                    self._dirty.add(key)
                elif not state.active:
                    state.active, state.breach_since = True, None
                    self._dirty.add(key)

    def _device_infos(self, device_ids: set[str]) -> dict[str, DeviceInfo]:
        now = time.monotonic()
        if now - self._devices_loaded > self.device_refresh_s:
            self._devices = self._load_devices(None)
            self._devices_loaded = now
            self._applicable = {}  # a device may have moved to another district
        missing = [d for d in device_ids if d not in self._devices]
        if missing:
            self._devices.update(self._load_devices(missing))
        return self._devices

    def _load_devices(self, ids: list[str] | None) -> dict[str, DeviceInfo]:
        query = select(Device.id, Device.type, Device.name, Device.district, Device.meta, Device.interval_s,
                       Device.lon, Device.lat)
        found: dict[str, DeviceInfo] = {}
        with self.engine.connect() as connection:
            for chunk in ([None] if ids is None else [ids[i:i + 500] for i in range(0, len(ids), 500)]):
                rows = connection.execute(query if chunk is None else query.where(Device.id.in_(chunk)))
                for row in rows:
                    found[row.id] = DeviceInfo(row.id, row.type, row.name, row.district, row.meta, row.interval_s,
                                               row.lon, row.lat)
        return found


def alarm_metric(rule: Rule) -> str:
    """What an alarm's value is (services/vocabulary.py alarm_value shows it in its units): the rule's
    metric, or ``metric/divisor`` for a rule with ``per`` (its value is then a ratio)."""
    return f"{rule.metric}/{rule.per.text.replace('device.', '')}" if rule.per else rule.metric


def _trigger(rule: Rule, device: DeviceInfo, description: Said, metric: str, value: float | None,
             threshold: float | None, started_at: datetime, lon, lat) -> Trigger:
    return Trigger(
        rule_id=rule.id, rule_name=rule.name, device_id=device.id, device_type=device.type,
        device_name=device.name, district=device.district, category=rule.category, sub_category=rule.sub_category,
        severity=rule.severity, description=description.english, said=description, metric=metric, value=value,
        threshold=threshold,
        lon=lon if lon is not None else device.lon, lat=lat if lat is not None else device.lat,
        started_at=started_at, min_reraise_s=rule.min_reraise_s,
    )


def raise_for_rule(engine: Engine, rule: Rule, device: DeviceInfo, description: Said, metric: str,
                   value: float | None, threshold: float | None, started_at: datetime, lon, lat, runtime=None):
    """Raises (or counts, or re-activates) the alarm of a rule on a device; opens its incident
    when the rule says ``incident: auto``."""
    trigger = _trigger(rule, device, description, metric, value, threshold, started_at, lon, lat)
    outcome = RaiseAlarm(trigger).validate().run(engine)
    request = rule.incident_request()
    if rule.incident == "auto" and request and outcome.alarm.incident_id is None:
        try:
            open_incident_for_alarm(engine, outcome.alarm.id, SYSTEM_ACTOR, request, runtime)
        except Exception as error:  # the alarm stands; the operator can still open it in one click
            log.warning("alarm %s: could not open its incident automatically: %s", outcome.alarm.id, error)
    return outcome


# ---------------------------------------------------------------- wiring into the ingest role

class AlarmService:
    """The alarms of one ingest process: the rules file, the engine, the Alert publisher."""

    def __init__(self, runtime):
        settings = runtime.settings
        self.runtime = runtime  # held, so the registry key (its id) is never reused while alive
        self.rules = RulesFile(settings.rules_file, settings.aqi_standard)
        from services.alarms_publish import AlertPublisher

        self.publisher = AlertPublisher(settings, runtime.engine)
        self.engine = RuleEngine(runtime.engine, self.rules, after_change=self.publish, runtime=runtime)

    def publish(self) -> None:
        try:
            self.publisher.flush()
        except Exception:  # the broker or database is away: the outbox keeps it for the next flush
            log.exception("publishing alerts failed")

    def schedule(self, scheduler, when: Callable[[], bool] = lambda: True) -> None:
        """The jobs that must run once however many ingest processes run: ``when`` says whether
        this process leads (services/reactions.py)."""
        every = float(os.environ.get("CITYOPS_SILENCE_CHECK_S") or 15)
        for job, seconds, job_id in ((self.engine.check_silence, every, "alarms-silence"),
                                     (self.engine.escalate, 10, "alarms-escalation"),
                                     (self.open_missing_incidents, 10, "alarms-auto-incidents"),
                                     (self.publish, 2, "alarms-publish")):
            scheduler.add_job(_when(when, job), "interval", seconds=seconds, id=job_id)

    def open_missing_incidents(self) -> int:
        """``incident: auto`` alarms whose incident was not opened (the process stopped between the
        alarm's commit and the incident's): opened now, once (open_incident_for_alarm claims it)."""
        auto = {rule.id: rule for rule in self.rules.current().rules if rule.incident == "auto"}
        if not auto:
            return 0
        with self.runtime.engine.connect() as connection:
            rows = connection.execute(select(Alarm.id, Alarm.rule_id).where(
                Alarm.active.is_(True), Alarm.incident_id.is_(None), Alarm.incident_requested.is_(False),
                Alarm.rule_id.in_(sorted(auto)))).all()
        opened = 0
        for alarm_id, rule_id in rows:
            request = auto[rule_id].incident_request()
            if request is None:
                continue
            try:
                open_incident_for_alarm(self.runtime.engine, alarm_id, SYSTEM_ACTOR, request, self.runtime)
                opened += 1
            except Exception as error:
                log.warning("alarm %s: could not open its incident automatically: %s", alarm_id, error)
        return opened

    def close(self) -> None:
        self.publisher.close()
        _services.pop(id(self.runtime), None)


_services: dict[int, AlarmService] = {}
_services_lock = threading.Lock()


def alarm_service(runtime) -> AlarmService:
    with _services_lock:
        service = _services.get(id(runtime))
        if service is None:
            service = _services[id(runtime)] = AlarmService(runtime)
        return service


def _when(condition: Callable[[], bool], job: Callable[[], Any]) -> Callable[[], Any]:
    def run_if():
        if condition():
            return job()
        return None

    run_if.__name__ = getattr(job, "__name__", "job")
    return run_if


def schedule_alarm_jobs(scheduler, runtime, when: Callable[[], bool] = lambda: True) -> None:
    """start_scheduler: silence check, escalation, missed auto-incidents and the Alert outbox,
    run by the leading ingest process only (``when``)."""
    alarm_service(runtime).schedule(scheduler, when)
