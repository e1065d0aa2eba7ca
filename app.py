"""Builds the Dash app (use_pages=True), its shell and the REST API on its Flask server; nothing else."""
from __future__ import annotations

from pathlib import Path

import dash

from api.core import register_api
from components.shell import shell
from services.runtime import Runtime

HERE = Path(__file__).resolve().parent


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
    register_api(app.server)
    pages = [page for page in dash.page_registry.values() if page.get("nav", True)]
    app.layout = shell(
        city_name=runtime.city.name,
        timezone=runtime.timezone,
        attribution=runtime.city.attribution,
        nav=[(page["name"], page["relative_path"]) for page in pages],
        content=dash.page_container,
    )
    return app
