"""Who acts (a person signed in, a bearer token, a display screen, the system) and what each
role may do (SPEC section 6), declared once as data."""
from __future__ import annotations

from dataclasses import dataclass

ROLES = ("admin", "dispatcher", "agent", "department", "manager", "display")
PEOPLE_ROLES = ROLES[:-1]  # a display is a screen, never a person

_OPERATIONS = frozenset({"admin", "dispatcher"})
_ADMIN = frozenset({"admin"})

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
}


@dataclass(frozen=True)
class Principal:
    """``kind``: user (signed in), token (bearer), display (a display link), system (rules, jobs)."""

    name: str
    role: str
    kind: str = "token"
    id: int | None = None

    def may(self, permission: str) -> bool:
        if self.kind == "system":
            return True
        return self.role in PERMISSIONS[permission]

    @property
    def is_display(self) -> bool:
        return self.kind == "display"

    @classmethod
    def system(cls, name: str) -> "Principal":
        return cls(name=name, role="system", kind="system")
