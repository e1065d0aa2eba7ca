"""Screens of every size in headless Chromium against the demo city (SQLite and PostgreSQL): the wall
and the maps fit the city from a 1600x900 desk to a 4K wall, the wall rotates through the districts,
shows one AQI standard and asks for sound, and every page works on a 412 px phone."""
from __future__ import annotations

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By

from tests.brokers import wait_until
from tests.e2e.conftest import headless_chromium, require_chromium, set_viewport, sign_in

PAGE_TIMEOUT_S = 20
DESK, WALL, WALL_4K, PHONE = (1600, 900), (1920, 1080), (3840, 2160), (412, 915)
GOOD_FILL = 0.8  # the city's box spans at least this share of the map's width or height


def map_views(browser) -> list[dict]:
    return browser.execute_script("return window.cityops && window.cityops.mapViews ? window.cityops.mapViews() : []")


def city_fitted(browser, map_id: str):
    """The map's view when the whole city is inside its box and fills a good part of it, else None."""
    for view in map_views(browser):
        width, height = view["size"]
        left, top, right, bottom = view["city"]
        if view["id"] == map_id and width and height and view["name"] == "Whole city" \
                and -1 <= left and right <= width + 1 and -1 <= top and bottom <= height + 1 \
                and max((right - left) / width, (bottom - top) / height) >= GOOD_FILL:
            return view
    return None


def page_scroll(browser) -> tuple[int, int, int, int]:
    return tuple(browser.execute_script(
        "var s = document.scrollingElement; return [s.scrollWidth, s.clientWidth, s.scrollHeight, s.clientHeight];"))


@pytest.mark.parametrize("size", [DESK, WALL, WALL_4K])
def test_the_wall_fits_the_whole_city_and_nothing_scrolls(served_city, browser, size):
    sign_in(browser, served_city, "manager", "/status")
    set_viewport(browser, *size)
    browser.get(served_city.url("/wall"))
    wait_until(lambda: city_fitted(browser, "map-map"), PAGE_TIMEOUT_S, interval=0.25,
               message=f"the whole city inside the wall's map at {size} (views {map_views(browser)})")
    scroll_width, width, scroll_height, height = page_scroll(browser)
    assert (scroll_width, scroll_height) == (width, height) == size
    # the type grows with the screen: a 4K wall's text is about twice a 1920x1080 wall's
    root = browser.execute_script("return parseFloat(getComputedStyle(document.documentElement).fontSize)")
    assert root >= (30 if size == WALL_4K else 16)


@pytest.mark.parametrize("path, map_id", [("/", "map-map"), ("/dispatch", "dispatch-map")])
def test_the_operations_and_dispatch_maps_fit_the_whole_city_on_a_desk(served_city, browser, path, map_id):
    sign_in(browser, served_city, "admin", "/status")
    set_viewport(browser, *DESK)
    browser.get(served_city.url(path))
    wait_until(lambda: city_fitted(browser, map_id), PAGE_TIMEOUT_S, interval=0.25,
               message=f"the whole city inside {path}'s map (views {map_views(browser)})")
    set_viewport(browser, 1200, 700)  # a smaller window: the map fits the city again
    wait_until(lambda: (lambda v: v and v["size"][1] < 700)(city_fitted(browser, map_id)), PAGE_TIMEOUT_S,
               interval=0.25, message=f"the city fitted again after a resize (views {map_views(browser)})")


def test_a_rotating_wall_moves_through_the_districts_and_back_to_the_whole_city(served_city, browser):
    sign_in(browser, served_city, "manager", "/status")
    set_viewport(browser, *WALL)
    browser.get(served_city.url("/wall?rotate=2"))
    whole = wait_until(lambda: city_fitted(browser, "map-map"), PAGE_TIMEOUT_S, interval=0.2,
                       message="the whole city first")

    def district_shown():
        views = [v for v in map_views(browser) if v["name"] != "Whole city" and v["zoom"] > whole["zoom"] + 0.5]
        return views[0] if views else None

    district = wait_until(district_shown, PAGE_TIMEOUT_S, interval=0.2, message="a district, closer than the city")
    assert district["center"] != whole["center"]
    label = browser.find_element(By.ID, "map-view-name").text
    assert label.startswith(district["name"]) and "/6" in label  # the whole city and 5 districts

    def whole_city_again():  # fitted, and centred in the map's box (the fly back has ended)
        view = city_fitted(browser, "map-map")
        if not view:
            return None
        (width, height), (left, top, right, bottom) = view["size"], view["city"]
        return abs((left + right) / 2 - width / 2) < 2 and abs((top + bottom) / 2 - height / 2) < 2

    wait_until(whole_city_again, 30, interval=0.2, message="the whole city again, as at first")
    assert browser.find_element(By.ID, "map-view-name").text.startswith("Whole city")


def aqi_shown(browser) -> dict:
    """The wall's air quality tile and legend, the badges drawn, and each standard's values in the live data."""
    return browser.execute_script("""
        var tile = document.querySelector('[data-figure="aqi"]');
        var legend = document.querySelector('.map-legend-standard');
        var air = window.cityopsLive && window.cityopsLive.layers.air;
        var values = {us: [], cn: []};
        if (air) { air.features.forEach(function (f) { ['us', 'cn'].forEach(function (code) {
            var v = f.properties['aqi_' + code]; if (v !== null && v !== undefined) { values[code].push(String(v)); } }); }); }
        return {tile: tile ? tile.querySelector('.wall-figure-label').textContent : '',
                value: tile ? tile.querySelector('.wall-figure-value').textContent : '',
                legend: legend ? legend.textContent : '', values: values,
                badges: Array.from(document.querySelectorAll('.map-badge.aqi div')).map(function (b) { return b.textContent; })};""")


@pytest.mark.parametrize("query, name, code, other", [("?aqi=cn", "China AQI", "cn", "us"),
                                                      ("?aqi=us", "US AQI", "us", "cn")])
def test_the_wall_names_one_aqi_standard_on_its_tile_its_legend_and_its_map(served_city, browser, query, name, code,
                                                                           other):
    sign_in(browser, served_city, "manager", "/status")
    set_viewport(browser, *WALL)  # close enough that the stations are badges, not clusters
    browser.get(served_city.url("/wall" + query))

    def consistent():
        shown = aqi_shown(browser)
        values = shown["values"][code]
        return shown if shown["tile"] == f"Worst {name}" and shown["legend"].startswith(f"{name} · ") and values \
            and shown["badges"] and set(shown["badges"]) <= set(values) \
            and shown["value"] == str(max(int(v) for v in values)) else None

    shown = wait_until(consistent, PAGE_TIMEOUT_S, interval=0.3, message=f"the wall in {name} ({aqi_shown(browser)})")
    assert shown["values"][code] != shown["values"][other]  # the two standards tell apart here


def test_a_desk_chooses_the_aqi_standard_with_a_button_and_keeps_it_after_a_reload(served_city, browser):
    """The map's standard is a pair of toggle buttons (aria-pressed), remembered by the desk's browser."""
    sign_in(browser, served_city, "manager", "/")
    set_viewport(browser, *WALL)

    def pressed() -> dict:
        return browser.execute_script("""return Object.fromEntries(Array.from(
            document.querySelectorAll('.map-standard-choice')).map(function (b) {
                return [b.textContent.replace('✓', '').trim(), b.getAttribute('aria-pressed')]; }));""")

    def in_standard(name: str, code: str):
        shown, buttons = aqi_shown(browser), pressed()
        return shown if shown["legend"].startswith(f"{name} · ") and shown["badges"] \
            and set(shown["badges"]) <= set(shown["values"][code]) and list(buttons.values()).count("true") == 1 \
            else None

    wait_until(lambda: in_standard("US AQI", "us"), PAGE_TIMEOUT_S, interval=0.3, message="the map in US AQI first")
    assert pressed() == {"US EPA (2024 PM2.5)": "true", "China HJ 633-2012": "false"}
    wait_until(lambda: click(browser, '[id*="cn-hj633-2012"]'), PAGE_TIMEOUT_S, interval=0.2, message="a click")
    wait_until(lambda: in_standard("China AQI", "cn"), PAGE_TIMEOUT_S, interval=0.3,
               message=f"the map in China AQI ({aqi_shown(browser)})")
    assert pressed() == {"US EPA (2024 PM2.5)": "false", "China HJ 633-2012": "true"}
    browser.refresh()
    wait_until(lambda: in_standard("China AQI", "cn"), PAGE_TIMEOUT_S, interval=0.3,
               message="the choice kept after a reload")


def click(browser, selector: str) -> bool:
    """A real click (a user gesture, unlike a script's), on an element the page may re-render meanwhile."""
    try:
        browser.find_element(By.CSS_SELECTOR, selector).click()
        return True
    except StaleElementReferenceException:
        return False


def sound_state(browser) -> tuple[str, dict]:
    return browser.execute_script(
        "var b = document.querySelector('[data-alarm-mute]');"
        "return [b ? b.textContent : '', window.cityops && window.cityops.alarmSound ? window.cityops.alarmSound() : {}];")


def test_a_wall_with_sound_says_it_is_muted_until_clicked_unless_its_browser_allows_autoplay(served_city, browser):
    sign_in(browser, served_city, "manager", "/status")
    browser.get(served_city.url("/wall?sound=1"))
    wait_until(lambda: sound_state(browser)[0] == "Sound muted — click to enable", PAGE_TIMEOUT_S, interval=0.2,
               message=f"the muted state ({sound_state(browser)})")
    wait_until(lambda: click(browser, "[data-alarm-mute]"), PAGE_TIMEOUT_S, interval=0.1,
               message="a click on the sound button")  # the gesture the browser waits for: a test tone, then on
    wait_until(lambda: sound_state(browser)[0] == "Sound on" and sound_state(browser)[1]["played"] >= 1,
               PAGE_TIMEOUT_S, interval=0.2, message=f"sound on after the click ({sound_state(browser)})")

    require_chromium()
    with headless_chromium("--autoplay-policy=no-user-gesture-required") as kiosk:
        sign_in(kiosk, served_city, "manager", "/wall?sound=1")
        wait_until(lambda: sound_state(kiosk)[1].get("audible") and sound_state(kiosk)[0] == "Sound on",
                   PAGE_TIMEOUT_S, interval=0.2, message=f"sound on without a click ({sound_state(kiosk)})")


PHONE_PAGES = {  # each page, and what shows that its data arrived
    "/": ".map-freshness[data-state]", "/dispatch": ".queue-row, .panel-queue .empty",
    "/alarms": ".alarm-table, .alarms-list .empty", "/sensors": "#sensors-table td", "/rules": ".rules-table",
    "/status": ".data-table", "/wall": ".wall-figure", "/admin/users": ".admin-table",
    "/admin/displays": ".admin-table, .empty", "/scorecards": ".scorecard-card"}


def test_every_page_fits_a_phone_and_its_menu_reaches_every_page(served_city, browser):
    sign_in(browser, served_city, "admin", "/status")
    set_viewport(browser, *PHONE)
    too_wide = {}
    for path, data in PHONE_PAGES.items():
        browser.get(served_city.url(path))
        wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, data), PAGE_TIMEOUT_S, interval=0.2,
                   message=f"{path}'s data ({data})")
        if page_scroll(browser)[0] > PHONE[0]:
            too_wide[path] = page_scroll(browser)[0]
    assert too_wide == {}

    browser.get(served_city.url("/status"))
    menu = wait_until(lambda: browser.find_elements(By.ID, "shell-menu"), PAGE_TIMEOUT_S, interval=0.2,
                      message="the menu button")[0]
    links = browser.find_elements(By.CSS_SELECTOR, ".shell-nav-link")
    assert menu.is_displayed() and not any(link.is_displayed() for link in links)
    menu.click()
    assert [link.text for link in links if link.is_displayed()] == [link.text for link in links] and len(links) >= 9
    for link in links:
        box = link.rect
        assert 0 <= box["x"] and box["x"] + box["width"] <= PHONE[0], link.text
    next(link for link in links if link.text == "Alarms").click()
    wait_until(lambda: browser.current_url.endswith("/alarms"), PAGE_TIMEOUT_S, interval=0.2,
               message="the menu's link to open the alarms")
    assert not any(link.is_displayed() for link in browser.find_elements(By.CSS_SELECTOR, ".shell-nav-link"))

    browser.delete_all_cookies()
    browser.get(served_city.url("/login"))
    assert page_scroll(browser)[0] <= PHONE[0]
