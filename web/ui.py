"""How page callbacks run commands: as the request's principal, and with a refusal turned into the
message a person reads — in one place, as api/core.py does for HTTP."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import OperationalError

from services.access.principal import Principal
from services.commands import Refused
from services.i18n import _, ngettext
from web.gate import current_principal

log = logging.getLogger(__name__)


def acting() -> Principal | None:
    """Who the page callback acts for (the gate refused the request already when nobody)."""
    return current_principal()


def may(permission: str) -> bool:
    principal = current_principal()
    return principal is not None and principal.may(permission)


@dataclass(frozen=True)
class Outcome:
    value: Any = None
    refused: Refused | None = None

    @property
    def ok(self) -> bool:
        return self.refused is None

    @property
    def message(self) -> str:
        """The refusal as a sentence: ``Refused: <reason>`` (and each problem, when there are several)."""
        if self.refused is None:
            return ""
        details = "".join(f"\n• {item}" for item in self.refused.details) if len(self.refused.details) > 1 else ""
        reason = ngettext("{n} problem", "{n} problems", len(self.refused.details)) if details else self.refused.message
        return _("Refused: {reason}", reason=reason) + details


def attempt(command) -> Outcome:
    """Validates and runs ``command``; a refusal is an outcome, never an error page. A database that does not
    answer (SQLite locked past its busy timeout, PostgreSQL away) is said too: a failed callback showed nothing,
    and the dispatcher who pressed D could not tell it from a command still on its way."""
    try:
        return Outcome(value=command())
    except Refused as refusal:
        return Outcome(refused=refusal)
    except OperationalError as error:
        log.warning("%s: the database did not answer: %s", type(command).__name__, error.orig or error)
        return Outcome(refused=Refused("database_unavailable", _(
            "the database did not answer; what was saved shows on the screen. Try again."), 503))
