"""Single sign-on with the city's OpenID Connect provider: the provider says who the person is and,
in a claim, which role they have; CityOps keeps a local account for them (external: no password
here) so roles, sessions, disabling and the audit log work as for everyone else.

Flask-free: web/single_sign_on.py runs the authorization-code flow and hands the verified claims here.
"""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from services.access.principal import PEOPLE_ROLES, Principal
from services.audit import record
from services.commands import Refused
from services.config import Settings
from services.db import session_scope
from services.i18n import _
from services.models import User, utcnow

NAME_CLAIMS = ("preferred_username", "email", "sub")
_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9._@-]+")


def claimed_values(claims: dict, path: str) -> list[str]:
    """The values of a claim (text, or a list of texts); a dotted path reaches into objects
    (Keycloak puts realm roles in ``realm_access.roles``)."""
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [item for item in value if isinstance(item, str)]
    return []


def role_from_claims(claims: dict, settings: Settings) -> str:
    """The CityOps role the provider grants (the strongest when several), or Refused (403) saying why."""
    values = claimed_values(claims, settings.oidc_role_claim)
    mapping = settings.oidc_role_map or {role: role for role in PEOPLE_ROLES}  # no map: values are role names
    granted = {mapping.get(value) for value in values}
    roles = [role for role in PEOPLE_ROLES if role in granted]  # PEOPLE_ROLES runs from the most powerful
    if not roles:
        seen = f"it says {', '.join(repr(v) for v in values[:5])}" if values else "it has no such claim"
        raise Refused.forbidden(_("{oidc_name} gave no CityOps role in the claim {oidc_role_claim} ({seen}); ask an "
                                  "administrator to grant you one",
                                  oidc_name=settings.oidc_name, oidc_role_claim=repr(settings.oidc_role_claim),
                                  seen=seen))
    return roles[0]


def account_name(claims: dict) -> str:
    """A local user name from the first of preferred_username, email, sub (2-64 of A-Z a-z 0-9 . _ @ -)."""
    for claim in NAME_CLAIMS:
        raw = claims.get(claim)
        if isinstance(raw, str):
            name = _NOT_IN_NAME.sub("-", raw.strip()).strip("-._@")[:64]
            if len(name) >= 2:
                return name
    raise Refused.invalid(_("the provider gave no usable name (preferred_username, email or sub)"), "name")


def _refuse(engine: Engine, account: str, address: str, refusal: Refused) -> Refused:
    with session_scope(engine) as session:
        record(session, f"web:{address}", "signin.failure", f"user:{account}", None,
               {"address": address, "via": "oidc", "reason": refusal.message})
    return refusal


def external_sign_in(engine: Engine, settings: Settings, claims: dict, address: str) -> Principal:
    """The person the provider vouched for (``claims`` of a verified ID token), signed in: their local
    account created or brought up to date (role from the claim), or Refused (audited as a failure)."""
    address = (address or "unknown")[:64]
    subject = claims.get("sub")
    account = str(claims.get("preferred_username") or claims.get("email") or subject or "?")[:64]
    if not isinstance(subject, str) or not subject:
        raise _refuse(engine, account, address, Refused.invalid(_("the provider's answer has no subject (sub)"), "sub"))
    issuer = settings.oidc_issuer
    try:
        role, name = role_from_claims(claims, settings), account_name(claims)
    except Refused as refusal:
        raise _refuse(engine, account, address, refusal) from None
    with session_scope(engine) as session:
        outcome = _sign_in_account(session, settings, issuer, subject, name, role, address)
    if isinstance(outcome, Refused):
        raise _refuse(engine, name, address, outcome)
    return outcome


def _sign_in_account(session, settings: Settings, issuer: str, subject: str, name: str, role: str,
                     address: str) -> Principal | Refused:
    now = utcnow()
    user = session.scalars(select(User).where(User.external_issuer == issuer, User.external_subject == subject)).first()
    if user is None:
        if session.scalars(select(User.id).where(User.name == name)).first() is not None:
            return Refused.conflict("exists", _("a CityOps account named {name} exists already and is not linked to "
                                                "{oidc_name}; ask an administrator",
                                                name=repr(name), oidc_name=settings.oidc_name))
        user = User(name=name, role=role, password_hash="", created_at=now, created_by=f"oidc:{issuer}",
                    password_changed_at=now, external_issuer=issuer, external_subject=subject)
        session.add(user)
        session.flush()
        record(session, f"oidc:{issuer}", "user.create", f"user:{name}", None, {"role": role, "external": True})
    elif user.disabled_at is not None:
        return Refused("signin_failed", _("this account is disabled"), 401)
    elif user.role != role:
        record(session, f"oidc:{issuer}", "user.role", f"user:{user.name}", {"role": user.role}, {"role": role})
        user.role, user.session_version = role, user.session_version + 1  # ends the sessions of the old role
    user.last_sign_in_at = now
    record(session, user.name, "signin", f"user:{user.name}", None, {"address": address, "via": "oidc"})
    return Principal(name=user.name, role=user.role, kind="user", id=user.id)
