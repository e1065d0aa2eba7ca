"""Screenshots of the pages at a desk's, a wall's, a 4K wall's and a phone's size, for docs/screenshots.

  .venv/bin/python scripts/screenshots.py          starts a demo city of its own (SQLite, a temporary folder)
  .venv/bin/python scripts/screenshots.py --url http://127.0.0.1:8050 --user admin --password-stdin

Writes ``<page>-<width>x<height>.png`` (``wall-1920x1080.png``) into docs/screenshots (``--out``);
``--language zh`` chooses Chinese for the person who signs in (the shell's switch) and writes
``<page>-zh-<width>x<height>.png`` of each page at a desk's size.
Needs /usr/bin/chromium and /usr/bin/chromedriver, as the browser tests do.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from tests.brokers import wait_until  # noqa: E402
from tests.e2e.conftest import (PASSWORD, PEOPLE, headless_chromium, set_viewport, sign_in_as,  # noqa: E402
                                start_served_city, stop_served_city)

DESK, WALL, WALL_4K, PHONE = (1600, 900), (1920, 1080), (3840, 2160), (412, 915)
PORTRAIT = (1080, 1920)
SHOTS = [  # (name, path, sizes)
    ("kiosk-en", "/kiosk?lang=en", [WALL, PORTRAIT, WALL_4K]),
    ("kiosk-zh", "/kiosk?lang=zh", [WALL, PORTRAIT, WALL_4K]),
    ("wall", "/wall", [DESK, WALL, WALL_4K, PHONE]),
    ("map", "/", [DESK, WALL, WALL_4K, PHONE]),
    ("dispatch", "/dispatch", [PHONE]),
    ("alarms", "/alarms", [PHONE]),
    ("sensors", "/sensors", [PHONE]),
    ("scorecards", "/scorecards", [DESK, WALL_4K, PHONE]),
]
# every page a person opens, in another language (--language), at a desk's size
LANGUAGE_SHOTS = [(name, path, [DESK]) for name, path in (
    ("map", "/"), ("wall", "/wall"), ("dispatch", "/dispatch"), ("requests", "/requests"), ("alarms", "/alarms"),
    ("status", "/status"), ("sensors", "/sensors"), ("rules", "/rules"), ("users", "/admin/users"),
    ("displays", "/admin/displays"), ("scorecards", "/scorecards"))]
SETTLE_S = 3.0  # after the page's data arrived: the map's fitting and the live layers' first draw


def page_ready(browser) -> bool:
    return browser.execute_script(
        "return document.readyState === 'complete' && !document.querySelector('[data-dash-is-loading]') &&"
        " (!document.querySelector('.leaflet-container') || !!(window.cityopsLive && window.cityopsLive.version"
        " !== null) || !!document.querySelector('.dispatch-page, .requests-page')) &&"
        " (!document.getElementById('kiosk') || (!!document.querySelector('.kiosk-panel') &&"
        "  !document.querySelector('.kiosk-panel[data-current=\"false\"]')));")


def choose_language(browser, base_url: str, language: str) -> None:
    """The signed-in person's language, chosen with the shell's switch (saved with their account)."""
    from selenium.webdriver.common.by import By

    def page_language() -> str:
        return browser.execute_script("return document.documentElement.lang")

    browser.get(base_url + "/alarms")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".shell-language button"), 30, interval=0.25,
               message="the language switch")
    if page_language().startswith(language):
        return  # chosen before (saved with the account)
    browser.find_element(By.ID, f"shell-language-{language}").click()
    wait_until(lambda: page_language().startswith(language), 30, interval=0.25, message=f"the page in {language}")


def take(browser, base_url: str, out: Path, shots=SHOTS, suffix: str = "") -> list[Path]:
    written = []
    for name, path, sizes in shots:
        for width, height in sizes:
            set_viewport(browser, width, height)
            browser.get(base_url + path)
            wait_until(lambda: page_ready(browser), 90, interval=0.25, message=f"{path} to load")
            time.sleep(SETTLE_S)
            # still ready (a kiosk whose data went stale meanwhile waits for current data: a loaded demo lags)
            wait_until(lambda: page_ready(browser), 60, interval=0.25, message=f"{path} to show current data")
            target = out / f"{name}{suffix}-{width}x{height}.png"
            browser.save_screenshot(str(target))
            written.append(target)
            print(target.relative_to(PROJECT_ROOT) if target.is_relative_to(PROJECT_ROOT) else target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running CityOps (default: start a demo city of its own)")
    parser.add_argument("--user", help="who signs in (with --url)")
    parser.add_argument("--password-stdin", action="store_true", help="read the password from stdin (with --url)")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "screenshots")
    parser.add_argument("--only", nargs="*", help="page names to take (kiosk-en, kiosk-zh, wall, map, dispatch, "
                                                  "alarms, sensors, scorecards)")
    parser.add_argument("--language", help="the language of the pages (zh: every page at a desk's size)")
    args = parser.parse_args(argv)
    shots = [shot for shot in (LANGUAGE_SHOTS if args.language else SHOTS) if not args.only or shot[0] in args.only]
    args.out.mkdir(parents=True, exist_ok=True)
    city = None
    if args.url:
        if not args.user or not args.password_stdin:
            parser.error("--url needs --user and --password-stdin")
        base_url, name, password = args.url.rstrip("/"), args.user, sys.stdin.readline().rstrip("\n")
    else:
        city = start_served_city(Path(tempfile.mkdtemp(prefix="cityops-screenshots-")))
        base_url, name, password = city.base_url, PEOPLE["admin"], PASSWORD
    try:
        with headless_chromium() as browser:
            sign_in_as(browser, base_url, name, password, "/")
            if args.language:
                choose_language(browser, base_url, args.language)
            take(browser, base_url, args.out, shots, f"-{args.language}" if args.language else "")
    finally:
        if city is not None:
            stop_served_city(city)
    return 0


if __name__ == "__main__":
    sys.exit(main())
