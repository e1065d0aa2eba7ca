"""Every request is checked here, once (issue 10, point 3).

Identity, in order: ``Authorization: Bearer`` (machines), the signed session cookie (people,
with an idle timeout), the display cookie or a display link's ``?display=`` token (screens).
Without identity, a page redirects to /login and ``/_dash-*`` answers 401 JSON (never a redirect,
never a sign-in page inside a callback); the REST API's own endpoints decide (api/core.py), so its
public ones (health, OpenAPI) stay public. A state-changing request authenticated by a cookie must
come from this site (Origin, else Referer); bearer-token calls are exempt. Every response carries
the security headers (CSP without inline scripts: Dash's own inline scripts are allowed by hash).
"""
from __future__ import annotations

import base64
import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from flask import Flask, Response, g, jsonify, redirect, request, session

from services.access.displays import DisplayIdentity, identify_display, link_query, mark_seen
from services.access.principal import Principal
from services.access.users import record_sign_out, session_principal
from services.auth import authenticate
from services.i18n import N_, _
from services.runtime import current
from web import language

log = logging.getLogger("cityops.web")

DISPLAY_COOKIE = "cityops_display"
DISPLAY_COOKIE_YEARS = 10
PUBLIC_PREFIXES = ("/assets/", "/_dash-component-suites/", "/login", "/logout", "/display/", "/_favicon.ico",
                   "/api/", "/open311/")  # Open311 reads are public by the spec; writes check their api_key
DASH_PREFIX = "/_dash-"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
SEEN_EVERY_S = 30.0  # a display's "last fetched data" and a session's activity are written this often


@dataclass
class Identity:
    principal: Principal | None = None
    revoked_display: DisplayIdentity | None = None
    display: DisplayIdentity | None = None
    via: str = "none"  # bearer | session | display | none


def current_principal() -> Principal | None:
    """The principal of the request being served (None outside a request or without identity)."""
    try:
        return g.get("principal")
    except RuntimeError:
        return None


def is_public_screen() -> bool:
    """The request comes from a public kiosk's display link (it sees public warnings, never operators' alarms)."""
    try:
        identity = g.get("identity")
    except RuntimeError:
        return False
    return identity is not None and identity.display is not None and identity.display.page == "/kiosk"


# ---------------------------------------------------------------- identity

def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def _is_activity() -> bool:
    """A person acting (a page load, a click, typing) — not a screen's own timer polling."""
    if request.path != "/_dash-update-component":  # a page load, not the connection check nor the API
        return request.method == "GET" and not request.path.startswith((DASH_PREFIX, "/api/"))
    body = request.get_json(silent=True) or {}
    changed = body.get("changedPropIds") or []
    return any(not str(prop).endswith(".n_intervals") for prop in changed)


def _session_identity(runtime) -> Principal | None:
    user_id, version = session.get("uid"), session.get("ver")
    if not isinstance(user_id, int) or not isinstance(version, int):
        return None
    principal = session_principal(runtime.engine, user_id, version)
    if principal is None:
        session.clear()
        return None
    now = time.time()
    seen = float(session.get("seen") or 0)
    if now - seen > runtime.settings.session_idle_minutes * 60:
        record_sign_out(runtime.engine, principal, f"idle for more than {runtime.settings.session_idle_minutes:g} min")
        session.clear()
        session["notice"] = N_("You were signed out after a period of inactivity.")
        return None
    if _is_activity() and now - seen > min(SEEN_EVERY_S, runtime.settings.session_idle_minutes * 30):
        session["seen"] = now
    return principal


def _display_token() -> str | None:
    from_link = request.args.get("display") if request.method == "GET" else None
    return from_link or request.cookies.get(DISPLAY_COOKIE)


def identify() -> Identity:
    runtime = current()
    token = _bearer()
    if token is not None:
        return Identity(authenticate(runtime.engine, token, runtime.settings.admin_token_value()), via="bearer")
    person = _session_identity(runtime)
    if person is not None:
        return Identity(person, via="session")
    display = identify_display(runtime.engine, _display_token())
    if display is None:
        return Identity()
    if display.revoked:
        return Identity(revoked_display=display, via="display")
    return Identity(display.principal, display=display, via="display")


_seen_lock = threading.Lock()
_seen_at: dict[tuple[int, int], float] = {}


def _note_display_fetch(display: DisplayIdentity) -> None:
    now, engine = time.monotonic(), current().engine
    key = (id(engine), display.id)
    with _seen_lock:
        if now - _seen_at.get(key, -SEEN_EVERY_S) < SEEN_EVERY_S:
            return
        _seen_at[key] = now
    try:
        mark_seen(engine, display.id)
    except Exception:  # a busy database must not cost the screen its data
        log.warning("could not note display %s as seen", display.id, exc_info=True)


# ---------------------------------------------------------------- answers

def error_json(status: int, code: str, message: str, **extra) -> Response:
    response = jsonify({"error": {"code": code, "message": message, **extra}})
    response.status_code = status
    return response


SWITCHED_OFF = N_("This display has been switched off by the operations centre")


def switched_off(display: DisplayIdentity) -> Response:
    if request.path.startswith(DASH_PREFIX) or request.path.startswith("/api/"):
        return error_json(403, "display_revoked", _(SWITCHED_OFF), display=display.name)
    from web.signin import plain_page

    name, heading = _escape(display.name), _escape(_(SWITCHED_OFF))
    return plain_page(_("Display switched off"), f'<h1>{heading}</h1><p class="display-name">{name}</p>', status=403)


def _escape(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


def _same_origin() -> bool:
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source or source == "null":
        return False
    parts = urlsplit(source)
    return parts.netloc == request.host and parts.scheme in ("http", "https")


def _needs_origin(path: str) -> bool:
    """Writes that ride on a cookie (and sign-in, against login CSRF); bearer-token calls carry their
    credential explicitly and are exempt."""
    if _bearer() is not None:
        return False
    has_cookie = bool(request.cookies.get(current_app_session_cookie()) or request.cookies.get(DISPLAY_COOKIE))
    return has_cookie or path in ("/login", "/logout")


def current_app_session_cookie() -> str:
    from flask import current_app

    return current_app.config.get("SESSION_COOKIE_NAME") or "session"


def _is_public(path: str) -> bool:
    return any(path == prefix.rstrip("/") or path.startswith(prefix) for prefix in PUBLIC_PREFIXES)


def _page_permission(path: str) -> str | None:
    import dash

    for page in dash.page_registry.values():
        if page.get("path") == path:
            return page.get("permission")
    return None


def check_request() -> Response | None:
    path = request.path
    if request.method in UNSAFE_METHODS and _needs_origin(path) and not _same_origin():
        # a browser's cookie-authenticated write (or a sign-in) sent from another site
        return error_json(403, "cross_site", _("this request did not come from a CityOps page (Origin check)"))
    if path.startswith("/assets/") or path.startswith("/_dash-component-suites/") or path == "/_favicon.ico":
        return None
    identity = identify()
    g.principal, g.identity = identity.principal, identity
    language.choose(identity)  # everything this request shows from here on, the gate's own pages too
    if identity.revoked_display is not None and not path.startswith("/login"):
        return switched_off(identity.revoked_display)
    if _is_public(path):
        return None
    if identity.principal is None:
        if path.startswith(DASH_PREFIX):
            return error_json(401, "unauthorized", _("sign in first: the session ended or was never opened"),
                              login="/login")
        if request.args.get("display") or (path == "/kiosk" and _display_token()):
            from web.signin import unknown_display

            return unknown_display()  # a screen's link: nobody at it could sign in
        query = urlencode({"next": request.full_path.rstrip("?")})
        return redirect(f"/login?{query}", code=302)
    if identity.display is not None:
        return _display_request(identity.display)
    permission = _page_permission(path)
    if permission and not identity.principal.may(permission) and not path.startswith(DASH_PREFIX):
        from web.signin import plain_page

        title = _("Not allowed")
        reason = _escape(_("The role {role} may not open {page}.", role=identity.principal.role, page=path))
        back = _escape(_("Back to the map"))
        return plain_page(title, f"<h1>{_escape(title)}</h1><p>{reason}</p><p><a href=\"/\">{back}</a></p>", status=403)
    return None


def _display_request(display: DisplayIdentity) -> Response | None:
    """A screen reads what its display shows: its page (with the link's options), and the data."""
    path = request.path
    if path.startswith(DASH_PREFIX):
        if path == "/_dash-update-component":
            _note_display_fetch(display)
        return None
    if path != display.page:
        return redirect(display_url(display.page, display.options, request.args.get("display")
                                    or request.cookies.get(DISPLAY_COOKIE)), code=302)
    return None


def display_url(page: str, options: dict, token: str | None) -> str:
    query = {"display": token} if token else {}
    query.update(link_query(options))
    return f"{page}?{urlencode(query)}" if query else page


def keep_display_cookie(response: Response) -> Response:
    """A display link in the URL (re-)sets the display's cookie: a cookie-less reload recovers."""
    identity = g.get("identity")
    token = request.args.get("display") if request.method == "GET" else None
    if identity is not None and identity.display is not None and token and \
            request.cookies.get(DISPLAY_COOKIE) != token:
        set_display_cookie(response, token)
    return response


def set_display_cookie(response: Response, token: str) -> None:
    response.set_cookie(DISPLAY_COOKIE, token, max_age=DISPLAY_COOKIE_YEARS * 365 * 86400, httponly=True,
                        samesite="Lax", secure=current().settings.secure_cookies, path="/")


# ---------------------------------------------------------------- headers

class SecurityHeaders:
    def __init__(self, app):
        self.app = app
        self._csp: str | None = None

    def csp(self) -> str:
        if self._csp is None:  # after every page module registered its (inline clientside) callbacks
            tile_url = current().settings.tile_url
            tile_origin = ""
            if tile_url:  # an online basemap's tiles, e.g. https://{s}.tile.example.org/{z}/{x}/{y}.png
                parts = urlsplit(tile_url)
                tile_origin = f" {parts.scheme}://{parts.netloc.replace('{s}', '*')}"
            own = [f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
                   for script in self.app.server.config.get("CITYOPS_INLINE_SCRIPTS", ())]  # app.py's
            scripts = " ".join(["'self'", *self.app.csp_hashes(), *own])
            self._csp = "; ".join([
                "default-src 'self'",
                f"script-src {scripts}",
                "style-src 'self' 'unsafe-inline'",  # React and Plotly set inline styles; scripts stay strict
                f"img-src 'self' data: blob:{tile_origin}",
                "font-src 'self' data:",
                "connect-src 'self'",
                "object-src 'none'",
                "base-uri 'self'",
                "form-action 'self'",
                "frame-ancestors 'none'",
            ])
        return self._csp

    def __call__(self, response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", self.csp())
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        if request.path.startswith(DASH_PREFIX) or request.path.startswith("/api/") or request.path.startswith(
                "/login") or request.path.startswith("/display/"):
            headers.setdefault("Cache-Control", "no-store")
        return keep_display_cookie(response)


def install(app) -> None:
    """Wires the gate, the sign-in and language routes and the headers into the Dash app's Flask server."""
    from web.signin import blueprint

    server: Flask = app.server
    settings = current().settings
    server.config.update(SESSION_COOKIE_NAME="cityops_session", SESSION_COOKIE_HTTPONLY=True,
                         SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=settings.secure_cookies)
    server.register_blueprint(blueprint)
    server.register_blueprint(language.blueprint)
    server.teardown_request(language.end)
    if settings.single_sign_on:
        from web import single_sign_on

        single_sign_on.install(server, settings)
    server.before_request(check_request)
    server.after_request(SecurityHeaders(app))
