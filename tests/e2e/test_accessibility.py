"""axe-core in the browser (tests/e2e/accessibility.py) on the public kiosk, the operations map and the
dispatch console, with their live data in: no moderate, serious or critical violation, nothing excluded
(SQLite and PostgreSQL)."""
from __future__ import annotations

import pytest

from tests.brokers import wait_until
from tests.e2e.accessibility import axe_violations, describe

NOT_MINOR = ("moderate", "serious", "critical")
from tests.e2e.conftest import set_viewport, sign_in
from tests.e2e.test_dispatch_page import _api
from tests.e2e.test_kiosk import LANDSCAPE, create_kiosk, live_with_data

PAGE_TIMEOUT_S = 30
DESK = (1600, 900)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_kiosk_has_no_serious_accessibility_violation(served_city, browser, lang):
    set_viewport(browser, *LANDSCAPE)
    browser.get(create_kiosk(served_city, lang=lang))
    wait_until(lambda: live_with_data(browser, lang), PAGE_TIMEOUT_S, interval=0.25, message="the kiosk with data")
    violations = axe_violations(browser, impacts=NOT_MINOR)
    assert not violations, describe(violations)


@pytest.mark.parametrize("path, ready", [
    ("/", "window.cityopsLive && window.cityopsLive.version !== null"),
    ("/dispatch", "document.querySelector('#dispatch-units') && document.querySelector('#dispatch-units').children.length"),
])
def test_the_map_and_the_dispatch_console_have_no_serious_accessibility_violation(served_city, browser, path,
                                                                                  ready):
    set_viewport(browser, *DESK)
    for priority in (1, 2, 3, 4):  # an incident of each priority: their badges' colours on the map
        created = _api(served_city, "POST", "/incidents", json={
            "category": "fire", "subCategory": "buildingFire", "priority": f"P{priority}",
            "location": {"type": "Point", "coordinates": [24.930 + priority * 0.004, 60.168]},
            "description": f"e2e accessibility P{priority}"})
        assert created.status_code == 201, created.text
    sign_in(browser, served_city, "dispatcher", path)
    wait_until(lambda: browser.execute_script(f"return !!({ready})"), PAGE_TIMEOUT_S, interval=0.25,
               message=f"{path} with its data")
    if path == "/":
        wait_until(lambda: all(browser.execute_script(
            f"return document.querySelectorAll('.map-badge.incident.p{p}').length") for p in (1, 2, 3, 4)),
            PAGE_TIMEOUT_S, interval=0.25, message="an incident badge of each priority on the map")
    violations = axe_violations(browser, impacts=NOT_MINOR)
    assert not violations, describe(violations)


@pytest.mark.parametrize("path, ready", [
    ("/requests", "document.querySelector('#requests-table .dash-spreadsheet')"),
    ("/alarms", "document.querySelector('.page-alarms .alarms-filters')"),
    ("/scorecards", "document.querySelector('.scorecard-card')"),
    ("/sensors", "document.querySelector('#sensors-table')"),
])
def test_the_pages_with_dash_controls_have_no_serious_accessibility_violation(served_city, browser, path, ready):
    """Dash 4's dropdowns, radio items, check lists and table row boxes (mended by assets/a11y.js)."""
    set_viewport(browser, *DESK)
    sign_in(browser, served_city, "admin", path)
    wait_until(lambda: browser.execute_script(f"return !!({ready})"), PAGE_TIMEOUT_S, interval=0.25,
               message=f"{path} with its controls")
    violations = axe_violations(browser, impacts=NOT_MINOR)
    assert not violations, describe(violations)
