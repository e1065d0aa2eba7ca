"""The service catalogue and the departments as data (config/services.yaml, config/departments.yaml).

``parse_catalogue`` turns the two texts into a ``Catalogue`` or a ``Refused`` listing every
problem with its place (``services[3].department: ...``), like the rules file
(services/rules.py). ``CatalogueFiles`` re-reads the files when they change; ``SaveCatalogue``
is the administrator's edit, validated first, written atomically, audited.
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from datetime import time as clock_time
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy.engine import Engine

from services.access.principal import Principal
from services.audit import record
from services.commands import Command, Refused
from services.db import session_scope
from services.i18n import Term, _
from services.incidents import CATEGORIES

log = logging.getLogger("cityops.requests")

UNCLASSIFIED = "unclassified"  # the queue of requests whose service_code the catalogue does not know
_ID = re.compile(r"^[A-Za-z0-9][\w-]{0,31}$")
_LIMIT = re.compile(r"^(\d+(?:\.\d+)?)\s*(m|h|d)$")
_INCIDENT = re.compile(r"^(\w+)/(\w+)\s+P([1-4])$")
SERVICE_KEYS = {"code", "name", "department", "time_limit", "response", "resolution", "emergency", "incident",
                "aliases", "group", "keywords", "description"}
TOP_KEYS = {"time_limits", "due_soon", "duplicates", "assign_on_receipt", "services"}


def catalogue_refused(problems: list[str]) -> Refused:
    return Refused("invalid_catalogue", "; ".join(problems), Refused.INVALID, "catalogue", tuple(problems))


@dataclass(frozen=True)
class TimeLimit:
    """Elapsed time (``30m``, ``24h``), or calendar days in the site time zone (``7d``: due by the
    end of the 7th day after the day the clock started, local time)."""

    text: str
    seconds: float | None = None
    days: int | None = None

    @classmethod
    def parse(cls, raw: Any) -> "TimeLimit":
        match = _LIMIT.match(str(raw).strip().lower()) if not isinstance(raw, bool) else None
        if not match or float(match.group(1)) <= 0:
            raise ValueError(_("{value} is not a time limit (like 30m, 2h, 24h, 7d)", value=repr(raw)))
        number, unit = float(match.group(1)), match.group(2)
        if unit == "d":
            if not number.is_integer():
                raise ValueError(_("{value}: days are whole days", value=repr(raw)))
            return cls(str(raw), days=int(number))
        return cls(str(raw), seconds=number * (60 if unit == "m" else 3600))

    def due(self, start: datetime, zone: str) -> datetime:
        """The deadline of a clock started at ``start`` (aware), in UTC."""
        if self.seconds is not None:
            return (start + timedelta(seconds=self.seconds)).astimezone(timezone.utc)
        tz = ZoneInfo(zone)
        local_day = start.astimezone(tz).date() + timedelta(days=self.days + 1)
        return datetime.combine(local_day, clock_time(0), tzinfo=tz).astimezone(timezone.utc)

    @property
    def nominal_seconds(self) -> float:
        return self.seconds if self.seconds is not None else self.days * 86400.0


@dataclass(frozen=True)
class Department:
    id: str
    name_en: str
    name_zh: str
    phone: str | None = None

    def as_json(self) -> dict:
        return {"id": self.id, "name": {"en": self.name_en, "zh": self.name_zh}, "phone": self.phone}


@dataclass(frozen=True)
class IncidentMapping:
    category: str
    sub_category: str
    priority: int


@dataclass(frozen=True)
class Service:
    code: str
    name_en: str
    name_zh: str
    department: str
    time_limit: str  # the class's name
    response: TimeLimit
    resolution: TimeLimit
    emergency: bool = False
    incident: IncidentMapping | None = None
    aliases: tuple[str, ...] = ()
    group: str | None = None
    keywords: str | None = None
    description: str | None = None

    @property
    def name(self) -> str:
        return self.name_en

    @property
    def term(self) -> Term:
        """The service in a recorded text (services/i18n.py), named in the reader's language when shown."""
        return Term("name", {"en": self.name_en, "zh": self.name_zh})

    def georeport(self) -> dict:
        """An entry of Open311 GET services.json."""
        return {"service_code": self.code, "service_name": self.name_en,
                "description": self.description or self.name_en, "metadata": False, "type": "realtime",
                "keywords": self.keywords or ", ".join((self.name_zh,) + self.aliases), "group": self.group or ""}


@dataclass(frozen=True)
class Catalogue:
    services: tuple[Service, ...]
    departments: tuple[Department, ...]
    due_soon: float = 0.25
    duplicate_distance_m: float = 150.0
    duplicate_within: timedelta = timedelta(hours=48)
    assign_on_receipt: bool = False
    services_text: str = ""
    departments_text: str = ""
    time_limits: dict = field(default_factory=dict, compare=False)  # class name -> (response, resolution)
    _by_code: dict = field(default_factory=dict, repr=False, compare=False)
    _by_alias: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        for service in self.services:
            self._by_code[service.code] = service
            self._by_code.setdefault(service.code.lower(), service)
            for alias in (service.name_en, service.name_zh) + service.aliases:
                self._by_alias.setdefault(alias.strip().lower(), service)

    def service_for(self, code: str | None, name: str | None = None) -> Service | None:
        """The service a request names by its code (or, from older feeds, its name); None: unclassified."""
        code = (code or "").strip()
        found = self._by_code.get(code) or self._by_code.get(code.lower())
        return found or self._by_alias.get((name or "").strip().lower())

    def service(self, code: str) -> Service | None:
        return self._by_code.get(code)

    def department(self, department_id: str | None) -> Department | None:
        return next((d for d in self.departments if d.id == department_id), None)

    def department_term(self, department_id: str | None) -> Term:
        """A department in a recorded text: its id in English (as the facts have always said it), its name in
        Chinese."""
        department = self.department(department_id)
        return Term("name", {"en": department_id, "zh": department.name_zh if department else None})

    @property
    def default_limits(self) -> tuple[TimeLimit, TimeLimit]:
        """The clocks of an unclassified request: the "general" class (else the first)."""
        if "general" in self.time_limits:
            return self.time_limits["general"]
        return next(iter(self.time_limits.values()), (TimeLimit("24h", seconds=86400.0), TimeLimit("7d", days=7)))

    @property
    def work_order_services(self) -> tuple[Service, ...]:
        return tuple(s for s in self.services if not s.emergency)


# ---------------------------------------------------------------- parsing and validation

def _load_yaml(text: str, what: str, problems: list[str]) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = _(" at line {line} column {column}", line=mark.line + 1, column=mark.column + 1) if mark else ""
        problems.append(f"{what}: " + _("not valid YAML{where}: {problem}", where=where,
                                         problem=getattr(error, "problem", None) or error))
        return None


def _names(raw: Any, problem: Callable[[str], None]) -> tuple[str, str]:
    if not isinstance(raw, dict) or not all(isinstance(raw.get(k), str) and raw[k].strip() for k in ("en", "zh")):
        problem("name: " + _("needs {form}, both as text", form="{en: ..., zh: ...}"))
        return "", ""
    return raw["en"].strip(), raw["zh"].strip()


def parse_departments(text: str, problems: list[str]) -> tuple[Department, ...]:
    document = _load_yaml(text, "departments.yaml", problems)
    if document is None and problems:
        return ()
    if not isinstance(document, dict) or not isinstance(document.get("departments"), list):
        problems.append("departments.yaml: " + _("must be a mapping with a 'departments' list"))
        return ()
    departments, seen = [], set()
    for index, raw in enumerate(document["departments"]):
        place = f"departments[{index}]"
        problem = lambda msg, p=place: problems.append(f"{p}.{msg}")  # noqa: E731
        if not isinstance(raw, dict):
            problem(" " + _("a department is a mapping"))
            continue
        for key in sorted(set(map(str, raw)) - {"id", "name", "phone"}):
            problem(f"{key}: " + _("unknown key (known: {keys})", keys="id, name, phone"))
        department_id = raw.get("id")
        if not isinstance(department_id, str) or not _ID.match(department_id):
            problem("id: " + _("needs letters, digits, - or _ (at most 32)"))
            continue
        if department_id in seen:
            problem("id: " + _("{id} is used twice", id=repr(department_id)))
        seen.add(department_id)
        en, zh = _names(raw.get("name"), problem)
        phone = raw.get("phone")
        departments.append(Department(department_id, en, zh, str(phone) if phone is not None else None))
    return tuple(departments)


def parse_catalogue(services_text: str, departments_text: str) -> Catalogue:
    """Both files checked together (services name departments); Refused lists every problem."""
    problems: list[str] = []
    departments = parse_departments(departments_text, problems)
    known_departments = {d.id for d in departments}
    document = _load_yaml(services_text, "services.yaml", problems)
    if not isinstance(document, dict) or not isinstance(document.get("services"), list):
        raise catalogue_refused(problems + ["services.yaml: " + _("must be a mapping with a 'services' list")])
    for key in sorted(set(map(str, document)) - TOP_KEYS):
        problems.append(f"{key}: " + _("unknown top-level key (known: {keys})", keys=", ".join(sorted(TOP_KEYS))))
    classes = _time_limit_classes(document.get("time_limits"), problems)
    due_soon = document.get("due_soon", 0.25)
    if isinstance(due_soon, bool) or not isinstance(due_soon, (int, float)) or not 0 < due_soon < 1:
        problems.append("due_soon: " + _("a fraction between 0 and 1 (0.25: a quarter of the limit left)"))
        due_soon = 0.25
    distance_m, within = _duplicates(document.get("duplicates") or {}, problems)
    assign = document.get("assign_on_receipt", False)
    if not isinstance(assign, bool):
        problems.append("assign_on_receipt: " + _("true or false"))
        assign = False
    services, seen = [], set()
    for index, raw in enumerate(document["services"]):
        place = f"services[{index}]"
        if isinstance(raw, dict) and raw.get("code") is not None:
            place += f" ({raw['code']})"
        service = _parse_service(raw, classes, known_departments,
                                 lambda msg, p=place: problems.append(f"{p}.{msg}"))
        if service is None:
            continue
        if service.code.lower() in seen:
            problems.append(f"{place}.code: " + _("{id} is used twice", id=repr(service.code)))
        seen.add(service.code.lower())
        services.append(service)
    if problems:
        raise catalogue_refused(problems)
    return Catalogue(tuple(services), departments, float(due_soon), distance_m, within, assign, services_text,
                     departments_text, classes)


def _time_limit_classes(raw: Any, problems: list[str]) -> dict[str, tuple[TimeLimit, TimeLimit]]:
    if not isinstance(raw, dict) or not raw:
        problems.append("time_limits: " + _("a mapping of class names to {form}", form="{response, resolution}"))
        return {}
    classes = {}
    for name, limits in raw.items():
        if not isinstance(limits, dict) or set(limits) != {"response", "resolution"}:
            problems.append(f"time_limits.{name}: " + _("needs exactly response and resolution"))
            continue
        try:
            classes[str(name)] = (TimeLimit.parse(limits["response"]), TimeLimit.parse(limits["resolution"]))
        except ValueError as error:
            problems.append(f"time_limits.{name}: {error}")
    return classes


def _duplicates(raw: Any, problems: list[str]) -> tuple[float, timedelta]:
    if not isinstance(raw, dict) or set(raw) - {"distance_m", "within"}:
        problems.append("duplicates: " + _("a mapping: {form}",
                                           form="{distance_m: <metres>, within: <time limit like 48h>}"))
        return 150.0, timedelta(hours=48)
    distance = raw.get("distance_m", 150)
    if isinstance(distance, bool) or not isinstance(distance, (int, float)) or distance <= 0:
        problems.append("duplicates.distance_m: " + _("a positive number of metres"))
        distance = 150
    try:
        within = timedelta(seconds=TimeLimit.parse(raw.get("within", "48h")).nominal_seconds)
    except ValueError as error:
        problems.append(f"duplicates.within: {error}")
        within = timedelta(hours=48)
    return float(distance), within


def _parse_service(raw: Any, classes: dict, departments: set[str], problem: Callable[[str], None]) -> Service | None:
    if not isinstance(raw, dict):
        problem(" " + _("a service is a mapping"))
        return None
    for key in sorted(set(map(str, raw)) - SERVICE_KEYS):
        problem(f"{key}: " + _("unknown key (known: {keys})", keys=", ".join(sorted(SERVICE_KEYS))))
    code = raw.get("code")
    if isinstance(code, bool) or not isinstance(code, (str, int)) or not str(code).strip() or len(str(code)) > 64:
        problem("code: " + _("needs text of at most 64 characters (quote codes like {example})", example='"006"'))
        return None
    code = str(code).strip()
    en, zh = _names(raw.get("name"), problem)
    department = raw.get("department")
    if department not in departments:
        problem("department: " + _("{value} is not an id of departments.yaml", value=repr(department)))
    limit_class = raw.get("time_limit")
    if limit_class not in classes:
        problem("time_limit: " + _("{value} is not one of {allowed}", value=repr(limit_class),
                                       allowed=", ".join(classes) or _("(no classes)")))
        return None
    response, resolution = classes[limit_class]
    try:
        if raw.get("response") is not None:
            response = TimeLimit.parse(raw["response"])
        if raw.get("resolution") is not None:
            resolution = TimeLimit.parse(raw["resolution"])
    except ValueError as error:
        problem(f"response/resolution: {error}")
    emergency = raw.get("emergency", False)
    if not isinstance(emergency, bool):
        problem("emergency: " + _("true or false"))
        emergency = False
    incident = None
    if emergency:
        incident = _incident(raw.get("incident"), problem)
    elif raw.get("incident") is not None:
        problem("incident: " + _("only an emergency service opens an incident"))
    aliases = raw.get("aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        problem("aliases: " + _("a list of names"))
        aliases = []
    text = {key: raw.get(key) for key in ("group", "keywords", "description")}
    for key, value in text.items():
        if value is not None and not isinstance(value, str):
            problem(f"{key}: " + _("text"))
            text[key] = None
    if not isinstance(department, str) or not en:
        return None
    return Service(code, en, zh, department, limit_class, response, resolution, emergency, incident,
                   tuple(a.strip().lower() for a in aliases), **text)


def _incident(raw: Any, problem: Callable[[str], None]) -> IncidentMapping | None:
    match = _INCIDENT.match(str(raw or "").strip())
    if not match:
        problem("incident: " + _("an emergency service needs {form}", form="incident: <category>/<subCategory> P<1-4>"))
        return None
    category, sub_category, priority = match.group(1), match.group(2), int(match.group(3))
    if category not in CATEGORIES or sub_category not in CATEGORIES[category]:
        problem("incident: " + _("{kind} is not a category of services/incidents.py",
                                 kind=f"{category}/{sub_category}"))
        return None
    return IncidentMapping(category, sub_category, priority)


# ---------------------------------------------------------------- the files of a process

class CatalogueFiles:
    """The two files, read on demand and re-read when either changes (checked every few seconds);
    a broken edit keeps the previous catalogue in force and says why in ``error``."""

    def __init__(self, services_path: Path, departments_path: Path, check_every_s: float = 2.0):
        self.services_path, self.departments_path = Path(services_path), Path(departments_path)
        self.check_every_s = check_every_s
        self._lock = threading.Lock()
        self._catalogue: Catalogue | None = None
        self._stamp: tuple | None = None
        self._checked = 0.0
        self.error: str | None = None

    def _mtimes(self) -> tuple:
        return tuple(p.stat().st_mtime_ns if p.exists() else None for p in (self.services_path, self.departments_path))

    def current(self) -> Catalogue:
        now = time.monotonic()
        if self._catalogue is not None and now - self._checked < self.check_every_s:
            return self._catalogue
        with self._lock:
            self._checked = now
            stamp = self._mtimes()
            if self._catalogue is None or stamp != self._stamp:
                try:
                    self._catalogue = parse_catalogue(self.services_path.read_text(encoding="utf-8"),
                                                      self.departments_path.read_text(encoding="utf-8"))
                    self.error = None
                except (Refused, OSError) as error:
                    self.error = str(error)
                    log.error("the service catalogue is not usable (%s); keeping the previous one", error)
                    if self._catalogue is None:
                        raise
                self._stamp = stamp
            return self._catalogue


_files: dict[tuple, CatalogueFiles] = {}
_files_lock = threading.Lock()


def catalogue_of(settings) -> Catalogue:
    """The catalogue of a process's settings (``services_file``, ``departments_file``)."""
    key = (str(settings.services_file), str(settings.departments_file))
    with _files_lock:
        files = _files.get(key)
        if files is None:
            files = _files[key] = CatalogueFiles(settings.services_file, settings.departments_file)
    return files.current()


@dataclass
class SaveCatalogue(Command):
    """An administrator saves the catalogue (either text None: unchanged): both checked together,
    written atomically, audited."""

    engine: Engine
    principal: Principal
    services_path: Path
    departments_path: Path
    services_text: str | None = None
    departments_text: str | None = None
    catalogue: Catalogue | None = None
    permission = "catalogue.save"

    def check(self) -> None:
        for name in ("services_text", "departments_text"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or len(value) > 200_000):
                raise catalogue_refused([f"{name.split('_')[0]}.yaml: " + _("text of at most 200 KB")])
        if self.services_text is None:
            self.services_text = Path(self.services_path).read_text(encoding="utf-8")
        if self.departments_text is None:
            self.departments_text = Path(self.departments_path).read_text(encoding="utf-8")
        self.catalogue = parse_catalogue(self.services_text, self.departments_text)

    def run(self) -> Catalogue:
        with session_scope(self.engine) as session:
            for path, text in ((Path(self.services_path), self.services_text),
                               (Path(self.departments_path), self.departments_text)):
                before = path.read_text(encoding="utf-8") if path.exists() else None
                if before == text:
                    continue
                record(session, self.principal.name, "catalogue.save", f"catalogue:{path.name}",
                       None if before is None else {"text": before}, {"text": text})
                temporary = path.with_suffix(path.suffix + ".tmp")
                temporary.write_text(text, encoding="utf-8")
                os.replace(temporary, path)
        return self.catalogue
