"""Who may do what, in a real browser against `manage.py serve`: the sign-in page, a manager's
dispatch console without its buttons (and the server refusing the replayed callback), and display
links that survive a server restart and show their message once revoked."""
from __future__ import annotations

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.brokers import wait_until
from tests.e2e.conftest import PASSWORD, PEOPLE, sign_in, start_served_city, stop_served_city, text_of

PAGE_TIMEOUT_S = 20.0
SWITCHED_OFF = "This display has been switched off by the operations centre"


def _api(city, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, city.url("/api/v1" + path), headers={"Authorization": f"Bearer {city.admin_token}"},
                            timeout=10, **kwargs)


def _severe(browser) -> list[dict]:
    return [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def test_a_page_without_a_session_shows_the_sign_in_form_and_a_wrong_password_says_so(served_city, browser):
    browser.get(served_city.url("/alarms"))
    wait_until(lambda: "/login" in browser.current_url, PAGE_TIMEOUT_S, interval=0.1, message="the sign-in page")
    browser.find_element(By.ID, "signin-name").send_keys(PEOPLE["dispatcher"])
    browser.find_element(By.ID, "signin-password").send_keys("not the password")
    browser.find_element(By.ID, "signin-submit").click()
    alert = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "[role=alert]"), PAGE_TIMEOUT_S, interval=0.1,
                       message="the refusal")[0]
    assert "wrong user name or password" in alert.text
    browser.find_element(By.ID, "signin-password").send_keys(PASSWORD)
    browser.find_element(By.ID, "signin-submit").click()
    wait_until(lambda: browser.current_url.endswith("/alarms"), PAGE_TIMEOUT_S, interval=0.1,
               message="the page asked for, after sign-in")
    wait_until(lambda: PEOPLE["dispatcher"] in text_of(browser, ".shell-user"),
               PAGE_TIMEOUT_S, interval=0.2, message="the signed-in person in the header")
    browser.find_element(By.ID, "shell-sign-out").click()
    wait_until(lambda: "/login" in browser.current_url, PAGE_TIMEOUT_S, interval=0.1, message="signed out")
    # the refused sign-in answered 401 on purpose; nothing else may complain (a CSP violation would)
    assert not [e for e in _severe(browser) if "/login - Failed to load resource" not in e["message"]]


def test_a_manager_sees_no_dispatch_buttons_and_the_replayed_dispatch_callback_is_refused(served_city, browser):
    created = _api(served_city, "POST", "/incidents", json={
        "category": "health", "subCategory": "fall", "priority": "P2",
        "location": {"type": "Point", "coordinates": [24.9414, 60.1699]}, "description": "e2e: manager looks"})
    assert created.status_code == 201, created.text
    incident_id = created.json()["id"]
    sign_in(browser, served_city, "manager", "/dispatch")
    row = f'tr[data-incident="{incident_id}"]'
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, row), PAGE_TIMEOUT_S, interval=0.2,
               message="the incident in the manager's queue")
    assert "Read only" in browser.find_element(By.CLASS_NAME, "detail-actions").text
    assert not browser.find_element(By.ID, "dispatch-top-button").is_displayed()
    visible = browser.execute_script(  # one round trip: the live panels re-render every 2 s
        "return Array.from(document.querySelectorAll('button')).filter(function (b) { return b.offsetParent; })"
        ".map(function (b) { return b.innerText.trim(); })")
    assert not [text for text in visible
                if text.split()[0] in ("Send", "Return", "Dispatch", "Cancel", "Resolve…", "Resolve")], visible

    # the request the dispatch button would have sent, replayed with the manager's own session
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    dependencies = requests.get(served_city.url("/_dash-dependencies"), cookies=cookies, timeout=10).json()
    key = next(d["output"] for d in dependencies  # the page's own callback key (an allow_duplicate output in it)
               if d["output"].startswith("..dispatch-message.children...dispatch-message.className..."))
    outputs = [part.rsplit(".", 1) for part in key[2:-2].split("...")]
    body = {"output": key, "outputs": [{"id": ident, "property": prop} for ident, prop in outputs],
            "inputs": [{"id": "dispatch-intent", "property": "data",
                        "value": {"action": "dispatch-top-button", "target": None, "incident": incident_id,
                                  "at": 1}}],
            "state": [{"id": "dispatch-resolve-outcome", "property": "value", "value": None},
                      {"id": "dispatch-resolve-disposition", "property": "value", "value": None},
                      {"id": "dispatch-version", "property": "data", "value": 0}],
            "changedPropIds": ["dispatch-intent.data"]}
    replay = requests.post(served_city.url("/_dash-update-component"), json=body, cookies=cookies,
                           headers={"Origin": served_city.base_url}, timeout=10)
    assert replay.status_code == 200 and "Refused: the role 'manager' may not" in replay.text, replay.text
    anonymous = requests.post(served_city.url("/_dash-update-component"), json=body,
                              headers={"Origin": served_city.base_url}, timeout=10)
    assert anonymous.status_code == 401
    assert _api(served_city, "GET", f"/incidents/{incident_id}").json()["status"] == "new"
    assert not _severe(browser)


def _live(browser) -> bool:
    return browser.execute_script("return !!(window.cityopsLive && window.cityopsLive.receivedAt) && "
                                  "Date.now() - window.cityopsLive.receivedAt < 3000")


def test_a_display_link_survives_a_server_restart_and_a_revoked_one_says_it_was_switched_off(tmp_path, browser):
    city = start_served_city(tmp_path, demo=False)
    try:
        created = _api(city, "POST", "/displays", json={"name": "Control room wall", "page": "/wall",
                                                        "options": {"rotate": 30}})
        assert created.status_code == 201, created.text
        display = created.json()
        browser.get(display["url"])
        wait = WebDriverWait(browser, PAGE_TIMEOUT_S, poll_frequency=0.25)
        wait.until(lambda b: "/wall?display=" in b.current_url and _live(b))
        stop_served_city(city)
        wait.until(lambda b: [e for e in b.find_elements(By.ID, "connection-banner") if e.is_displayed()])
        city = start_served_city(tmp_path, demo=False, web_port=int(city.base_url.rsplit(":", 1)[1]),
                                 mqtt_port=city.mqtt_port, admin_token=city.admin_token)
        wait.until(lambda b: not b.find_element(By.ID, "connection-banner").is_displayed() and _live(b))
        assert "/login" not in browser.current_url
        seen = [d for d in _api(city, "GET", "/displays").json()["displays"] if d["id"] == display["id"]][0]
        assert seen["last_seen_at"] is not None

        browser.delete_all_cookies()  # a kiosk browser that lost its cookie reloads its page
        browser.refresh()
        wait.until(lambda b: _live(b) and "/login" not in b.current_url)

        assert _api(city, "DELETE", f"/displays/{display['id']}").status_code == 200
        overlay = wait.until(lambda b: [e for e in b.find_elements(By.ID, "display-off") if e.is_displayed()])[0]
        assert SWITCHED_OFF in overlay.text and "Control room wall" in overlay.text
        received = browser.execute_script("return window.cityopsLive.receivedAt")
        wait_until(lambda: browser.execute_script("return Date.now()") - received > 2500, 10, interval=0.25,
                   message="time to pass")
        assert browser.execute_script("return window.cityopsLive.receivedAt") == received  # no more data
        browser.refresh()
        wait.until(lambda b: SWITCHED_OFF in b.find_element(By.TAG_NAME, "body").text)
        assert "Control room wall" in browser.find_element(By.TAG_NAME, "body").text
        # expected: the callbacks that found the server down (or stopping: a health check answered as it stopped is
        # cut short, ERR_CONTENT_LENGTH_MISMATCH), and the refused ones after the revocation
        expected = ("the server did not respond", "Failed to fetch", "ERR_CONNECTION_REFUSED",
                    "ERR_CONTENT_LENGTH_MISMATCH", "status of 403")
        severe = [e for e in _severe(browser) if not any(text in e["message"] for text in expected)]
        assert not severe, "\n".join(e["message"][:600] for e in severe)
    finally:
        stop_served_city(city)
