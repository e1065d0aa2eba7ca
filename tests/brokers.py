"""Brokers that tests and benchmarks start for themselves.

Mosquitto with CityOps's own configuration (deploy/mosquitto/cityops.conf) on a free port
when the binary is installed, else the embedded amqtt broker. Both can be stopped and
started again on the same port, keeping their sessions (Mosquitto with persistence on disk).

The shipped configuration requires accounts (password file, ACL) and a TLS listener. A test
broker keeps them when given ``BrokerAccess`` (the accounts it needs, the shipped ACL for the
test's topic root, a TLS listener with the test's certificates); without, it accepts anonymous
clients on a plain listener, like the embedded broker that ``make run`` starts.
"""
from __future__ import annotations

import os
import pwd
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from services.broker import broker_reachable
from services.config import PROJECT_ROOT
from services.mqtt_access import add_account
from tests.tls import TlsFiles

CONFIG = PROJECT_ROOT / "deploy" / "mosquitto" / "cityops.conf"


def _ephemeral_low() -> int:
    """The lowest port the kernel gives outgoing connections (32768 on Linux by default)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_PORTS = random.Random()  # each test worker its own sequence (seeded from the OS)


def free_port() -> int:
    """A port free now, below the kernel's ephemeral range: a port the kernel hands out (bind to 0) is given
    again to the next outgoing connection of any process (a browser, a database client), and a server started
    on it a moment later found it taken ("Address already in use", a served city in a series run)."""
    low = _ephemeral_low()
    for _ in range(200):
        port = _PORTS.randrange(20000, low) if low > 21000 else 0
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError(f"no free port found between 20000 and {low}")


def wait_until(condition, timeout: float, interval: float = 0.05, message="condition"):
    """Polls ``condition`` until it is truthy or ``timeout`` passes; returns its value. ``message``
    may be a function: it is called at the timeout, to say what the state was then."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            said = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {said}")
        time.sleep(interval)


@dataclass
class BrokerAccess:
    """What a test broker enforces: ``accounts`` name -> (password, role of services.mqtt_access)
    under the topic ``root``, and TLS on ``tls_port`` with these server files (tests/tls.py)."""

    accounts: dict[str, tuple[str, str]]
    root: str = "city"
    tls: TlsFiles | None = None
    tls_port: int = field(default_factory=free_port)


# the lines of cityops.conf about accounts and TLS, and what a test broker makes of them
_ACCESS_LINES = ("allow_anonymous false", "password_file /etc/mosquitto/cityops.passwd",
                 "acl_file /etc/mosquitto/cityops.acl", "listener 8883",
                 "certfile /etc/mosquitto/certs/server.crt", "keyfile /etc/mosquitto/certs/server.key")


def configure_access(config: str, workdir: Path, access: BrokerAccess | None) -> str:
    """cityops.conf's account and TLS lines for a test broker; writes its password file and ACL."""
    if access is None:  # anonymous, plain listener only
        replaced = {"allow_anonymous false": "allow_anonymous true"}
    else:
        files = workdir / "access"
        files.mkdir()
        for name, (password, role) in access.accounts.items():
            add_account(files / "passwd", files / "acl", name, role, password, access.root)
        replaced = {"allow_anonymous false": "allow_anonymous false",
                    "password_file /etc/mosquitto/cityops.passwd": f"password_file {files / 'passwd'}",
                    "acl_file /etc/mosquitto/cityops.acl": f"acl_file {files / 'acl'}"}
        if access.tls is not None:  # copied next to the broker's other files, which it may read
            shutil.copy(access.tls.cert_file, files / "server.crt")
            shutil.copy(access.tls.key_file, files / "server.key")
            replaced.update({"listener 8883": f"listener {access.tls_port} 127.0.0.1",
                             "certfile /etc/mosquitto/certs/server.crt": f"certfile {files / 'server.crt'}",
                             "keyfile /etc/mosquitto/certs/server.key": f"keyfile {files / 'server.key'}"})
        _readable_by_mosquitto(workdir, [files, *files.iterdir()])
    lines = []
    for line in config.splitlines():
        if line.strip() in _ACCESS_LINES:
            line = replaced.get(line.strip())
            if line is None:
                continue
        lines.append(line)
    return "\n".join(lines) + "\n"


def _readable_by_mosquitto(workdir: Path, paths: list[Path]) -> None:
    """Mosquitto started as root drops to the mosquitto user before it reads these files."""
    if os.geteuid() != 0:
        return
    try:
        account = pwd.getpwnam("mosquitto")
    except KeyError:
        return
    workdir.chmod(workdir.stat().st_mode | 0o111)  # may be passed through, not listed
    for path in paths:
        os.chown(path, account.pw_uid, account.pw_gid)


def _give_to_broker_user(folder: Path) -> None:
    """Run as root, mosquitto drops privileges to its ``user`` (``mosquitto``) before writing its
    persistence file; as in a real deployment (/var/lib/mosquitto owned by mosquitto), the
    persistence directory must belong to that user or every save fails."""
    if os.geteuid() != 0:
        return  # mosquitto keeps running as this user, who owns the directory
    try:
        account = pwd.getpwnam("mosquitto")
    except KeyError:
        account = pwd.getpwnam("nobody")  # what mosquitto falls back to without a mosquitto user
    os.chown(folder, account.pw_uid, account.pw_gid)


class MosquittoBroker:
    kind = "mosquitto"

    def __init__(self, port: int | None = None, access: BrokerAccess | None = None, config_path: Path = CONFIG):
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="cityops-mosquitto-"))
        _give_to_broker_user(self.workdir)
        self.process: subprocess.Popen | None = None
        self.access = access
        config = Path(config_path).read_text()
        config = config.replace("listener 1883 127.0.0.1", f"listener {self.port} 127.0.0.1")
        config = config.replace("persistence_location /var/lib/mosquitto/", f"persistence_location {self.workdir}/")
        config = configure_access(config, self.workdir, access)
        (self.workdir / "mosquitto.conf").write_text(config)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(self.workdir / "mosquitto.conf")],
            stdout=(self.workdir / "log.txt").open("ab"), stderr=subprocess.STDOUT,
        )
        wait_until(lambda: broker_reachable(self.host, self.port, 0.2), 10, message=f"mosquitto on {self.port}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: mosquitto saves its persistence file
            self.process.wait(10)
        self.process = None

    def kill(self) -> None:
        """A crash: SIGKILL, so only what mosquitto saved before survives."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    @property
    def persistence_file(self) -> Path:
        return self.workdir / "mosquitto.db"

    def log_text(self) -> str:
        path = self.workdir / "log.txt"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


class AmqttBroker:
    """The embedded broker, on its own event loop in a thread (used where mosquitto is missing)."""

    kind = "amqtt"

    def __init__(self, port: int | None = None):
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self._loop = None
        self._broker = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> None:
        import asyncio

        from amqtt.broker import Broker

        from services.broker import embedded_broker_config

        ready = threading.Event()

        def target() -> None:
            self._loop = asyncio.new_event_loop()
            self._broker = Broker(embedded_broker_config(self.host, self.port), loop=self._loop)
            self._loop.run_until_complete(self._broker.start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=target, daemon=True)
        self._thread.start()
        ready.wait(10)
        wait_until(lambda: broker_reachable(self.host, self.port, 0.2), 10, message=f"amqtt on {self.port}")

    def stop(self) -> None:
        import asyncio

        if self._loop and self._broker:
            asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = self._broker = self._thread = None

    def close(self) -> None:
        self.stop()


def start_test_broker():
    broker = MosquittoBroker() if shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists() else AmqttBroker()
    broker.start()
    return broker
