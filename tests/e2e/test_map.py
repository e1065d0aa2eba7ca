"""The operations map in headless Chromium against a running CityOps with a real broker.

The city runs without its simulator; the test is the only publisher, so it controls what the
map should show and when the feed stops. Layers turn stale after 6 s here (CITYOPS_LAYER_STALE_S).
"""
from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timezone

import paho.mqtt.client as mqtt
import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.support.ui import WebDriverWait

from services.city import load_city
from services.config import CITIES_DIR
from tests.e2e.conftest import fresh_database, sign_in, start_served_city, stop_served_city

STALE_S = 6
LAYERS = ["Traffic", "Air quality", "Flooding", "Incidents", "Citizen requests", "Units"]
JAMMED = "#d7261e"
NO_DATA = "#9aa5b1"


@pytest.fixture(scope="module")
def quiet_city(tmp_path_factory, served_database):
    workdir = tmp_path_factory.mktemp(f"quiet-city-{served_database}")
    with fresh_database(served_database, workdir) as database_url:
        city = start_served_city(workdir, demo=False, database_url=database_url,
                                 extra_env={"CITYOPS_LAYER_STALE_S": str(STALE_S)})
        city.workdir = workdir
        yield city
        stop_served_city(city)


def publish(port: int, topic: str, entity: dict) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"e2e-{uuid.uuid4().hex[:8]}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.publish(topic, json.dumps(entity), qos=1).wait_for_publish(10)
    client.loop_stop()
    client.disconnect()


def traffic_reading(site: dict, speed: float) -> dict:
    return {"id": f"urn:ngsi-ld:TrafficFlowObserved:{site['device_id']}", "type": "TrafficFlowObserved",
            "dateObserved": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
            "location": site["geometry"],
            "averageVehicleSpeed": speed, "intensity": 4, "occupancy": 0.6}


def tip_texts(browser) -> list[str]:
    return browser.execute_script(
        "return Array.from(document.querySelectorAll('.map-tip')).map(function (t) { return t.textContent; })")


def severe_console_entries(browser) -> list[str]:
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def requested_urls(browser) -> list[str]:
    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def test_map_shows_its_six_layers_without_console_errors_or_requests_outside_localhost(quiet_city, browser):
    sign_in(browser, quiet_city, "manager", "/")
    wait = WebDriverWait(browser, 20, poll_frequency=0.25)
    wait.until(lambda b: len(b.find_elements("css selector", ".leaflet-control-layers-overlays label")) == len(LAYERS))
    names = [label.text.strip() for label in
             browser.find_elements("css selector", ".leaflet-control-layers-overlays label")]
    assert names == LAYERS
    for name in ("traffic", "air", "flood", "incidents", "requests", "units"):
        assert browser.find_element("id", f"map-legend-{name}")
    # the city is drawn, in a pane beneath the live layers whichever loaded first
    wait.until(lambda b: b.find_elements("css selector", ".leaflet-cityops-basemap-pane canvas"))
    basemap_z, overlay_z = browser.execute_script("""return [".leaflet-cityops-basemap-pane", ".leaflet-overlay-pane"]
        .map(function (s) { return Number(getComputedStyle(document.querySelector(s)).zIndex); });""")
    assert basemap_z < overlay_z
    assert severe_console_entries(browser) == []
    outside = [url for url in requested_urls(browser)
               if not url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "chrome"))]
    assert outside == []


def test_observation_published_over_mqtt_shows_within_3_s_and_the_layer_turns_stale_when_the_feed_stops(
        quiet_city, browser):
    site = next(d for d in load_city(CITIES_DIR / "helsinki").devices if d["type"] == "TrafficFlowObserved")
    sign_in(browser, quiet_city, "manager", "/")
    wait = WebDriverWait(browser, 20, poll_frequency=0.1)
    wait.until(lambda b: b.execute_script("return !!(window.cityopsLive && window.cityopsLive.version)"))

    publish(quiet_city.mqtt_port, f"city/telemetry/{site['device_id']}", traffic_reading(site, 3.0))
    published = time.monotonic()
    WebDriverWait(browser, 3, poll_frequency=0.05).until(
        lambda b: b.execute_script("return window.cityops.drawnColour(arguments[0])", site["device_id"]) == JAMMED)
    assert time.monotonic() - published < 3.0
    freshness = browser.find_element("id", "map-fresh-traffic")
    assert freshness.get_attribute("data-state") == "fresh"

    # no more readings: past the threshold the legend says so, on screen
    WebDriverWait(browser, STALE_S + 5, poll_frequency=0.25).until(
        lambda b: b.find_element("id", "map-legend-traffic").get_attribute("data-state") == "stale")
    assert freshness.text.startswith("STALE")
    assert severe_console_entries(browser) == []


def test_hover_shows_value_unit_and_age_and_the_tip_follows_live_updates(quiet_city, browser):
    site = next(d for d in load_city(CITIES_DIR / "helsinki").devices if d["type"] == "TrafficFlowObserved")
    publish(quiet_city.mqtt_port, f"city/telemetry/{site['device_id']}", traffic_reading(site, 21.0))
    sign_in(browser, quiet_city, "manager", "/")
    # the reading is drawn (not the grey of a segment without data) before the pointer goes there
    WebDriverWait(browser, 10, poll_frequency=0.1).until(
        lambda b: b.execute_script("return window.cityops.drawnColour(arguments[0])", site["device_id"])
        not in (None, NO_DATA))
    point = browser.execute_script("return window.cityops.screenPoint(arguments[0])", site["device_id"])
    # a real mouse move over the canvas where the segment is drawn (Leaflet hit-tests it)
    browser.execute_script("""
        var x = arguments[0], y = arguments[1], target = document.elementFromPoint(x, y);
        ["mousemove", "mousemove"].forEach(function (type) {
          target.dispatchEvent(new MouseEvent(type, {clientX: x, clientY: y, bubbles: true}));
        });""", *point)
    tip = WebDriverWait(browser, 5, poll_frequency=0.1).until(
        lambda b: b.find_elements("css selector", ".map-tip"))[0]
    assert "21 km/h" in tip.text and "of free flow" in tip.text and "ago" in tip.text

    # a new reading redraws the layer: the tip under the still pointer stays, with the new value
    publish(quiet_city.mqtt_port, f"city/telemetry/{site['device_id']}", traffic_reading(site, 9.0))
    # (the replaced tip fades out for 200 ms, then only the new one is left)
    WebDriverWait(browser, 5, poll_frequency=0.1).until(lambda b: tip_texts(b) and
                                                        all("9 km/h" in text for text in tip_texts(b)))


def test_banner_says_when_the_server_is_unreachable_and_the_screen_recovers_by_itself(tmp_path, browser):
    city = start_served_city(tmp_path, demo=False)
    try:
        sign_in(browser, city, "manager", "/")
        wait = WebDriverWait(browser, 20, poll_frequency=0.25)
        wait.until(lambda b: b.execute_script("return !!(window.cityopsLive && window.cityopsLive.version)"))
        stop_served_city(city)
        banner = wait.until(lambda b: [e for e in b.find_elements("id", "connection-banner") if e.is_displayed()])[0]
        assert "No connection to the CityOps server" in banner.text
        city = start_served_city(tmp_path, demo=False, web_port=int(city.base_url.rsplit(":", 1)[1]),
                                 mqtt_port=city.mqtt_port, admin_token=city.admin_token)
        wait.until(lambda b: not b.find_element("id", "connection-banner").is_displayed())
        # and the live map is current again (a restarted server has a new snapshot epoch)
        wait.until(lambda b: b.execute_script("return Date.now() - window.cityopsLive.receivedAt < 3000"))
    finally:
        stop_served_city(city)


def wall_figures(browser) -> dict[str, str]:
    return browser.execute_script("""var figures = {};
        document.querySelectorAll('.wall-figure').forEach(function (f) {
          var label = f.querySelector('.wall-figure-label').textContent;
          figures[label] = f.querySelector('.wall-figure-value').textContent;
        });
        return figures;""")


def test_wall_shows_the_worst_air_quality_and_the_flood_stations_from_live_readings(quiet_city, browser):
    city = load_city(CITIES_DIR / "helsinki")
    air = next(d for d in city.devices if d["type"] == "AirQualityObserved")
    gauges = [d for d in city.devices if d["type"] == "FloodMonitoring"][:2]
    now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    publish(quiet_city.mqtt_port, f"city/telemetry/{air['device_id']}", {
        "id": air["device_id"], "type": "AirQualityObserved", "dateObserved": now,
        "location": {"type": "Point", "coordinates": [air["lon"], air["lat"]]}, "pm25": 180.0})
    for gauge in gauges:
        publish(quiet_city.mqtt_port, f"city/telemetry/{gauge['device_id']}", {
            "id": gauge["device_id"], "type": gauge["type"], "dateObserved": now,
            "location": {"type": "Point", "coordinates": [gauge["lon"], gauge["lat"]]}, "currentLevel": 0.1})

    sign_in(browser, quiet_city, "manager", "/wall")
    try:
        WebDriverWait(browser, 20, poll_frequency=0.25).until(
            lambda b: wall_figures(b).get("Worst US AQI", "").isdigit()
            and wall_figures(b).get("Stations above alert", "").endswith(f"/{len(gauges)}"))
    except TimeoutException:
        pytest.fail(f"the wall shows {wall_figures(browser)}")
    assert int(wall_figures(browser)["Worst US AQI"]) > 200
    assert severe_console_entries(browser) == []
