"""One command shape and one refusal type for every action that changes the world.

A command is built with what it needs (the database or a context, the principal, the input),
``validate()`` checks the principal's permission and the input and state, raising ``Refused``
with a reason a person can read; ``run()`` writes the database and the audit log in one
transaction, then publishes. Page callbacks and the REST API call the same commands: the API maps
``Refused`` to HTTP in one place (api/core.py), the pages to a message in one place (web/ui.py).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from services.access.principal import PERMISSIONS, Principal
from services.i18n import _


class Refused(Exception):
    """A refused action: a code for machines, a message for people, the HTTP status it means."""

    FORBIDDEN, NOT_FOUND, CONFLICT, INVALID = 403, 404, 409, 422

    def __init__(self, code: str, message: str, status: int = CONFLICT, field: str | None = None,
                 details: tuple[str, ...] = ()):
        super().__init__(message)
        self.code, self.message, self.status, self.field, self.details = code, message, status, field, tuple(details)

    @classmethod
    def forbidden(cls, message: str) -> "Refused":
        return cls("forbidden", message, cls.FORBIDDEN)

    @classmethod
    def not_found(cls, message: str, field: str | None = None) -> "Refused":
        return cls("not_found", message, cls.NOT_FOUND, field)

    @classmethod
    def conflict(cls, code: str, message: str, field: str | None = None) -> "Refused":
        return cls(code, message, cls.CONFLICT, field)

    @classmethod
    def invalid(cls, message: str, field: str | None = None, details: tuple[str, ...] = ()) -> "Refused":
        return cls("invalid_value", message, cls.INVALID, field, details)

    def as_json(self) -> dict:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        if self.details:
            body["details"] = list(self.details)
        return body


def authorize(principal: Principal | None, permission: str) -> Principal:
    """The principal may do ``permission`` (services/access/principal.py PERMISSIONS), or Refused."""
    if principal is None:
        raise Refused("unauthorized", _("sign in first"), 401)
    if not principal.may(permission):
        roles = " or ".join(sorted(PERMISSIONS[permission]))
        raise Refused.forbidden(_("the role {role} may not {action} (needs {roles})", role=repr(principal.role),
                                  action=permission.replace(".", " ").replace("_", " "), roles=roles))
    return principal


class Command(ABC):
    """``validate()`` (permission, input, state) then ``run()``; calling the command does both."""

    permission: ClassVar[str]
    principal: Principal

    def validate(self):
        authorize(self.principal, self.permission)
        self.check()
        return self

    def check(self) -> None:
        """Input and state checks after the permission (each command its own)."""

    @abstractmethod
    def run(self):
        """The change: one transaction with its audit entry, then any publishing."""

    def __call__(self):
        self.validate()
        return self.run()
