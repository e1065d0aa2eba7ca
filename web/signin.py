"""Sign-in and sign-out (plain HTML forms: they work without JavaScript), and the display link
that turns a screen into a display."""
from __future__ import annotations

import logging
import time
from urllib.parse import urlencode

from flask import Blueprint, Response, redirect, request, session
from markupsafe import escape

from services.access.displays import identify_display
from services.access.users import record_sign_out, session_version, sign_in
from services.commands import Refused
from services.i18n import N_, _, html_lang
from services.runtime import current

log = logging.getLogger("cityops.web")

blueprint = Blueprint("signin", __name__)


def plain_page(title: str, body: str, status: int = 200) -> Response:
    city = current().city.name
    html = f"""<!DOCTYPE html>
<html lang="{html_lang()}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} — CityOps {escape(city)}</title>
<link rel="stylesheet" href="/assets/cityops.css"><link rel="stylesheet" href="/assets/access.css"></head>
<body class="plain-page"><main class="plain-card">{body}</main></body></html>"""
    return Response(html, status=status, mimetype="text/html")


def unknown_display() -> Response:
    """A display link no display has (mistyped, or of another installation): a message for the screen,
    never a sign-in page (nobody at an unattended screen could sign in)."""
    heading, advice = escape(_("This display link is not known")), escape(_("Ask the operations centre for a new link."))
    return plain_page(_("Unknown display link"), f"<h1>{heading}</h1><p>{advice}</p>", status=404)


def safe_next(raw: str | None) -> str:
    """Only a path of this site (never //other.site or a scheme)."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw or "\n" in raw:
        return "/"
    return raw


def signin_form(message: str | None, name: str = "", next_path: str = "/", status: int = 200) -> Response:
    alert = f'<p class="signin-error" role="alert">{escape(message)}</p>' if message else ""
    settings = current().settings
    single_sign_on = ""
    if settings.single_sign_on:  # a link, not a form: the provider's page is a navigation away
        link = f"/login/oidc?{urlencode({'next': next_path})}"
        with_provider, otherwise = _("Sign in with {provider}", provider=settings.oidc_name), _("or")
        single_sign_on = (f'<p class="signin-sso"><a id="signin-sso" class="signin-sso-link" href="{escape(link)}">'
                          f'{escape(with_provider)}</a></p><p class="signin-or">{escape(otherwise)}</p>')
    words = {key: escape(text) for key, text in (("title", _("Sign in to CityOps")), ("name", _("User name")),
                                                  ("password", _("Password")), ("submit", _("Sign in")))}
    body = f"""<h1>{words["title"]}</h1>{alert}{single_sign_on}
<form method="post" action="/login" class="signin-form">
  <input type="hidden" name="next" value="{escape(next_path)}">
  <label for="signin-name">{words["name"]}</label>
  <input id="signin-name" name="name" autocomplete="username" required autofocus value="{escape(name)}">
  <label for="signin-password">{words["password"]}</label>
  <input id="signin-password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit" id="signin-submit">{words["submit"]}</button>
</form>"""
    return plain_page(_("Sign in"), body, status)


@blueprint.get("/login")
def login_form():
    notice = session.pop("notice", None)  # English (marked with N_), shown in the reader's language
    return signin_form(_(notice) if notice else None, next_path=safe_next(request.args.get("next")))


@blueprint.post("/login")
def login():
    runtime = current()
    name = (request.form.get("name") or "").strip()
    next_path = safe_next(request.form.get("next"))
    try:
        principal = sign_in(runtime.engine, name, request.form.get("password") or "", request.remote_addr or "unknown")
    except Refused as refusal:
        return signin_form(refusal.message, name, next_path, status=refusal.status)
    return open_session(principal, next_path)


def open_session(principal, next_path: str) -> Response:
    """A person signed in (password or the city's provider): a fresh session, then where they were going."""
    session.clear()  # nothing carried over from before sign-in
    session.update(uid=principal.id, ver=session_version(current().engine, principal.id), seen=time.time())
    response = redirect(next_path, code=303)
    from web.gate import DISPLAY_COOKIE

    if request.cookies.get(DISPLAY_COOKIE):  # a person signed in here: not a display screen any more
        response.delete_cookie(DISPLAY_COOKIE, path="/")
    return response


@blueprint.route("/logout", methods=["GET", "POST"])
def logout():
    from web.gate import current_principal

    principal = current_principal()
    if request.method == "POST" and principal is not None and principal.kind == "user":
        record_sign_out(current().engine, principal)
    if request.method == "POST":
        session.clear()
        session["notice"] = N_("You are signed out.")
    return redirect("/login", code=303)


@blueprint.get("/display/<token>")
def open_display(token: str):
    """The link an admin opens once on the screen: sets the display's cookie and shows its page. The
    page's URL keeps the token, so a reload without the cookie (a kiosk browser's fresh profile)
    recovers by itself."""
    from web.gate import display_url, set_display_cookie, switched_off

    display = identify_display(current().engine, token)
    if display is None:
        return unknown_display()
    if display.revoked:
        return switched_off(display)
    session.clear()
    response = redirect(display_url(display.page, display.options, token), code=302)
    set_display_cookie(response, token)
    return response
