"""Builds the Dash app (use_pages=True), its shell and the REST API on its Flask server; nothing else."""
from __future__ import annotations

import logging
from pathlib import Path

import json

import dash

from api.core import register_api
from api.open311 import register_open311
from components.shell import shell, user_badge
from services.access.users import user_count
from services.i18n import _, current_locale, html_lang
from services.runtime import Runtime
from services.vocabulary import for_javascript
from web import gate

HERE = Path(__file__).resolve().parent
log = logging.getLogger("cityops")


def create_app(runtime: Runtime) -> dash.Dash:
    app = dash.Dash(
        __name__,
        use_pages=True,
        pages_folder=str(HERE / "pages"),
        assets_folder=str(HERE / "assets"),
        title=f"CityOps — {runtime.city.name}",
        update_title=None,
        suppress_callback_exceptions=True,
        serve_locally=True,
    )
    app.server.secret_key = runtime.settings.resolved_secret_key()
    # one vocabulary for the page and its JavaScript (assets/vocabulary.js reads it); the script's hash
    # lets it through the Content-Security-Policy (web/gate.py)
    script = f"window.cityopsVocabulary = {json.dumps(for_javascript(), ensure_ascii=False)};".replace("</", "<\\/")
    app.index_string = app.index_string.replace("{%scripts%}", f"<script>{script}</script>{{%scripts%}}", 1)
    # Dash wraps its scripts in a <footer>: a second "contentinfo" landmark beside the shell's (axe)
    app.index_string = app.index_string.replace("<footer>", '<div class="dash-scripts">', 1).replace(
        "</footer>", "</div>", 1)
    app.server.config["CITYOPS_INLINE_SCRIPTS"] = (script,)
    _page_language(app)
    register_api(app.server)
    register_open311(app.server)  # GeoReport v2, its own blueprint and error format
    gate.install(app)

    def layout():
        """Per request: the navigation shows the pages the principal's role may open."""
        principal = gate.current_principal()
        pages = [page for page in dash.page_registry.values() if page.get("nav", True)
                 and (principal is None or not page.get("permission") or principal.may(page["permission"]))
                 and (principal is None or not principal.is_display)]  # a screen shows its one page
        user = None
        if principal is not None:
            person = principal.kind == "user"
            user = user_badge(principal.name, principal.role, sign_out=person,
                              language=current_locale() if person else None)
        return shell(city_name=runtime.city.name, timezone=runtime.timezone, attribution=runtime.city.attribution,
                     nav=[(_(page["name"]), page["relative_path"]) for page in pages], content=dash.page_container,
                     user=user)

    app.layout = layout
    if user_count(runtime.engine) == 0:
        log.warning("No user can sign in yet. Create the first administrator with:  "
                    "python manage.py user create NAME --role admin")
    return app


def _page_language(app: dash.Dash) -> None:
    """Every page says its language (``<html lang>``): screen readers, the browser's CJK fonts and
    assets/vocabulary.js (which picks the words of that language) read it."""
    interpolate = app.interpolate_index

    def interpolate_index(**parts) -> str:
        return interpolate(**parts).replace("<html>", f'<html lang="{html_lang()}">', 1)

    app.interpolate_index = interpolate_index
