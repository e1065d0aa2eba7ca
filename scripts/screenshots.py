"""Screenshots of the pages at a desk's, a wall's, a 4K wall's and a phone's size, for docs/screenshots.

  .venv/bin/python scripts/screenshots.py          starts a demo city of its own (SQLite, a temporary folder)
  .venv/bin/python scripts/screenshots.py --url http://127.0.0.1:8050 --user admin --password-stdin

Writes ``<page>-<width>x<height>.png`` (``wall-1920x1080.png``) into docs/screenshots (``--out``).
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
]
SETTLE_S = 3.0  # after the page's data arrived: the map's fitting and the live layers' first draw


def page_ready(browser) -> bool:
    return browser.execute_script(
        "return document.readyState === 'complete' && !document.querySelector('[data-dash-is-loading]') &&"
        " (!document.querySelector('.leaflet-container') || !!(window.cityopsLive && window.cityopsLive.version"
        " !== null) || !!document.querySelector('.dispatch-page')) &&"
        " (!document.getElementById('kiosk') || (!!document.querySelector('.kiosk-panel') &&"
        "  !document.querySelector('.kiosk-panel[data-current=\"false\"]')));")


def take(browser, base_url: str, out: Path, shots=SHOTS) -> list[Path]:
    written = []
    for name, path, sizes in shots:
        for width, height in sizes:
            set_viewport(browser, width, height)
            browser.get(base_url + path)
            wait_until(lambda: page_ready(browser), 30, interval=0.25, message=f"{path} to load")
            time.sleep(SETTLE_S)
            # still ready (a kiosk whose data went stale meanwhile waits for current data: a loaded demo lags)
            wait_until(lambda: page_ready(browser), 60, interval=0.25, message=f"{path} to show current data")
            target = out / f"{name}-{width}x{height}.png"
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
                                                  "alarms, sensors)")
    args = parser.parse_args(argv)
    shots = [shot for shot in SHOTS if not args.only or shot[0] in args.only]
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
            take(browser, base_url, args.out, shots)
    finally:
        if city is not None:
            stop_served_city(city)
    return 0


if __name__ == "__main__":
    sys.exit(main())
