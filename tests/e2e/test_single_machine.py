"""One machine, one command: `python manage.py serve` with no broker, the demo city, the API and the pages."""
from __future__ import annotations

import json
import time
from urllib.parse import urlparse

import requests
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.brokers import wait_until
from tests.e2e.conftest import sign_in

FLOW_DEADLINE_S = 30.0
PAGE_TIMEOUT_S = 20.0
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
LOCAL_SCHEMES = {"data", "blob"}


def _health(city) -> dict:
    city.assert_alive()
    try:
        response = requests.get(city.url("/api/v1/health"), timeout=2)
    except requests.RequestException:
        return {}
    return response.json() if response.status_code in (200, 503) else {}  # 503: degraded, still JSON


def test_serve_with_no_broker_starts_the_embedded_one_and_observations_flow_within_30_s(served_city):
    remaining = FLOW_DEADLINE_S - (time.monotonic() - served_city.started_at)
    latest: dict = {}

    def flowing() -> bool:
        latest.update(_health(served_city))
        return bool(latest.get("broker") and latest.get("db") and (latest.get("ingest") or {}).get("stored", 0) > 0)

    try:
        wait_until(flowing, max(remaining, 0.0), interval=0.25, message="stored observations, broker and db ok")
    except AssertionError as error:
        raise AssertionError(f"{error}; last health: {latest}\n{served_city.log_tail()}") from None
    assert latest["status"] == "ok"

    log = served_city.log_path.read_text(errors="replace")
    assert "starting the embedded one" in log, served_city.log_tail()
    assert "embedded MQTT broker (amqtt) listening on 127.0.0.1:" in log, served_city.log_tail()


def _assert_json_error(response: requests.Response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["Content-Type"].startswith("application/json"), response.headers["Content-Type"]
    error = response.json()["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in response.text
    if field is not None:
        assert error.get("field") == field, error
    return error


def test_devices_api_lists_the_demo_city_devices_with_a_token(served_city):
    token = served_city.admin_token

    listed = served_city.get("/api/v1/devices", token=token)
    assert listed.status_code == 200, listed.text[:500]
    body = listed.json()
    devices = body["devices"]
    assert body["count"] == len(devices) > 0
    types = {device["type"] for device in devices}
    for expected in ("TrafficFlowObserved", "AirQualityObserved", "WaterObserved", "WeatherObserved", "Vehicle"):
        assert expected in types, f"no {expected} device among {sorted(types)}"
    for device in devices:
        assert {"id", "type", "location", "last_observed_at", "stale", "status"} <= device.keys(), device

    _assert_json_error(served_city.get("/api/v1/devices"), 401)
    _assert_json_error(served_city.get("/api/v1/devices", token="not-a-token"), 401)
    _assert_json_error(served_city.get("/api/v1/devices/nope", token=token), 404)

    traffic_id = next(device["id"] for device in devices if device["type"] == "TrafficFlowObserved")
    _assert_json_error(served_city.get(f"/api/v1/devices/{traffic_id}/observations",
                                       params={"since": "garbage"}, token=token), 400, field="since")
    history = served_city.get(f"/api/v1/devices/{traffic_id}/observations", token=token)
    assert history.status_code == 200, history.text[:500]
    assert history.json()["device_id"] == traffic_id

    document = served_city.get("/api/v1/openapi.json")
    assert document.status_code == 200
    paths = document.json()["paths"]
    for path in ("/health", "/devices", "/devices/{device_id}/observations"):
        assert path in paths, f"{path} missing from OpenAPI paths {sorted(paths)}"


# ---------------------------------------------------------------- browser

def _figure_values(driver) -> dict[str, str]:
    """The status page's figure cards as {label: value} (DOM text: the labels are upper-cased by CSS)."""
    values = {}
    try:
        for card in driver.find_elements(By.CSS_SELECTOR, "#status-figures .figure-card"):
            label = card.find_element(By.CSS_SELECTOR, ".figure-label").get_attribute("textContent").strip()
            values[label] = card.find_element(By.CSS_SELECTOR, ".figure-value").get_attribute("textContent").strip()
    except StaleElementReferenceException:  # re-rendered by the next tick; try again
        return {}
    return values


def _status_shows_flow(driver):
    figures = _figure_values(driver)
    stored = figures.get("Stored", "").replace(",", "").replace("\u202f", "")
    if figures.get("Broker") == "connected" and stored.isdigit() and int(stored) > 0:
        return figures
    return False


def _sensor_rows(driver):
    """The rows' texts in one round trip: read one by one, a table of ~100 rows re-rendered every 5 s
    goes stale under the reader on a loaded machine before the last row is read."""
    rows = driver.execute_script("return Array.from(document.querySelectorAll('#sensors-table tr:has(td)'))"
                                 ".map(function (row) { return row.innerText; })")
    return rows or False


def _requested_urls(performance_log: list[dict]) -> list[str]:
    """Every URL the pages requested (the browser's own chrome:// new-tab page is not ours)."""
    urls = []
    for entry in performance_log:
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message.get("method") == "Network.requestWillBeSent":
            if not params.get("documentURL", "").startswith("chrome://"):
                urls.append(params["request"]["url"])
        elif message.get("method") == "Network.webSocketCreated":
            urls.append(params["url"])
    return urls


def _is_local(url: str) -> bool:
    parsed = urlparse(url)
    if parsed.scheme in LOCAL_SCHEMES:
        return True
    return parsed.scheme in ("http", "https", "ws", "wss") and parsed.hostname in LOCAL_HOSTS


def test_status_and_sensors_pages_load_without_console_errors_and_request_nothing_outside_localhost(
        served_city, browser, tmp_path):
    console: list[dict] = []
    performance: list[dict] = []
    browser.get_log("performance")  # drop what the browser did on its own before the first page

    sign_in(browser, served_city, "admin", "/status")
    try:
        figures = WebDriverWait(browser, PAGE_TIMEOUT_S, poll_frequency=0.25).until(
            _status_shows_flow, f"the status page never showed a connected broker and stored observations "
                                f"(screenshot {tmp_path / 'status.png'})")
    finally:
        browser.save_screenshot(str(tmp_path / "status.png"))
    assert figures["Broker"] == "connected"
    console += browser.get_log("browser")
    performance += browser.get_log("performance")

    browser.get(served_city.url("/sensors"))
    try:
        rows = WebDriverWait(browser, PAGE_TIMEOUT_S, poll_frequency=0.25).until(
            _sensor_rows, f"the sensors page never showed device rows (screenshot {tmp_path / 'sensors.png'})")
    finally:
        browser.save_screenshot(str(tmp_path / "sensors.png"))
    assert any(row.startswith("traffic-") for row in rows), rows[:5]
    assert browser.find_element(By.CSS_SELECTOR, "#sensors-table th").text == "Device"
    console += browser.get_log("browser")
    performance += browser.get_log("performance")

    severe = [entry for entry in console if entry.get("level") == "SEVERE"]
    assert not severe, f"console errors: {severe}\nscreenshots in {tmp_path}"

    urls = _requested_urls(performance)
    assert any(url.startswith(served_city.base_url + "/_dash-update-component") for url in urls), urls
    outside = sorted({url for url in urls if not _is_local(url)})
    assert not outside, f"requests outside localhost: {outside}"


def test_a_served_city_whose_port_was_taken_before_it_bound_it_starts_on_another(tmp_path, monkeypatch):
    """Test support: a port chosen free can be taken by another process before the server binds it (a series
    run: "Address already in use", four map tests errored). The ports are chosen below the kernel's ephemeral
    range, where outgoing connections never land, and a start that found its port taken chooses again."""
    import socket

    from tests import brokers
    from tests.e2e import conftest

    low = brokers._ephemeral_low()
    assert all(brokers.free_port() < low for _ in range(50))
    with socket.socket() as taker:
        taker.bind(("127.0.0.1", 0))
        taker.listen()
        taken = taker.getsockname()[1]
        ports = iter([taken])
        monkeypatch.setattr(conftest, "free_port", lambda: next(ports, None) or brokers.free_port())
        city = conftest.start_served_city(tmp_path, demo=False)
        try:
            assert not city.base_url.endswith(f":{taken}")
            assert "Address already in use" in city.log_path.read_text(errors="replace")  # the first start's
            assert city.get("/api/v1/health/live").status_code == 200
        finally:
            conftest.stop_served_city(city)
