"""Display links for wall screens and kiosks (SPEC section 6, role ``display``).

An admin creates a display (name, the page it shows, options) and receives its link once: only
the token's SHA-256 is kept. The link is the display's credential until revoked: it never expires,
may only read, and records when the screen last fetched data so a dead screen is noticed.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from services.access.principal import Principal
from services.aqi import CODES, standard_named
from services.audit import record
from services.commands import Command, Refused
from services.db import session_scope
from services.i18n import _
from services.models import Display, utcnow

DISPLAY_PAGES = ("/wall", "/", "/kiosk", "/scorecards")  # pages a display may show
# rotate: seconds per district (0: the whole city only); aqi: the AQI standard's code (us, cn); sound: a
# tone for each new critical alarm (the screen's browser must allow audio without a click, see README);
# lang: en, zh, or (the kiosk) alternate, each language for lang_every seconds (pages/kiosk.py)
OPTIONS = {"lang": str, "rotate": int, "aqi": "aqi", "sound": bool, "lang_every": int}
TOKEN_PREFIX = "d_"


MIN_ROTATE_S = 2
SWITCHES = {"1": True, "true": True, "on": True, "yes": True, "0": False, "false": False, "off": False, "no": False}


@dataclass(frozen=True)
class ScreenOptions:
    """What a screen's link asks for (a display's options arrive in its link: ``display_url``)."""

    rotate_s: int  # seconds per view when rotating through the districts; 0: the whole city only
    standard: str  # the AQI standard's key
    sound: bool | None  # a tone for new critical alarms: on, off, or None (not set: the screen's own choice)


def screen_options(query: dict[str, str | None], default_standard: str) -> ScreenOptions:
    """``?rotate=30&aqi=cn&sound=1`` as options; nonsense counts as not set, never as an error page."""
    rotate = (query.get("rotate") or "").strip()
    seconds = int(rotate) if rotate.isdigit() else 0
    try:
        standard = standard_named(query.get("aqi"), default_standard)
    except ValueError:
        standard = default_standard
    return ScreenOptions(max(seconds, MIN_ROTATE_S) if seconds else 0, standard,
                         SWITCHES.get((query.get("sound") or "").strip().lower()))


def link_query(options: dict) -> dict[str, str]:
    """A display's options as its link's query (``screen_options`` reads them back): true/false as 1/0."""
    return {key: ("1" if value else "0") if isinstance(value, bool) else str(value) for key, value in options.items()}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class DisplayView:
    id: int
    name: str
    page: str
    options: dict
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    last_seen_at: datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def as_json(self) -> dict[str, Any]:
        iso = lambda t: t.isoformat() if t else None  # noqa: E731
        return {"id": self.id, "name": self.name, "page": self.page, "options": self.options,
                "created_at": iso(self.created_at), "created_by": self.created_by, "revoked": self.revoked,
                "revoked_at": iso(self.revoked_at), "last_seen_at": iso(self.last_seen_at)}


def _view(row) -> DisplayView:
    return DisplayView(row.id, row.name, row.page, dict(row.options or {}), row.created_at, row.created_by,
                       row.revoked_at, row.last_seen_at)


def list_displays(engine: Engine) -> list[DisplayView]:
    with engine.connect() as connection:
        return [_view(row) for row in connection.execute(select(Display).order_by(Display.id))]


def _read_options(raw: Any) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise Refused.invalid(_("options must be an object such as {\"lang\": \"zh\", \"rotate\": 30, \"aqi\": \"cn\", "
                              "\"sound\": true}"), "options")
    options = {}
    for key, value in raw.items():
        kind = OPTIONS.get(key)
        if kind is None:
            raise Refused.invalid(_("unknown option {key}; options are {choices}",
                                    key=repr(key), choices=', '.join(OPTIONS)), "options")
        if kind is int and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 3600):
            raise Refused.invalid(_("{key} is a whole number of seconds, 0..3600", key=key), "options")
        if kind == "aqi":
            try:
                value = CODES[standard_named(value if isinstance(value, str) and value else "?")]
            except ValueError as error:
                raise Refused.invalid(_("{key}: {error}", key=key, error=error), "options") from None
        if kind is bool and not isinstance(value, bool):
            raise Refused.invalid(_("{key} is true or false", key=key), "options")
        if kind is str and (not isinstance(value, str) or not value.isascii() or not 1 <= len(value) <= 16
                            or not value.replace("-", "").isalnum()):
            raise Refused.invalid(_("{key} is a language tag such as en, fi or zh", key=key), "options")
        options[key] = value
    return options


@dataclass
class CreateDisplay(Command):
    """Returns (the display, its token); the token is shown once, as the link to open on the screen."""

    engine: Engine
    principal: Principal
    name: str
    page: str
    options: Any = None
    permission = "displays.manage"

    def check(self) -> None:
        if not isinstance(self.name, str) or not 1 <= len(self.name.strip()) <= 128:
            raise Refused.invalid(_("a display needs a name of 1-128 characters"), "name")
        if self.page not in DISPLAY_PAGES:
            raise Refused.invalid(_("page must be one of {choices}", choices=', '.join(DISPLAY_PAGES)), "page")
        self.options = _read_options(self.options)

    def run(self) -> tuple[DisplayView, str]:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with session_scope(self.engine) as session:
            display = Display(name=self.name.strip(), page=self.page, options=self.options,
                              token_hash=token_hash(token), created_at=utcnow(), created_by=self.principal.name)
            session.add(display)
            session.flush()
            record(session, self.principal.name, "display.create", f"display:{display.id}", None,
                   {"name": display.name, "page": display.page, "options": self.options})
            return _view(display), token


@dataclass
class RevokeDisplay(Command):
    engine: Engine
    principal: Principal
    display_id: int
    permission = "displays.manage"

    def run(self) -> DisplayView:
        with session_scope(self.engine) as session:
            display = session.get(Display, self.display_id) if isinstance(self.display_id, int) else None
            if display is None:
                raise Refused.not_found(_("no display {display_id}", display_id=self.display_id), "id")
            if display.revoked_at is None:
                display.revoked_at, display.revoked_by = utcnow(), self.principal.name
                record(session, self.principal.name, "display.revoke", f"display:{display.id}", {"revoked": False},
                       {"revoked": True})
            return _view(display)


@dataclass(frozen=True)
class DisplayIdentity:
    """A display link's holder: active (a read-only principal) or revoked (its name, for the message)."""

    id: int
    name: str
    page: str
    options: dict
    revoked: bool

    @property
    def principal(self) -> Principal:
        return Principal(name=f"display:{self.name}", role="display", kind="display", id=self.id)


def identify_display(engine: Engine, token: str | None) -> DisplayIdentity | None:
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        return None
    with engine.connect() as connection:
        row = connection.execute(select(Display.id, Display.name, Display.page, Display.options, Display.revoked_at)
                                 .where(Display.token_hash == token_hash(token))).first()
    if row is None:
        return None
    return DisplayIdentity(row.id, row.name, row.page, dict(row.options or {}), row.revoked_at is not None)


def mark_seen(engine: Engine, display_id: int, now: datetime | None = None) -> None:
    with engine.begin() as connection:
        connection.execute(update(Display).where(Display.id == display_id).values(last_seen_at=now or utcnow()))
