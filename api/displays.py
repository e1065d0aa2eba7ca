"""Display links for wall screens and kiosks (SPEC section 5, admin): create one (its link is in the
answer, once), list them with when each last fetched data, revoke one."""
from __future__ import annotations

from flask import g, jsonify, request

from api import models
from api.core import ID32, Parameter, endpoint, run
from services.access.displays import DISPLAY_PAGES, CreateDisplay, RevokeDisplay, list_displays
from services.runtime import current


def display_link(token: str) -> str:
    return f"{request.host_url.rstrip('/')}/display/{token}"


@endpoint("/displays", "Display links with their page, options and when each last fetched data (admin)",
          role="displays.manage", response=models.Displays)
def displays():
    views = list_displays(current().engine)
    return jsonify({"displays": [view.as_json() for view in views], "count": len(views), "pages": list(DISPLAY_PAGES)})


@endpoint("/displays", "Create a display {name, page (/wall or /), options {lang, rotate}}: 201 with the link "
                       "to open once on the screen (admin)", method="POST", role="displays.manage",
          body=models.DisplayCreate, response=models.DisplayLink, status=201)
def create_display(body: models.DisplayCreate):
    view, token = run(CreateDisplay(current().engine, g.principal, body.name, body.page, body.options))
    return jsonify({**view.as_json(), "url": display_link(token)}), 201


@endpoint("/displays/<int:display_id>", "Revoke a display: its screen says it was switched off (admin)",
          method="DELETE", role="displays.manage",
          parameters=(Parameter("display_id", "path", "display id", ID32),), response=models.Display)
def revoke_display(display_id: int):
    return jsonify(run(RevokeDisplay(current().engine, g.principal, display_id)).as_json())
