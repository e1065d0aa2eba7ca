"""Who acts (a person signed in, a bearer token, a display screen, the system) and what each
role may do (SPEC section 6), declared once as data."""
from __future__ import annotations

from dataclasses import dataclass

ROLES = ("admin", "dispatcher", "agent", "department", "manager", "reporter", "display")
# a display is a screen, a reporter a citizen app (an API token that submits requests): never people
PEOPLE_ROLES = ("admin", "dispatcher", "agent", "department", "manager")

_OPERATIONS = frozenset({"admin", "dispatcher"})
_ADMIN = frozenset({"admin"})
_HOTLINE = frozenset({"admin", "agent"})  # take, classify, assign, merge, close citizen requests
_DEPARTMENTS = frozenset({"admin", "department"})  # work the orders of their own department

PERMISSIONS: dict[str, frozenset[str]] = {
    "read": frozenset(ROLES),
    "incident.create": _OPERATIONS,
    "incident.update": _OPERATIONS,
    "incident.resolve": _OPERATIONS,
    "incident.dispatch": _OPERATIONS,
    "unit.return": _OPERATIONS,
    "alarm.acknowledge": _OPERATIONS,
    "alarm.clear": _OPERATIONS,
    "alarm.assign": _OPERATIONS,
    "alarm.comment": _OPERATIONS,
    "alarm.open_incident": _OPERATIONS,
    "rules.save": _ADMIN,
    "rejections.read": _ADMIN,
    "users.manage": _ADMIN,
    "tokens.manage": _ADMIN,
    "displays.manage": _ADMIN,
    "devices.provision": _ADMIN,  # IoT Agent service groups and devices
    "request.submit": _HOTLINE | {"reporter"},  # a citizen request (hotline form, Open311 POST)
    "request.assign": _HOTLINE,  # classify, assign, merge, close, reopen
    "request.transfer": _HOTLINE | _DEPARTMENTS,  # to another department, with a reason
    "request.work": _DEPARTMENTS,  # accept, start, resolve (department staff: their own department)
    "request.note": _HOTLINE | _DEPARTMENTS,
    "request.rate": _HOTLINE | {"reporter"},  # the citizen's satisfaction
    "catalogue.save": _ADMIN,  # config/services.yaml and config/departments.yaml
}


@dataclass(frozen=True)
class Principal:
    """``kind``: user (signed in), token (bearer), display (a display link), system (rules, jobs)."""

    name: str
    role: str
    kind: str = "token"
    id: int | None = None
    department: str | None = None  # the department a ``department`` role works for
    language: str | None = None  # a person's chosen language (services/i18n.py LOCALES); None: the browser's

    def may(self, permission: str) -> bool:
        if self.kind == "system" and self.role == "system":
            return True  # CityOps's own jobs; a system principal in a role (the simulator's) has that role's rights
        return self.role in PERMISSIONS[permission]

    @property
    def is_display(self) -> bool:
        return self.kind == "display"

    @classmethod
    def system(cls, name: str, role: str = "system", department: str | None = None) -> "Principal":
        return cls(name=name, role=role, kind="system", department=department)
