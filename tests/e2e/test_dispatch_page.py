"""The dispatch console in a real browser against `manage.py serve` (demo simulator answering commands)."""
from __future__ import annotations

import requests
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By

from tests.brokers import wait_until
from tests.e2e.conftest import PEOPLE, sign_in

PAGE_TIMEOUT_S = 20.0


def _api(city, method: str, path: str, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {city.admin_token}"}
    return requests.request(method, city.url("/api/v1" + path), headers=headers, timeout=10, **kwargs)


def _fresh(action, timeout: float = 10.0):
    """Runs ``action`` again when the live page re-rendered the element under it (every 2 s)."""
    def attempt():
        try:
            return (action(),)
        except StaleElementReferenceException:
            return None
    return wait_until(attempt, timeout, interval=0.1, message="a stable element")[0]


def _text(browser, css: str) -> str:
    try:
        return " ".join(element.text for element in browser.find_elements(By.CSS_SELECTOR, css))
    except Exception:  # the element was re-rendered between find and read
        return ""


def _units_reporting(city) -> bool:
    """The simulator subscribes to commands before it publishes: a reported position means it listens."""
    response = _api(city, "GET", "/units")
    return response.status_code == 200 and all(u["position_at"] for u in response.json()["units"]
                                               if u["kind"] == "ambulance")


def test_dispatcher_selects_an_incident_dispatches_with_d_and_sees_the_unit_go(served_city, browser):
    wait_until(lambda: _units_reporting(served_city), 30, interval=0.3, message="the simulated units on the air")
    created = _api(served_city, "POST", "/incidents", json={
        "category": "health", "subCategory": "heartAttack", "priority": "P1",
        "location": {"type": "Point", "coordinates": [24.9414, 60.1699]},
        "description": "e2e: man collapsed", "address": "Rautatientori"})
    assert created.status_code == 201, created.text
    incident_id = created.json()["id"]

    sign_in(browser, served_city, "dispatcher", "/dispatch")
    row = f'tr[data-incident="{incident_id}"]'
    # read until a render is caught whole: the queue re-renders every 2 s, and a row read across
    # a re-render reads as empty (_text)
    wait_until(lambda: "heartAttack" in _text(browser, row), PAGE_TIMEOUT_S, interval=0.2,
               message="the incident in the queue")
    _fresh(lambda: browser.find_element(By.CSS_SELECTOR, row).click())
    wait_until(lambda: f"#{incident_id}" in _text(browser, ".detail-head")
               and "selected" in _fresh(lambda: browser.find_element(By.CSS_SELECTOR, row).get_attribute("class"))
               and browser.find_elements(By.CSS_SELECTOR, ".candidate-row"), PAGE_TIMEOUT_S, interval=0.2,
               message="its detail with recommended units")
    top_unit = _fresh(lambda: browser.find_element(By.CSS_SELECTOR, ".candidate-row .mono").text)
    assert top_unit.startswith("amb-")
    wait_until(lambda: _fresh(lambda: browser.find_element(By.ID, "dispatch-top-button").is_enabled()), PAGE_TIMEOUT_S,
               interval=0.2, message="the dispatch button")

    browser.find_element(By.TAG_NAME, "body").send_keys("d")  # the dispatcher's shortcut
    wait_until(lambda: f"dispatched to #{incident_id}" in _text(browser, "#dispatch-message"), PAGE_TIMEOUT_S,
               interval=0.2, message=f"the confirmation; message: {_text(browser, '#dispatch-message')!r}")
    unit_id = _api(served_city, "GET", f"/incidents/{incident_id}").json()["unit_id"]
    assert unit_id == top_unit

    def board_status() -> str:
        for board_row in browser.find_elements(By.CSS_SELECTOR, "#dispatch-units tr.unit-row"):
            try:
                cells = board_row.find_elements(By.TAG_NAME, "td")
                if cells and cells[0].text.split("\n")[0] == unit_id:
                    return cells[2].text + " " + cells[4].text
            except Exception:
                return ""
        return ""

    seen = wait_until(lambda: (lambda s: s if any(word in s for word in ("Dispatched", "En route", "On scene"))
                               else None)(board_status()), PAGE_TIMEOUT_S, interval=0.2,
                      message="the unit's new status on the board")
    assert f"#{incident_id}" in seen
    # the simulator accepts: the incident moves on by itself (en route, or already on scene)
    wait_until(lambda: _api(served_city, "GET", f"/incidents/{incident_id}").json()["status"]
               in ("en_route", "on_scene"), 30, interval=0.3, message="the simulator's acceptance")
    wait_until(lambda: any(w in board_status() for w in ("En route", "On scene")), PAGE_TIMEOUT_S, interval=0.3,
               message="en route on the board")
    timeline = _api(served_city, "GET", f"/incidents/{incident_id}").json()["timeline"]
    assert [e["kind"] for e in timeline][:3] == ["created", "dispatched", "status"]
    assert timeline[1]["actor"] == PEOPLE["dispatcher"]  # the signed-in person, in the timeline and audit
    # N opens the new-incident form, Escape closes it
    form_open = lambda: "hidden" not in _fresh(lambda: browser.find_element(By.ID, "dispatch-form")  # noqa: E731
                                               .get_attribute("class"))
    browser.find_element(By.TAG_NAME, "body").send_keys("n")
    wait_until(form_open, PAGE_TIMEOUT_S, interval=0.2, message="the new-incident form")
    browser.find_element(By.ID, "dispatch-form-description").send_keys("\ue00c")  # Escape
    wait_until(lambda: not form_open(), PAGE_TIMEOUT_S, interval=0.2, message="the form to close")
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors
