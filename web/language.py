"""The language of each request, chosen once (issue 14): a display's link, else the person's saved
choice, else the browser's ``Accept-Language``; English when none of them has a catalogue. The gate
calls ``choose`` as soon as it knows who asks, so its own pages (sign-in, refusals) are translated too;
``POST /language`` saves a person's choice (the shell's switcher, a plain form)."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, g, jsonify, redirect, request

from services.access.users import SetLanguage
from services.commands import Refused
from services.i18n import best_locale, use_locale
from services.runtime import current

blueprint = Blueprint("language", __name__)


def wanted(identity) -> list[str | None]:
    """The languages asked for, most wanted first."""
    preferred: list[str | None] = []
    if identity is not None and identity.display is not None:
        preferred.append(identity.display.options.get("lang"))
    elif identity is not None and identity.principal is not None:
        preferred.append(identity.principal.language)
    return preferred + [tag for tag, _quality in request.accept_languages]


def choose(identity) -> str:
    """Translate the rest of this request into the language ``identity`` and the browser ask for."""
    end()
    scope = use_locale(best_locale(wanted(identity)))
    g.locale = scope.__enter__()
    g.locale_scope = scope
    return g.locale


def end(_error=None) -> None:
    scope = g.pop("locale_scope", None)
    if scope is not None:
        try:
            scope.__exit__(None, None, None)
        except ValueError:  # the request ended in another context than it began: nothing of ours to undo there
            pass


@blueprint.post("/language")
def save_language():
    """A person's choice, from the switcher: saved with their account (audited), then back to their page."""
    from web.signin import safe_next

    try:
        SetLanguage(current().engine, g.get("principal"), (request.form.get("language") or "").strip() or None)()
    except Refused as refused:  # a display's screen or a bad value: the API's error shape, never a 500
        return jsonify({"error": refused.as_json()}), refused.status
    back = urlsplit(request.referrer or "/")  # the page of the switch (the gate checked it is this site's)
    return redirect(safe_next(back.path + (f"?{back.query}" if back.query else "")), code=303)
