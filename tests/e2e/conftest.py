"""End-to-end fixtures: the single-machine command as a real process, and a headless Chromium.

``served_city`` runs ``python manage.py serve`` exactly as an operator would on one machine:
demo simulator on, no broker listening at CITYOPS_MQTT_URL (so the embedded one must start),
a database and data directory of its own, an admin token for the API, and one person per role
(created with ``manage.py user create --password-stdin`` before the start, as an operator would)
for the browser to sign in with (``sign_in``). The servers of the map, wall and dispatch tests run
once on SQLite and once on PostgreSQL (``served_database``).
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
import requests

from services.broker import broker_reachable
from services.config import PROJECT_ROOT
from tests.brokers import free_port, wait_until
from tests.conftest import postgres_schema, require_postgres

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
PEOPLE = {"admin": "e2e-admin", "dispatcher": "e2e-dispatcher", "manager": "e2e-manager", "agent": "e2e-agent",
          "department": "e2e-roads"}
DEPARTMENT = "roads"  # the department person's department (config/departments.yaml)
PASSWORD = "correct horse battery"


@dataclass
class ServedCity:
    base_url: str
    admin_token: str
    log_path: Path
    process: subprocess.Popen
    started_at: float  # time.monotonic() when the process was started
    mqtt_port: int = 0

    def log_tail(self, lines: int = 50) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as error:
            return f"(no log: {error})"
        return "\n".join(text.splitlines()[-lines:])

    def url(self, path: str) -> str:
        return self.base_url + path

    def get(self, path: str, *, token: str | None = None, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.get(self.url(path), headers=headers, timeout=5, **kwargs)

    def assert_alive(self) -> None:
        code = self.process.poll()
        if code is not None:
            pytest.fail(f"manage.py serve exited early with code {code}; last 50 lines of "
                        f"{self.log_path}:\n{self.log_tail()}", pytrace=False)


def _health_answers(city: ServedCity) -> bool:
    city.assert_alive()
    try:
        return requests.get(city.url("/api/v1/health"), timeout=1).status_code in (200, 503)  # 503: degraded
    except requests.RequestException:
        return False


def free_mqtt_port(avoid: int) -> int:
    port = free_port()
    while port == avoid or broker_reachable("127.0.0.1", port, 0.2):
        port = free_port()
    return port


def start_served_city(workdir: Path, *, demo: bool = True, web_port: int | None = None,
                      mqtt_port: int | None = None, admin_token: str | None = None,
                      database_url: str | None = None, extra_env: dict[str, str] | None = None,
                      _tries: int = 3) -> ServedCity:
    """Starts ``manage.py serve`` (no broker at its MQTT port, so the embedded one starts) and
    waits until /api/v1/health answers (ok or degraded). Without ``database_url``, a SQLite file in ``workdir``.
    Ports chosen here that another process took before the server bound them are chosen again."""
    ours = web_port is None and mqtt_port is None
    web_port = web_port or free_port()
    mqtt_port = mqtt_port or free_mqtt_port(web_port)
    admin_token = admin_token or secrets.token_urlsafe(24)
    env = dict(os.environ)
    env.update({
        "CITYOPS_DEMO": "1" if demo else "0",
        "CITYOPS_HOST": "127.0.0.1",
        "CITYOPS_PORT": str(web_port),
        "CITYOPS_MQTT_URL": f"mqtt://127.0.0.1:{mqtt_port}",
        "CITYOPS_DATABASE_URL": database_url or f"sqlite:///{workdir / 'cityops.db'}",
        "CITYOPS_DATA_DIR": str(workdir),
        "CITYOPS_ADMIN_TOKEN": admin_token,
        "CITYOPS_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        "CITYOPS_SIM_HISTORY_DAYS": "0",  # weeks of the past are the history tests' (test_history.py), not every page's
        **(extra_env or {}),
    })
    log_path = workdir / "serve.log"
    people_made = workdir / "people-created"  # once per database: a restart reuses it (SQLite or PostgreSQL)
    if not people_made.exists():  # `manage.py user create` for each, in one process (a start of Python each was 5 s)
        commands = [["user", "create", name, "--role", role, "--password-stdin",
                     *(["--department", DEPARTMENT] if role == "department" else [])] for role, name in PEOPLE.items()]
        subprocess.run([sys.executable, "-c", f"import manage\nfor argv in {commands!r}: manage.main(argv)"],
                       cwd=PROJECT_ROOT, env=env, input=(PASSWORD + "\n") * len(commands), text=True, check=True,
                       capture_output=True, timeout=60)
        people_made.touch()
    logged_before = log_path.stat().st_size if log_path.exists() else 0
    with log_path.open("ab") as log_file:
        process = subprocess.Popen([sys.executable, "manage.py", "serve"], cwd=PROJECT_ROOT, env=env,
                                   stdout=log_file, stderr=subprocess.STDOUT)
    city = ServedCity(base_url=f"http://127.0.0.1:{web_port}", admin_token=admin_token, log_path=log_path,
                      process=process, started_at=time.monotonic(), mqtt_port=mqtt_port)
    try:
        wait_until(lambda: _health_answers(city), START_TIMEOUT_S, interval=0.2,
                   message="GET /api/v1/health to answer")
    except AssertionError as error:
        stop_served_city(city)
        pytest.fail(f"{error}; last 50 lines of {log_path}:\n{city.log_tail()}", pytrace=False)
    except pytest.fail.Exception:
        stop_served_city(city)
        with log_path.open("rb") as log_file:
            log_file.seek(logged_before)
            taken = b"Address already in use" in log_file.read()
        if not (ours and taken and _tries > 1):
            raise
        return start_served_city(workdir, demo=demo, admin_token=admin_token, database_url=database_url,
                                 extra_env=extra_env, _tries=_tries - 1)
    return city


def sign_in(browser, city: ServedCity, role: str = "admin", next_path: str = "/") -> None:
    """Signs the browser in through the sign-in form, as a person of ``role``, and opens ``next_path``."""
    sign_in_as(browser, city.base_url, PEOPLE[role], PASSWORD, next_path)


def sign_in_as(browser, base_url: str, name: str, password: str, next_path: str = "/") -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{base_url}/login?next={next_path}")
    browser.find_element(By.ID, "signin-name").send_keys(name)
    browser.find_element(By.ID, "signin-password").send_keys(password)
    browser.find_element(By.ID, "signin-submit").click()
    wait_until(lambda: "/login" not in browser.current_url, 15, interval=0.1,
               message=f"the sign-in of {name} to finish")


def texts_of(browser, css: str) -> list[str]:
    """The text of each element matching ``css``, read in one script: a page that re-renders (every 2 s, or as
    its figures arrive) cannot change between finding an element and reading it. Found and read element by
    element over WebDriver, a loaded machine read across a re-render: "stale element reference"."""
    return browser.execute_script("return Array.from(document.querySelectorAll(arguments[0]))"
                                  ".map(function (e) { return e.innerText; });", css)


def text_of(browser, css: str) -> str:
    """The matching elements' text, joined (``texts_of``)."""
    return " ".join(texts_of(browser, css))


def set_viewport(browser, width: int, height: int) -> None:
    """The page's viewport is exactly ``width`` x ``height`` CSS pixels (a window's frame does not count);
    below 800 px wide the browser is a phone (touch, and the page's own viewport meta tag applies)."""
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 800})
    browser.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": width < 800})


def stop_served_city(city: ServedCity) -> bool:
    """Stops the process (SIGTERM, then kill); returns whether it had died before."""
    process = city.process
    died_early = process.poll() is not None
    if not died_early:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    return died_early


@contextmanager
def fresh_database(kind: str, workdir: Path) -> Iterator[str]:
    """A new, empty database of the given kind for one served city."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'cityops.db'}"
        return
    with postgres_schema() as url:
        yield url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def served_database(request) -> str:
    """The kind of database the served cities of a test use: each browser test runs on both."""
    if request.param == "postgresql":
        require_postgres()
    return request.param


@pytest.fixture(scope="session")
def served_city(tmp_path_factory, served_database) -> ServedCity:
    workdir = tmp_path_factory.mktemp(f"served-city-{served_database}")
    with fresh_database(served_database, workdir) as database_url:
        city = start_served_city(workdir, database_url=database_url)
        try:
            yield city
        finally:
            died_early = stop_served_city(city)
    if died_early:
        pytest.fail(f"manage.py serve exited before the tests were done (code {city.process.returncode}); "
                    f"last 50 lines of {city.log_path}:\n{city.log_tail()}", pytrace=False)


@contextmanager
def headless_chromium(*arguments: str) -> Iterator:
    """Headless Chromium (selenium 4.2) that records console messages and network requests."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="cityops-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--no-first-run", "--disable-sync", "--window-size=1600,1000",
                     f"--user-data-dir={profile}", *arguments):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def require_chromium() -> None:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"missing {', '.join(missing)} (CI must run the browser tests)")
        pytest.skip(f"missing {', '.join(missing)}")


@pytest.fixture
def browser():
    require_chromium()
    with headless_chromium() as driver:
        yield driver
