"""Sign-in with the city's OpenID Connect provider (CITYOPS_OIDC_*): the authorization-code flow
with Authlib's Flask client (state and nonce kept in the session, the ID token's signature,
issuer, audience and nonce checked), then services/access/single_sign_on.py makes the person a
local user with the role from the claim, and the session opens as for a password sign-in."""
from __future__ import annotations

import logging

import requests
from joserfc.errors import JoseError
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client.errors import MismatchingStateError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, Response, current_app, request, session, url_for

from services.access.single_sign_on import claimed_values, external_sign_in
from services.commands import Refused
from services.config import Settings
from services.runtime import current
from web.signin import open_session, plain_page, safe_next, signin_form

log = logging.getLogger("cityops.web")

blueprint = Blueprint("single_sign_on", __name__)
CLIENT = "city"
NEXT = "sso_next"
PROVIDER_TIMEOUT_S = 10


def install(server: Flask, settings: Settings) -> None:
    oauth = OAuth(server)
    oauth.register(CLIENT, client_id=settings.oidc_client_id,
                   client_secret=settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None,
                   server_metadata_url=f"{settings.oidc_issuer}/.well-known/openid-configuration",
                   client_kwargs={"scope": settings.oidc_scopes, "default_timeout": PROVIDER_TIMEOUT_S})
    server.register_blueprint(blueprint)


def _client():
    return current_app.extensions["authlib.integrations.flask_client"].create_client(CLIENT)


def _provider_unreachable(error: Exception) -> Response:
    log.warning("the OpenID Connect provider could not be reached: %s", error)
    name = current().settings.oidc_name
    return plain_page("Sign-in unavailable", f"<h1>{name} cannot be reached</h1><p>Try again in a moment, or sign in "
                                             f'with a CityOps password.</p><p><a href="/login">Back to sign-in</a></p>',
                      status=502)


@blueprint.get("/login/oidc")
def start():
    """Off to the provider's sign-in page; it comes back to ``finish``."""
    session[NEXT] = safe_next(request.args.get("next"))
    try:
        return _client().authorize_redirect(url_for("single_sign_on.finish", _external=True))
    except requests.RequestException as error:
        return _provider_unreachable(error)


@blueprint.get("/login/oidc/callback")
def finish():
    runtime = current()
    next_path = safe_next(session.pop(NEXT, None))
    client = _client()
    try:
        token = client.authorize_access_token()
        claims = dict(token.get("userinfo") or {})
        if not claimed_values(claims, runtime.settings.oidc_role_claim):  # some providers put roles only here
            claims = {**client.userinfo(token=token), **claims}
        principal = external_sign_in(runtime.engine, runtime.settings, claims, request.remote_addr or "unknown")
    except (AuthlibBaseError, JoseError) as error:  # refused at the provider, a replayed answer, a bad ID token
        log.info("single sign-on failed: %s", error)
        reason = getattr(error, "description", None) or getattr(error, "error", None) or type(error).__name__
        if isinstance(error, MismatchingStateError):
            reason = "its answer belongs to no sign-in started in this browser; start again"
        return signin_form(f"Sign-in with {runtime.settings.oidc_name} did not complete ({reason}).",
                           next_path=next_path, status=401)
    except Refused as refusal:
        return signin_form(refusal.message, next_path=next_path, status=refusal.status)
    except requests.RequestException as error:
        return _provider_unreachable(error)
    return open_session(principal, next_path)
