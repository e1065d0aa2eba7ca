"""People: accounts with Argon2 password hashes, the commands that manage them (admin), and
sign-in with its rate limit. Every sign-in, failure, sign-out and change is in the audit log."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine

from services.access.principal import PEOPLE_ROLES, Principal
from services.audit import record
from services.commands import Command, Refused
from services.db import session_scope
from services.i18n import LOCALES, _, ngettext
from services.models import SignInFailure, User, utcnow

_HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters
_DUMMY_HASH = _HASHER.hash("not a password of anyone")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024


@dataclass(frozen=True)
class SignInLimit:
    """At most ``per_account`` failures per account and ``per_address`` per address within ``window``;
    beyond that, sign-in is refused until the oldest failure leaves the window."""

    per_account: int = 5
    per_address: int = 20
    window: timedelta = timedelta(minutes=5)


@dataclass(frozen=True)
class UserView:
    id: int
    name: str
    role: str
    disabled: bool
    created_at: datetime
    last_sign_in_at: datetime | None
    external: bool = False  # signs in with the city's OpenID Connect provider; no password here

    def as_json(self) -> dict:
        return {"id": self.id, "name": self.name, "role": self.role, "disabled": self.disabled,
                "external": self.external, "created_at": self.created_at.isoformat(),
                "last_sign_in_at": self.last_sign_in_at.isoformat() if self.last_sign_in_at else None}


def _view(user: User) -> UserView:
    return UserView(user.id, user.name, user.role, user.disabled_at is not None, user.created_at, user.last_sign_in_at,
                    user.external_subject is not None)


def list_users(engine: Engine) -> list[UserView]:
    with session_scope(engine) as session:
        return [_view(user) for user in session.scalars(select(User).order_by(User.name))]


def user_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(User)).scalar_one()


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def _check_password(password: str | None) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise Refused.invalid(_("a password has at least {MIN_PASSWORD} characters",
                                MIN_PASSWORD=MIN_PASSWORD), "password")
    if len(password) > MAX_PASSWORD:
        raise Refused.invalid(_("a password has at most {MAX_PASSWORD} characters",
                                MAX_PASSWORD=MAX_PASSWORD), "password")
    return password


def _check_role(role: str | None) -> str:
    if role not in PEOPLE_ROLES:
        raise Refused.invalid(_("role must be one of {choices}", choices=', '.join(PEOPLE_ROLES)), "role")
    return role


def check_department(role: str, department: str | None) -> str | None:
    """A ``department`` role works for one department (an id of config/departments.yaml); others for none."""
    if role != "department":
        if department:
            raise Refused.invalid(_("only the department role belongs to a department"), "department")
        return None
    if not isinstance(department, str) or not department.strip():
        raise Refused.invalid(_("the department role needs its department (an id of config/departments.yaml)"),
                              "department")
    return department.strip()


def _find(session, name: str) -> User:
    user = session.scalars(select(User).where(User.name == name)).first()
    if user is None:
        raise Refused.not_found(_("no user {name}", name=repr(name)), "name")
    return user


def _other_active_admins(session, name: str) -> int:
    return session.execute(select(func.count()).select_from(User).where(
        User.role == "admin", User.disabled_at.is_(None), User.name != name)).scalar_one()


# ---------------------------------------------------------------- commands (admin)

@dataclass
class CreateUser(Command):
    engine: Engine
    principal: Principal
    name: str
    role: str
    password: str
    department: str | None = None
    permission = "users.manage"

    def check(self) -> None:
        self.department = check_department(self.role, self.department)
        if not isinstance(self.name, str) or not NAME_PATTERN.match(self.name):
            raise Refused.invalid(_("a user name is 2-64 letters, digits or . _ @ - (starting with a letter or digit)"),
                                  "name")
        _check_role(self.role)
        _check_password(self.password)
        with self.engine.connect() as connection:
            if connection.execute(select(User.id).where(User.name == self.name)).first():
                raise Refused.conflict("exists", _("a user {name} exists already", name=repr(self.name)), "name")

    def run(self) -> UserView:
        now = utcnow()
        with session_scope(self.engine) as session:
            user = User(name=self.name, role=self.role, password_hash=hash_password(self.password), created_at=now,
                        created_by=self.principal.name, password_changed_at=now, department=self.department)
            session.add(user)
            session.flush()
            record(session, self.principal.name, "user.create", f"user:{self.name}", None,
                   {"role": self.role, "department": self.department})
            return _view(user)


@dataclass
class ChangeRole(Command):
    engine: Engine
    principal: Principal
    name: str
    role: str
    department: str | None = None
    permission = "users.manage"

    def check(self) -> None:
        _check_role(self.role)
        self.department = check_department(self.role, self.department)

    def run(self) -> UserView:
        with session_scope(self.engine) as session:
            user = _find(session, self.name)
            if user.role == "admin" and self.role != "admin" and not _other_active_admins(session, self.name):
                raise Refused.conflict("last_admin", _("{name} is the only active admin; make another first",
                                                       name=self.name))
            before = {"role": user.role, "department": user.department}
            user.role, user.department, user.session_version = self.role, self.department, user.session_version + 1
            record(session, self.principal.name, "user.role", f"user:{self.name}", before,
                   {"role": self.role, "department": self.department})
            return _view(user)


@dataclass
class SetDisabled(Command):
    """Disable (ends their sessions at once) or enable again a user."""

    engine: Engine
    principal: Principal
    name: str
    disabled: bool = True
    permission = "users.manage"

    def run(self) -> UserView:
        with session_scope(self.engine) as session:
            user = _find(session, self.name)
            if self.disabled and user.role == "admin" and not _other_active_admins(session, self.name):
                raise Refused.conflict("last_admin", _("{name} is the only active admin; make another first",
                                                       name=self.name))
            before = {"disabled": user.disabled_at is not None}
            user.disabled_at = utcnow() if self.disabled else None
            user.session_version += 1
            record(session, self.principal.name, "user.disable" if self.disabled else "user.enable",
                   f"user:{self.name}", before, {"disabled": self.disabled})
            return _view(user)


@dataclass
class ResetPassword(Command):
    """A new password (ends the user's sessions)."""

    engine: Engine
    principal: Principal
    name: str
    password: str
    permission = "users.manage"

    def check(self) -> None:
        _check_password(self.password)

    def run(self) -> UserView:
        with session_scope(self.engine) as session:
            user = _find(session, self.name)
            if user.external_subject is not None:
                raise Refused.conflict("external", _("{name} signs in with the city's provider and has no "
                                                       "password here", name=self.name), "name")
            user.password_hash = hash_password(self.password)
            user.password_changed_at, user.session_version = utcnow(), user.session_version + 1
            record(session, self.principal.name, "user.password", f"user:{self.name}", None, {"changed": True})
            return _view(user)


@dataclass
class SetLanguage(Command):
    """A person chooses the language of their own screens (None: their browser's again)."""

    engine: Engine
    principal: Principal
    language: str | None
    permission = "read"

    def check(self) -> None:
        if self.principal.kind != "user" or self.principal.id is None:
            raise Refused.invalid(_("only a person signed in has a language of their own; a display's is in its "
                                    "link"), "language")
        if self.language is not None and self.language not in LOCALES:
            raise Refused.invalid(_("language must be one of {languages}", languages=", ".join(LOCALES)), "language")

    def run(self) -> str | None:
        with session_scope(self.engine) as session:
            user = session.get(User, self.principal.id)
            if user is None:
                raise Refused.not_found(_("no user {name}", name=self.principal.name), "name")
            before = user.language
            user.language = self.language
            record(session, self.principal.name, "user.language", f"user:{user.name}", {"language": before},
                   {"language": self.language})
            return self.language


# ---------------------------------------------------------------- sign-in

def _failures(connection, column, value: str, since: datetime) -> list[datetime]:
    return list(connection.execute(select(SignInFailure.at).where(column == value, SignInFailure.at >= since)
                                   .order_by(SignInFailure.at)).scalars())


def _locked_until(engine: Engine, account: str, address: str, now: datetime, limit: SignInLimit) -> datetime | None:
    since = now - limit.window
    with engine.connect() as connection:
        by_account = _failures(connection, SignInFailure.account, account, since)
        by_address = _failures(connection, SignInFailure.address, address, since)
    until = [times[-limit_n] + limit.window for times, limit_n in ((by_account, limit.per_account),
                                                                     (by_address, limit.per_address))
             if len(times) >= limit_n]
    return max(until) if until else None


def sign_in(engine: Engine, name: str, password: str, address: str, now: datetime | None = None,
            limit: SignInLimit = SignInLimit()) -> Principal:
    """The signed-in person, or Refused: 401 wrong name or password, 429 too many failures."""
    now = now or utcnow()
    account = (name or "").strip()[:64]
    address = (address or "unknown")[:64]
    locked = _locked_until(engine, account, address, now, limit)
    if locked is not None:
        minutes = max(1, round((locked - now).total_seconds() / 60))
        with session_scope(engine) as session:
            record(session, f"web:{address}", "signin.locked", f"user:{account}", None, {"address": address})
        raise Refused("locked", ngettext("too many failed sign-ins; try again in {n} minute or ask an administrator",
                                         "too many failed sign-ins; try again in {n} minutes or ask an administrator",
                                         minutes), 429)
    with session_scope(engine) as session:
        user = session.scalars(select(User).where(User.name == account)).first()
        ok = _verify(user.password_hash if user else _DUMMY_HASH, password or "") and user is not None
        if ok and user.disabled_at is None:
            user.last_sign_in_at = now
            if _HASHER.check_needs_rehash(user.password_hash):
                user.password_hash = hash_password(password)
            record(session, user.name, "signin", f"user:{user.name}", None, {"address": address})
            return Principal(name=user.name, role=user.role, kind="user", id=user.id, department=user.department)
        reason = "disabled" if ok else "wrong name or password"
        session.add(SignInFailure(at=now, account=account, address=address))
        session.execute(delete(SignInFailure).where(SignInFailure.at < now - 4 * limit.window))
        record(session, f"web:{address}", "signin.failure", f"user:{account}", None,
               {"address": address, "reason": reason})
    raise Refused("signin_failed", _("wrong user name or password") if not ok else _("this account is disabled"), 401)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def session_principal(engine: Engine, user_id: int, session_version: int) -> Principal | None:
    """The person of a session, while their account is enabled and unchanged since sign-in."""
    with engine.connect() as connection:
        row = connection.execute(select(User.name, User.role, User.session_version, User.disabled_at,
                                        User.department, User.language).where(User.id == user_id)).first()
    if row is None or row.disabled_at is not None or row.session_version != session_version:
        return None
    return Principal(name=row.name, role=row.role, kind="user", id=user_id, department=row.department,
                     language=row.language)


def session_version(engine: Engine, user_id: int) -> int:
    with engine.connect() as connection:
        return connection.execute(select(User.session_version).where(User.id == user_id)).scalar_one()


def record_sign_out(engine: Engine, principal: Principal, reason: str = "signed out") -> None:
    with session_scope(engine) as session:
        record(session, principal.name, "signout", f"user:{principal.name}", None, {"reason": reason})
