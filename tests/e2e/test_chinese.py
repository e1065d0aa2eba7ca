"""CityOps in Chinese in a real browser (issue 14, point 2), against the demo city (SQLite and PostgreSQL):
a person who chooses 中文 keeps it (saved with their account), a display link in Chinese shows its wall in
Chinese with no sign-in, and the browser's own texts (clock, freshness of each layer) follow the page."""
from __future__ import annotations

import re

import requests
from selenium.webdriver.common.by import By

from tests.brokers import wait_until
from tests.e2e.conftest import sign_in, text_of

PAGE_TIMEOUT_S = 20
CHINESE_TIME = re.compile(r"^\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}:\d{2}$")


def _lang(browser) -> str:
    return browser.execute_script("return document.documentElement.lang")


def _switch(browser, locale: str) -> None:
    browser.find_element(By.ID, f"shell-language-{locale}").click()
    wait_until(lambda: _lang(browser) == {"zh": "zh-Hans", "en": "en"}[locale], PAGE_TIMEOUT_S, interval=0.2,
               message=f"the page in {locale}")


def test_a_person_who_chooses_chinese_reads_every_page_in_chinese_and_keeps_it(served_city, browser):
    sign_in(browser, served_city, "manager", "/alarms")
    wait_until(lambda: text_of(browser, ".shell-nav"), PAGE_TIMEOUT_S, interval=0.2, message="the navigation")
    try:
        _switch(browser, "zh")
        assert browser.current_url.endswith("/alarms")  # back on the page of the switch
        wait_until(lambda: "告警" in text_of(browser, ".shell-nav") and "告警" in text_of(browser, ".alarms-title"),
                   PAGE_TIMEOUT_S, interval=0.2, message="the alarms page in Chinese")
        assert "地图" in text_of(browser, ".shell-nav") and "退出登录" in text_of(browser, "#shell-sign-out")
        wait_until(lambda: CHINESE_TIME.match(text_of(browser, "#shell-clock")), PAGE_TIMEOUT_S, interval=0.2,
                   message=f"the clock in Chinese (shows {text_of(browser, '#shell-clock')!r})")
        # saved: a new visit of the map, in a browser asking for English, is Chinese
        browser.get(served_city.url("/"))
        wait_until(lambda: "交通" in text_of(browser, ".map-legends") and "最新" in text_of(browser, ".map-freshness"),
                   PAGE_TIMEOUT_S, interval=0.2,
                   message=f"the map's legends in Chinese (shows {text_of(browser, '.map-legends')[:200]!r})")
        assert _lang(browser) == "zh-Hans"
    finally:
        browser.get(served_city.url("/alarms"))
        wait_until(lambda: browser.find_elements(By.ID, "shell-language-en") or
                   browser.find_elements(By.ID, "shell-language-zh"), PAGE_TIMEOUT_S, interval=0.2,
                   message="the language switch")
        if browser.find_elements(By.ID, "shell-language-en"):
            _switch(browser, "en")  # the demo city's people are shared by the other browser tests
    wait_until(lambda: "Alarms" in text_of(browser, ".shell-nav"), PAGE_TIMEOUT_S, interval=0.2,
               message="the page in English again")


def test_a_display_link_in_chinese_shows_its_wall_in_chinese_without_signing_in(served_city, browser):
    created = requests.post(served_city.url("/api/v1/displays"), timeout=10,
                            headers={"Authorization": f"Bearer {served_city.admin_token}"},
                            json={"name": "Metro hall wall", "page": "/wall", "options": {"lang": "zh"}})
    assert created.status_code == 201, created.text
    display = created.json()
    try:
        browser.get(display["url"])
        wait_until(lambda: "处置中事件" in text_of(browser, ".wall-figures"), PAGE_TIMEOUT_S, interval=0.2,
                   message=f"the wall's figures in Chinese (shows {text_of(browser, '.wall-figures')[:200]!r})")
        assert "/login" not in browser.current_url and _lang(browser) == "zh-Hans"
        assert "中国 AQI" in text_of(browser, ".wall-figures")  # a screen in Chinese reads HJ 633 unless configured
        wait_until(lambda: "告警" in text_of(browser, ".alarm-strip"), PAGE_TIMEOUT_S, interval=0.2,
                   message="the alarm strip in Chinese")
    finally:
        requests.delete(served_city.url(f"/api/v1/displays/{display['id']}"), timeout=10,
                        headers={"Authorization": f"Bearer {served_city.admin_token}"})
