"""The hotline loop in a real browser against ``manage.py serve`` (SQLite and PostgreSQL): an agent
takes a call on /requests, the department's staff accept and resolve it, the citizen's app answers
on MQTT, and the request shows closed with its rating; department staff see their queue only."""
from __future__ import annotations

import re

import requests
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.brokers import wait_until
from tests.e2e.conftest import sign_in
from tests.e2e.test_map import publish

PAGE_TIMEOUT_S = 20


def _fresh(read, default=None):
    """The page re-renders every 5 s: an element read across a re-render is read again."""
    try:
        return read()
    except StaleElementReferenceException:
        return default


def choose(browser, dropdown_id: str, text: str) -> None:
    """Types into the dropdown and takes the option; again if a slow page took the Enter before the
    options were filtered (the dropdown then shows something else)."""
    for _ in range(3):
        browser.find_element(By.ID, dropdown_id).click()
        ActionChains(browser).send_keys(text).perform()
        ActionChains(browser).send_keys(Keys.ENTER).perform()
        try:
            wait_until(lambda: text in _fresh(lambda: browser.find_element(By.ID, dropdown_id).text, ""), 5,
                       interval=0.2, message=f"{text!r} chosen in {dropdown_id}")
            return
        except AssertionError:
            ActionChains(browser).send_keys(Keys.ESCAPE).perform()
    raise AssertionError(f"could not choose {text!r} in {dropdown_id}")


def message(browser) -> str:
    return _fresh(lambda: browser.find_element(By.ID, "requests-message").text, "")


def card(browser) -> dict:
    """The request card's status, rating and text ({} while none is shown)."""
    def read():
        found = browser.find_elements(By.CSS_SELECTOR, ".request-card")
        if not found:
            return {}
        return {"status": found[0].get_attribute("data-status"),
                "satisfaction": found[0].get_attribute("data-satisfaction"), "text": found[0].text}
    return _fresh(read, {})


def step(browser, action: str, status: str) -> None:
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, f".request-{action}"), PAGE_TIMEOUT_S, interval=0.2,
               message=f"the {action} button")
    _fresh(lambda: browser.find_element(By.CSS_SELECTOR, f".request-{action}").click())
    wait_until(lambda: card(browser).get("status") == status, PAGE_TIMEOUT_S, interval=0.2,
               message=f"the request {status} (message: {message(browser)!r})")


def sign_out(browser, city) -> None:
    browser.get(city.url("/logout"))
    browser.delete_all_cookies()


def test_an_agent_takes_a_call_the_department_resolves_it_and_the_citizens_rating_closes_it(served_city, browser):
    sign_in(browser, served_city, "agent", "/requests")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#requests-map .leaflet-cityops-basemap-pane path"),
               PAGE_TIMEOUT_S, interval=0.2, message="the requests map")
    choose(browser, "requests-form-service", "Pothole")
    ActionChains(browser).move_to_element(browser.find_element(By.ID, "requests-map")).click().perform()
    wait_until(lambda: browser.find_element(By.ID, "requests-form-lat").get_attribute("value"), PAGE_TIMEOUT_S,
               interval=0.2, message="the map click to place the call")
    browser.find_element(By.ID, "requests-form-description").send_keys("e2e: deep pothole by the tram stop")
    browser.find_element(By.ID, "requests-form-submit").click()
    registered = wait_until(lambda: re.search(r"Registered (CO-\d+) \(#(\d+)\)", message(browser)), PAGE_TIMEOUT_S,
                            interval=0.2, message=lambda: f"the call registered (message: {message(browser)!r})")
    request_id, order_id = registered.group(1), registered.group(2)
    wait_until(lambda: card(browser).get("status") == "received", PAGE_TIMEOUT_S, interval=0.2,
               message="the new request's card")
    step(browser, "assign", "assigned")
    sign_out(browser, served_city)

    sign_in(browser, served_city, "department", f"/requests?order={order_id}")
    step(browser, "accept", "accepted")
    step(browser, "start", "in_progress")
    _fresh(lambda: browser.find_element(By.ID, "requests-action-text").send_keys("Filled with asphalt"))
    step(browser, "resolve", "resolved")

    publish(served_city.mqtt_port, f"city/requests/{request_id}/satisfaction",
            {"service_request_id": request_id, "satisfaction": "satisfied", "comment": "Quick work, thanks"})
    wait_until(lambda: card(browser).get("status") == "closed", 30, interval=0.3, message="the rated request closed")
    shown = card(browser)
    assert shown["satisfaction"] == "satisfied" and "Satisfied — “Quick work, thanks”" in shown["text"]
    assert "Filled with asphalt" in shown["text"]
    answer = requests.get(served_city.url(f"/open311/v2/requests/{request_id}.json"), timeout=5).json()[0]
    assert (answer["status"], answer["satisfaction"], answer["agency_responsible"]) == (
        "closed", "satisfied", "Roads and Streets")


def test_department_staff_see_only_their_departments_queue(served_city, browser):
    made = []
    for code in ("POT", "GRF"):  # roads, sanitation
        response = requests.post(served_city.url("/open311/v2/requests.json"), timeout=5, data={
            "api_key": served_city.admin_token, "service_code": code, "lat": 60.1699, "long": 24.9414,
            "description": f"e2e queue {code}"})
        assert response.status_code == 201, response.text
        made.append(response.json()[0]["service_request_id"])
    sign_in(browser, served_city, "agent", "/requests")
    for request_id in made:  # the agent sends both to their departments, in one go
        number = str(int(request_id.removeprefix("CO-")))
        row = f'//td[@data-dash-column="id" and normalize-space()="{number}"]/..//input[@type="checkbox"]'
        wait_until(lambda: browser.find_elements(By.XPATH, row), PAGE_TIMEOUT_S, interval=0.2,
                   message=f"{request_id} in the queue")
        _fresh(lambda: browser.find_element(By.XPATH, row).click())
    browser.find_element(By.ID, "requests-bulk-assign").click()
    wait_until(lambda: "Assigned 2 of 2" in message(browser), PAGE_TIMEOUT_S, interval=0.2,
               message=f"the bulk assignment (message: {message(browser)!r})")
    sign_out(browser, served_city)

    sign_in(browser, served_city, "department", "/requests")

    def queue() -> list[tuple[str, str]]:
        return _fresh(lambda: [(row.find_element(By.CSS_SELECTOR, 'td[data-dash-column="id"]').text,
                                row.find_element(By.CSS_SELECTOR, 'td[data-dash-column="department"]').text)
                               for row in browser.find_elements(By.CSS_SELECTOR, ".requests-queue tbody tr")
                               if row.find_elements(By.CSS_SELECTOR, "td")], [])

    roads, graffiti = (str(int(r.removeprefix("CO-"))) for r in made)
    wait_until(lambda: roads in [number for number, _ in queue()], PAGE_TIMEOUT_S, interval=0.2,
               message="the roads request in the department's queue")
    shown = queue()
    assert graffiti not in [number for number, _ in shown]
    assert {department for _, department in shown} == {"Roads and Streets"}
    assert browser.find_element(By.ID, "requests-filter-department").get_attribute("disabled") is not None
    browser.get(served_city.url(f"/requests?order={graffiti}"))  # another department's request, by its link
    wait_until(lambda: _fresh(lambda: any("No such request in your queue" in shown.text
                                          for shown in browser.find_elements(By.ID, "requests-detail")), False),
               PAGE_TIMEOUT_S, interval=0.2, message="the other department's request withheld")
    assert not browser.find_elements(By.CSS_SELECTOR, ".request-card")
