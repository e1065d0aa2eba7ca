"""The dispatch console in a real browser against `manage.py serve` (demo simulator answering commands)."""
from __future__ import annotations

import re
import time
from datetime import datetime, timezone

import pytest
import requests
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.brokers import wait_until
from tests.e2e.conftest import PEOPLE, sign_in, text_of

PAGE_TIMEOUT_S = 45.0  # four test workers share 2 cores with the served city and its browser


def _api(city, method: str, path: str, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {city.admin_token}"}
    return requests.request(method, city.url("/api/v1" + path), headers=headers, timeout=10, **kwargs)


def _click(browser, css: str) -> bool:
    """Clicks the element in one script. Found and then clicked over WebDriver, the queue's row was re-rendered
    (every 2 s) in between, again and again on a loaded machine (stale for 30 s in a series run)."""
    return browser.execute_script("var e = document.querySelector(arguments[0]); if (e) { e.click(); } return !!e;",
                                  css)


def _attribute(browser, css: str, name: str) -> str:
    """An attribute of the element, read in one script ("" without the element or the attribute)."""
    return browser.execute_script("var e = document.querySelector(arguments[0]);"
                                  "return (e && e.getAttribute(arguments[1])) || '';", css, name)


def _enabled(browser, css: str) -> bool:
    """Whether the element is there and not disabled, read in one script."""
    return browser.execute_script("var e = document.querySelector(arguments[0]); return !!e && !e.disabled;", css)


def _warnings(city) -> str:
    """The served city's last warnings and errors (its log), for a timeout's message."""
    lines = [line for line in city.log_tail(400).splitlines() if any(
        word in line for word in ("WARNING", "ERROR", "Traceback", "Error:"))]
    return "\n".join(lines[-15:]) or "none"


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
    wait_until(lambda: "Heart attack" in text_of(browser, row), PAGE_TIMEOUT_S, interval=0.2,
               message="the incident in the queue")
    wait_until(lambda: _click(browser, row), PAGE_TIMEOUT_S, interval=0.2, message="the row to click")
    wait_until(lambda: f"#{incident_id}" in text_of(browser, ".detail-head")
               and "selected" in _attribute(browser, row, "class")
               and text_of(browser, ".candidate-row .mono"), PAGE_TIMEOUT_S, interval=0.2,
               message="its detail with recommended units")
    top_unit = text_of(browser, ".candidate-row .mono").split()[0]
    assert top_unit.startswith("amb-")
    wait_until(lambda: _enabled(browser, "#dispatch-top-button"), PAGE_TIMEOUT_S, interval=0.2,
               message="the dispatch button")

    browser.find_element(By.TAG_NAME, "body").send_keys("d")  # the dispatcher's shortcut
    wait_until(lambda: f"dispatched to #{incident_id}" in text_of(browser, "#dispatch-message"), PAGE_TIMEOUT_S,
               interval=0.2, message=f"the confirmation; message: {text_of(browser, '#dispatch-message')!r}")
    unit_id = _api(served_city, "GET", f"/incidents/{incident_id}").json()["unit_id"]
    assert unit_id == top_unit

    def board_status() -> str:  # in one script, as _text
        return browser.execute_script("""
            var rows = document.querySelectorAll('#dispatch-units tr.unit-row');
            for (var i = 0; i < rows.length; i++) {
                var cells = rows[i].querySelectorAll('td');
                if (cells.length > 4 && cells[0].innerText.split('\\n')[0] === arguments[0]) {
                    return cells[2].innerText + ' ' + cells[4].innerText; } }
            return '';""", unit_id)

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
    form_open = lambda: "hidden" not in _attribute(browser, "#dispatch-form", "class")  # noqa: E731
    browser.find_element(By.TAG_NAME, "body").send_keys("n")
    wait_until(form_open, PAGE_TIMEOUT_S, interval=0.2, message="the new-incident form")
    browser.find_element(By.ID, "dispatch-form-description").send_keys("\ue00c")  # Escape
    wait_until(lambda: not form_open(), PAGE_TIMEOUT_S, interval=0.2, message="the form to close")
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors


def _create(city, **changes) -> int:
    body = {"category": "health", "subCategory": "heartAttack", "priority": "P1",
            "location": {"type": "Point", "coordinates": [24.9414, 60.1699]}, "description": "e2e", **changes}
    created = _api(city, "POST", "/incidents", json=body)
    assert created.status_code == 201, created.text
    return created.json()["id"]


def _incident(city, incident_id: int) -> dict:
    return _api(city, "GET", f"/incidents/{incident_id}").json()


def _shown(browser) -> str:
    """The incident the detail panel shows (its head's data-shown-incident), "" between renders."""
    try:
        heads = browser.find_elements(By.CSS_SELECTOR, "#dispatch-detail [data-shown-incident]")
        return heads[0].get_attribute("data-shown-incident") if heads else ""
    except StaleElementReferenceException:
        return ""


def _stays(condition, seconds: float, message: str) -> None:
    """``condition`` holds throughout ``seconds`` (a bounded window for something that must NOT happen)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert condition(), message
        time.sleep(0.2)


def _cancel_waiting_urgent(city) -> None:
    """Cancels the P1/P2 incidents still waiting (only tests create them; citizen reports are P3/P4), so
    that the incidents a test creates are the first of the queue."""
    for incident in _api(city, "GET", "/incidents?status=new").json()["incidents"]:
        if incident["priority"] <= 2:
            _api(city, "POST", f"/incidents/{incident['id']}/cancel")


def _open_console_on(browser, city, incident_id: int) -> None:
    sign_in(browser, city, "dispatcher", "/dispatch")
    row = f'tr[data-incident="{incident_id}"]'
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, row), PAGE_TIMEOUT_S, interval=0.2,
               message=f"incident #{incident_id} in the queue")
    wait_until(lambda: _click(browser, row), PAGE_TIMEOUT_S, interval=0.2, message="the row to click")
    wait_until(lambda: _shown(browser) == str(incident_id), PAGE_TIMEOUT_S, interval=0.2,
               message=f"the detail of #{incident_id}")


def test_keys_typed_into_the_new_incident_form_right_after_n_are_text_never_shortcuts(served_city, browser):
    incident_id = _create(served_city, description="e2e: typing after N")
    _open_console_on(browser, served_city, incident_id)
    wait_until(lambda: _enabled(browser, "#dispatch-top-button") and _enabled(browser, "#dispatch-cancel-button"),
               PAGE_TIMEOUT_S, interval=0.2, message="dispatch and cancel possible for the incident")
    typed = "Man collapsed, cold and dizzy; d c dispatch cancel"
    # a fast typist: N and the words in one burst, no pause for the form to appear
    ActionChains(browser).send_keys("n" + typed).perform()
    description = browser.find_element(By.ID, "dispatch-form-description")
    wait_until(lambda: description.get_attribute("value") == typed, PAGE_TIMEOUT_S, interval=0.1,
               message=f"every key in the description (it has {description.get_attribute('value')!r})")
    assert "hidden" not in browser.find_element(By.ID, "dispatch-form").get_attribute("class")
    _stays(lambda: _incident(served_city, incident_id)["status"] == "new", 3,
           "a key typed into the form dispatched or cancelled the incident")
    timeline = [entry["kind"] for entry in _incident(served_city, incident_id)["timeline"]]
    assert timeline == ["created"]
    assert "dispatched" not in text_of(browser, "#dispatch-message")
    ActionChains(browser).send_keys(Keys.ESCAPE).perform()
    wait_until(lambda: "hidden" in browser.find_element(By.ID, "dispatch-form").get_attribute("class"),
               PAGE_TIMEOUT_S, interval=0.1, message="Escape to close the form")
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors
    _api(served_city, "POST", f"/incidents/{incident_id}/cancel")


def test_after_a_dispatch_the_panel_stays_on_the_incident_and_d_acts_only_on_the_one_shown(served_city, browser):
    _cancel_waiting_urgent(served_city)
    first = _create(served_city, category="security", subCategory="robbery", description="e2e: first")
    second = _create(served_city, category="security", subCategory="assault", description="e2e: second")
    sign_in(browser, served_city, "dispatcher", "/dispatch")
    # no row clicked: the panel shows the first of the queue
    wait_until(lambda: _shown(browser) == str(first), PAGE_TIMEOUT_S, interval=0.2,
               message=f"#{first} shown first (shown: {_shown(browser)!r})")
    wait_until(lambda: _enabled(browser, "#dispatch-top-button"),
               PAGE_TIMEOUT_S, interval=0.2, message="the dispatch button")
    browser.find_element(By.TAG_NAME, "body").send_keys("d")
    wait_until(lambda: f"dispatched to #{first}" in text_of(browser, "#dispatch-message"), PAGE_TIMEOUT_S,
               interval=0.2, message=f"the confirmation; message: {text_of(browser, '#dispatch-message')!r}")
    # the panel re-renders the dispatched incident (its status moved on) and stays on it
    wait_until(lambda: _shown(browser) == str(first) and "New" not in text_of(browser, ".detail-head .badge"),
               PAGE_TIMEOUT_S, interval=0.2,
               message=f"#{first} still shown after its dispatch (shown: {_shown(browser)!r})")
    assert not _enabled(browser, "#dispatch-top-button")
    browser.find_element(By.TAG_NAME, "body").send_keys("d")  # D again: the incident shown is not waiting
    _stays(lambda: _incident(served_city, second)["status"] == "new" and _shown(browser) in ("", str(first)), 3,
           "D dispatched an incident the dispatcher was not looking at")
    _api(served_city, "POST", f"/incidents/{second}/cancel")
    _api(served_city, "POST", f"/incidents/{first}/cancel")


def test_dispatcher_resolves_the_incident_from_the_console_and_its_unit_is_released(served_city, browser):
    incident_id = _create(served_city, category="fire", subCategory="buildingFire", description="e2e: resolve")
    _open_console_on(browser, served_city, incident_id)
    wait_until(lambda: _enabled(browser, "#dispatch-top-button"),
               PAGE_TIMEOUT_S, interval=0.2, message="the dispatch button")
    browser.find_element(By.TAG_NAME, "body").send_keys("d")
    wait_until(lambda: _incident(served_city, incident_id)["unit_id"], PAGE_TIMEOUT_S, interval=0.2,
               message=lambda: f"the dispatch; message: {text_of(browser, '#dispatch-message')!r}, shown: "
                               f"{_shown(browser)!r}, status: {_incident(served_city, incident_id)['status']!r}, "
                               f"candidates: {text_of(browser, '.candidate-row .mono')!r}; the served city's "
                               f"warnings: {_warnings(served_city)}")
    unit_id = _incident(served_city, incident_id)["unit_id"]
    wait_until(lambda: _enabled(browser, "#dispatch-resolve-button"),
               PAGE_TIMEOUT_S, interval=0.2, message="the resolve button")
    browser.find_element(By.ID, "dispatch-resolve-button").click()
    outcome = browser.find_element(By.ID, "dispatch-resolve-outcome")
    wait_until(lambda: browser.switch_to.active_element == outcome, PAGE_TIMEOUT_S, interval=0.1,
               message="the outcome field focused")
    outcome.send_keys("Kitchen fire put out, nobody hurt")
    browser.find_element(By.XPATH, "//*[@id='dispatch-resolve-disposition']//label[contains(., 'Resolved on scene')]"
                         ).click()
    browser.find_element(By.ID, "dispatch-resolve-submit").click()
    wait_until(lambda: f"#{incident_id} resolved" in text_of(browser, "#dispatch-message"), PAGE_TIMEOUT_S,
               interval=0.2, message=f"the confirmation; message: {text_of(browser, '#dispatch-message')!r}")
    detail = _incident(served_city, incident_id)
    assert detail["status"] == "closed" and detail["unit_id"] is None
    resolution = detail["timeline"][-1]
    assert resolution["kind"] == "resolved" and resolution["actor"] == PEOPLE["dispatcher"]
    said = resolution["detail"].pop("say")  # what was said, for a screen in another language (services/i18n.py)
    assert resolution["detail"] == {"outcome": "Kitchen fire put out, nobody hurt",
                                    "disposition": "resolved_on_scene", "released": [unit_id]}
    assert said["with"]["disposition"] == {"term": "disposition", "code": "resolved_on_scene"}
    unit = next(u for u in _api(served_city, "GET", "/units").json()["units"] if u["id"] == unit_id)
    assert unit["status"] in ("returning", "available") and unit["incident_id"] is None
    # the panel stays on the closed incident and shows who resolved it
    wait_until(lambda: _shown(browser) == str(incident_id) and "Closed" in text_of(browser, ".detail-head")
               and "Kitchen fire put out" in text_of(browser, ".timeline"), PAGE_TIMEOUT_S, interval=0.2,
               message="the resolution on the incident's timeline")
    assert PEOPLE["dispatcher"] in text_of(browser, ".timeline .tl-resolved")
    # and how long each step took, in the one duration format
    steps = text_of(browser, ".facts.steps")
    assert "Call to dispatch" in steps and "Call to resolved" in steps, steps
    assert re.search(r"Call to resolved\s+\d+ (s|min)", steps), steps
    assert "hidden" in browser.find_element(By.ID, "dispatch-resolve-form").get_attribute("class")


def test_dispatcher_creates_an_incident_by_typing_an_address_and_picking_the_suggestion(served_city, browser):
    sign_in(browser, served_city, "dispatcher", "/dispatch")
    wait_until(lambda: _enabled(browser, "#dispatch-new-button"),
               PAGE_TIMEOUT_S, interval=0.2, message="the console")
    def form_open() -> bool:
        return "hidden" not in browser.find_element(By.ID, "dispatch-form").get_attribute("class")

    # no location: the dispatcher is told what to do, in words
    browser.find_element(By.TAG_NAME, "body").send_keys("n")
    wait_until(form_open, PAGE_TIMEOUT_S, interval=0.1, message="the new-incident form")
    browser.find_element(By.ID, "dispatch-form-description").send_keys("e2e: man collapsed at the shop door")
    browser.find_element(By.ID, "dispatch-form-submit").click()
    wait_until(lambda: "Choose a location: type an address or click the map" in text_of(browser, "#dispatch-message"),
               PAGE_TIMEOUT_S, interval=0.2, message=f"the advice; message: {text_of(browser, '#dispatch-message')!r}")
    # typing part of the address offers the city's own places; the dispatcher picks one
    address = browser.find_element(By.ID, "dispatch-form-address")
    address.send_keys("mannerheimintie 5")
    wait_until(lambda: "Mannerheimintie 5" in text_of(browser, "#dispatch-form-places .place-name"), PAGE_TIMEOUT_S,
               interval=0.2, message="the suggestions")
    option = next(o for o in browser.find_elements(By.CSS_SELECTOR, "#dispatch-form-places .place-option")
                  if o.find_element(By.CSS_SELECTOR, ".place-name").text == "Mannerheimintie 5")
    option.click()
    wait_until(lambda: "Location: Mannerheimintie 5" in text_of(browser, "#dispatch-form-where"), PAGE_TIMEOUT_S,
               interval=0.2, message=f"the location set; hint: {text_of(browser, '#dispatch-form-where')!r}")
    assert not browser.find_elements(By.CSS_SELECTOR, "#dispatch-form-places .place-option")
    browser.find_element(By.ID, "dispatch-form-submit").click()
    wait_until(lambda: re.search(r"Incident #\d+ created", text_of(browser, "#dispatch-message")), PAGE_TIMEOUT_S,
               interval=0.2, message=f"the creation; message: {text_of(browser, '#dispatch-message')!r}")
    incident_id = int(re.search(r"#(\d+)", text_of(browser, "#dispatch-message")).group(1))
    created = _incident(served_city, incident_id)
    place = _api(served_city, "GET", "/places?q=Mannerheimintie 5&limit=1").json()["places"][0]
    assert created["address"] == "Mannerheimintie 5"
    assert created["location"]["coordinates"] == pytest.approx(place["location"]["coordinates"], abs=1e-6)
    # the timeline names the signed-in person, on screen and in the API
    assert created["timeline"][0]["actor"] == PEOPLE["dispatcher"]
    wait_until(lambda: _shown(browser) == str(incident_id) and PEOPLE["dispatcher"] in text_of(browser, ".timeline"),
               PAGE_TIMEOUT_S, interval=0.2, message="the new incident's timeline naming the dispatcher")
    assert "Mannerheimintie 5" in text_of(browser, f'tr[data-incident="{incident_id}"]')
    assert browser.find_element(By.ID, "dispatch-form-address").get_attribute("value") == ""  # the next starts empty
    # the browser formats as the server does (one vocabulary)
    from services.vocabulary import duration, site_time

    seconds = [0, 45, 245, 900, 4320, 273600]
    assert browser.execute_script("return arguments[0].map(window.cityopsFormat.duration)", seconds) == \
        [duration(s) for s in seconds]
    moment = datetime(2026, 12, 1, 21, 38, 5, tzinfo=timezone.utc)
    assert browser.execute_script("return window.cityopsFormat.siteTime(arguments[0], true)",
                                  moment.timestamp() * 1000) == site_time(moment, "Europe/Helsinki", seconds=True)
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors
    _api(served_city, "POST", f"/incidents/{incident_id}/cancel")


def test_the_queue_keeps_updating_when_each_answer_takes_longer_than_the_refresh(served_city, browser):
    """A slow server (here: 2.5 s of network latency against the console's 2 s refresh) must not freeze
    the page: a tick superseding an unanswered request made the renderer drop every answer."""
    sign_in(browser, served_city, "dispatcher", "/dispatch")
    wait_until(lambda: text_of(browser, "#dispatch-queue").strip(), PAGE_TIMEOUT_S, interval=0.2, message="the queue")
    browser.set_network_conditions(offline=False, latency=2500, download_throughput=4 * 1024 * 1024,
                                   upload_throughput=4 * 1024 * 1024)
    try:
        time.sleep(3)  # let the slow answers start overlapping the ticks
        incident_id = _create(served_city, description="e2e: created while the server is slow")
        wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, f'tr[data-incident="{incident_id}"]'), 40,
                   interval=0.5, message=f"incident #{incident_id} in the queue of a slow page")
    finally:
        browser.delete_network_conditions()
