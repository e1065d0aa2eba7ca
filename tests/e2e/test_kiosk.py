"""The public kiosk in headless Chromium, opened through its display link as a town hall's screen would
(SQLite and PostgreSQL): landscape and portrait, Chinese and English, text readable from three metres;
a server stopped for 20 s: the screen says its data is not current and shows no old numbers, then
comes back with fresh data by itself, never with a sign-in page."""
from __future__ import annotations

import re
import time

import pytest
import requests
from selenium.webdriver.common.by import By

from tests.brokers import wait_until
from tests.e2e.conftest import fresh_database, set_viewport, start_served_city, stop_served_city, texts_of

PAGE_TIMEOUT_S = 30
LANDSCAPE, PORTRAIT = (1920, 1080), (1080, 1920)
MIN_BODY_PX = 32  # readable from three metres on a 1080p screen
OUTAGE_S = 20
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def create_kiosk(city, **options) -> str:
    """A display link for the kiosk (as an admin makes one); the URL a screen opens."""
    answer = requests.post(city.url("/api/v1/displays"), json={"name": "Town hall", "page": "/kiosk",
                                                               "options": options},
                           headers={"Authorization": f"Bearer {city.admin_token}"}, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()["url"]


def kiosk_state(browser) -> dict:
    return browser.execute_script(
        "var s = document.querySelector('.kiosk-screen'); var k = window.cityopsKiosk || {};"
        "function shown(sel) { var e = document.querySelector(sel); return !!e && e.offsetParent !== null; }"
        "return {lang: s && s.getAttribute('data-lang'), builtAt: s ? Number(s.getAttribute('data-built-at')) : 0,"
        " stale: !!k.stale, live: shown('.kiosk-live'), notice: shown('.kiosk-stale-notice'),"
        " current: Array.from(document.querySelectorAll('.kiosk-panel[data-current=\"true\"]'))"
        "   .map(function (p) { return p.getAttribute('data-panel'); }),"
        " now: Date.now(), url: location.href, signIn: !!document.getElementById('signin-name')};")


def live_with_data(browser, lang: str | None = None) -> bool:
    state = kiosk_state(browser)
    return state["live"] and not state["stale"] and bool(state["current"]) and (lang is None or state["lang"] == lang)


def box(browser, selector: str) -> dict:
    return browser.execute_script("return document.querySelector(arguments[0]).getBoundingClientRect().toJSON()",
                                  selector)


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("size", [LANDSCAPE, PORTRAIT], ids=["landscape", "portrait"])
def test_the_kiosk_link_shows_the_city_now_readable_from_three_metres_in_its_language(served_city, browser, size,
                                                                                      lang):
    set_viewport(browser, *size)
    browser.get(create_kiosk(served_city, lang=lang))
    wait_until(lambda: live_with_data(browser, lang), PAGE_TIMEOUT_S, interval=0.25,
               message=f"the kiosk with current data in {lang} (state {kiosk_state(browser)})")
    assert "/kiosk?display=" in browser.current_url
    panels = [box(browser, f".kiosk-panel[data-panel='{panel}']") for panel in ("air", "traffic", "water")]
    assert all(panel["right"] <= size[0] + 1 and panel["bottom"] <= size[1] + 1 for panel in panels), panels
    if size == LANDSCAPE:  # two columns
        assert len({round(panel["left"]) for panel in panels}) == 2, panels
    else:  # one column, in reading order
        assert len({round(panel["left"]) for panel in panels}) == 1, panels
        assert panels[0]["bottom"] <= panels[1]["top"] and panels[1]["bottom"] <= panels[2]["top"], panels
    sizes = browser.execute_script(
        "return Array.from(document.querySelectorAll('.kiosk-live p, .kiosk-live li span, .kiosk-live h2'))"
        ".filter(function (e) { return e.offsetParent !== null && e.textContent.trim(); })"
        ".map(function (e) { return [parseFloat(getComputedStyle(e).fontSize), e.textContent.trim()]; });")
    assert sizes and min(px for px, _text in sizes) >= MIN_BODY_PX, sorted(sizes)[:3]
    scroll = browser.execute_script("var s = document.scrollingElement; return [s.scrollHeight, s.clientHeight];")
    assert scroll[0] == scroll[1] == size[1]  # nothing hidden below the screen, nothing to scroll
    titles = texts_of(browser, ".kiosk-panel-title")
    assert len(titles) == 3 and all(bool(CHINESE.search(t)) == (lang == "zh") for t in titles), titles
    assert browser.execute_script("return document.documentElement.lang") == ("zh-Hans" if lang == "zh" else "en")
    controls = browser.find_elements(By.CSS_SELECTOR, "button, input, select, textarea, a[href]")
    assert not [control for control in controls if control.is_displayed()]  # nothing to press


def test_an_alternating_kiosk_shows_chinese_then_english_by_itself(served_city, browser):
    browser.get(create_kiosk(served_city, lang="alternate", lang_every=5))
    wait_until(lambda: live_with_data(browser, "zh"), PAGE_TIMEOUT_S, interval=0.25, message="the kiosk in Chinese")
    wait_until(lambda: live_with_data(browser, "en"), PAGE_TIMEOUT_S, interval=0.25, message="then in English")
    wait_until(lambda: live_with_data(browser, "zh"), PAGE_TIMEOUT_S, interval=0.25, message="then Chinese again")


def test_a_rotating_kiosk_shows_one_panel_at_a_time_and_moves_on(served_city, browser):
    browser.get(create_kiosk(served_city, lang="en", rotate=3))
    wait_until(lambda: live_with_data(browser), PAGE_TIMEOUT_S, interval=0.25, message="the kiosk with data")

    def shown() -> list[str]:
        return browser.execute_script("return Array.from(document.querySelectorAll('.kiosk-panel'))"
                                      ".filter(function (p) { return p.offsetParent !== null; })"
                                      ".map(function (p) { return p.getAttribute('data-panel'); });")
    seen = set()
    wait_until(lambda: len(shown()) == 1 and seen.update(shown()) is None and seen == {"air", "traffic", "water"},
               20, interval=0.25, message=f"every panel in turn, one at a time (seen {seen})")


def test_a_kiosk_says_its_data_is_not_current_while_the_server_is_down_then_recovers_by_itself(
        tmp_path, browser, served_database):
    with fresh_database(served_database, tmp_path) as database_url:
        city = start_served_city(tmp_path, database_url=database_url)
        try:
            browser.get(create_kiosk(city, lang="en"))
            wait_until(lambda: live_with_data(browser), PAGE_TIMEOUT_S, interval=0.25,
                       message=f"the kiosk with current data (state {kiosk_state(browser)})")
            stop_served_city(city)
            stopped = time.monotonic()
            wait_until(lambda: kiosk_state(browser)["notice"], OUTAGE_S, interval=0.25,
                       message=f"the stale notice (state {kiosk_state(browser)})")
            assert not kiosk_state(browser)["live"]  # no old numbers while it says so
            notice = browser.find_element(By.CSS_SELECTOR, ".kiosk-stale-notice").text
            assert "no current information" in notice.lower()

            def outage_over() -> bool:  # the screen stays honest for the whole outage
                state = kiosk_state(browser)
                assert state["notice"] and not state["live"] and not state["signIn"], state
                return time.monotonic() - stopped >= OUTAGE_S
            wait_until(outage_over, OUTAGE_S + 5, interval=0.5, message="20 s of outage")

            city = start_served_city(tmp_path, web_port=int(city.base_url.rsplit(":", 1)[1]),
                                     mqtt_port=city.mqtt_port, admin_token=city.admin_token, database_url=database_url)
            restarted = browser.execute_script("return Date.now()")
            wait_until(lambda: live_with_data(browser) and kiosk_state(browser)["builtAt"] >= restarted - 2000,
                       PAGE_TIMEOUT_S, interval=0.25, message=f"fresh data again (state {kiosk_state(browser)})")
            state = kiosk_state(browser)
            assert not state["notice"] and "/kiosk?display=" in state["url"] and not state["signIn"]
        finally:
            stop_served_city(city)
