"""CityOps command line: one codebase, several process roles, chosen at start-up.

  python manage.py serve        single machine: web + ingest (+ simulator with CITYOPS_DEMO=1,
                                the default here) + an embedded broker when none listens
  python manage.py web          the web role (Dash pages + REST API)
  python manage.py ingest       the ingest role (MQTT -> database, scheduled jobs)
  python manage.py simulate     the demo city's simulator alone
  python manage.py build-city   build a city from an OSM PBF file (see docs/CITY.md)
  python manage.py migrate      bring the database schema up to date
  python manage.py token create --name kiosk-1 --role display | token revoke --name kiosk-1
"""
from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import signal
import sys
import threading
from datetime import timedelta

from services.config import Settings

log = logging.getLogger("cityops")

WEB_CONNECTION_LIMIT = 1000


def _settings(demo_default: bool = False) -> Settings:
    demo_env = os.environ.get("CITYOPS_DEMO")
    return Settings.from_env(demo=(demo_default if not demo_env else demo_env.strip().lower() in ("1", "true", "yes")))


def _is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _stop_on_signals(stop: threading.Event) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())


def _ensure_broker(settings: Settings) -> None:
    from services.broker import broker_reachable, start_embedded_broker

    target = settings.mqtt
    if broker_reachable(target.host, target.port):
        log.info("using the MQTT broker at %s:%s", target.host, target.port)
    elif _is_local(target.host) and not target.tls:
        log.info("no MQTT broker listens at %s:%s; starting the embedded one", target.host, target.port)
        start_embedded_broker(target.host, target.port)
    else:
        log.warning("the MQTT broker at %s:%s is unreachable; the ingest keeps retrying", target.host, target.port)


def _serve_web(runtime, stop: threading.Event) -> None:
    from waitress.server import create_server

    from app import create_app

    settings = runtime.settings
    # A control room's screens each keep a few keep-alive connections open (a browser opens up to
    # six per server): waitress's default of 100 connections would refuse the 35th wall screen.
    server = create_server(create_app(runtime).server, host=settings.host, port=settings.port, threads=8,
                           connection_limit=WEB_CONNECTION_LIMIT)

    def close_when_stopped() -> None:
        stop.wait()
        server.close()  # the listening socket...
        for channel in list(server._map.values()):  # ...and the browsers' keep-alive connections,
            channel.close()  # without which waitress keeps serving them and never returns
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)

    threading.Thread(target=close_when_stopped, daemon=True, name="web-stop").start()
    log.info("CityOps web at http://%s:%s", settings.host, settings.port)
    try:
        server.run()
    except OSError:
        if not stop.is_set():
            raise


def _start_ingest(runtime, stop: threading.Event):
    from services.ingest import start_ingest_thread
    from services.runtime import build_ingest, start_scheduler

    scheduler = start_scheduler(runtime)
    thread = start_ingest_thread(build_ingest(runtime), stop)
    return scheduler, thread


def cmd_serve(_args) -> None:
    from services.runtime import open_runtime

    settings = _settings(demo_default=True)
    stop = threading.Event()
    _stop_on_signals(stop)
    _ensure_broker(settings)
    runtime = open_runtime(settings)
    scheduler, ingest_thread = _start_ingest(runtime, stop)
    if settings.demo:
        from services.simulator import start_simulator_thread

        backfill = timedelta(minutes=float(os.environ.get("CITYOPS_SIM_BACKFILL_MINUTES", "15")))
        start_simulator_thread(settings, stop, backfill=backfill,
                               speed=float(os.environ.get("CITYOPS_SIM_SPEED", "1")))
        log.info("demo simulator running for %s", runtime.city.name)
    try:
        _serve_web(runtime, stop)
    finally:
        stop.set()
        ingest_thread.join(15)
        scheduler.shutdown(wait=False)


def cmd_web(_args) -> None:
    from services.runtime import open_runtime

    stop = threading.Event()
    _stop_on_signals(stop)
    _serve_web(open_runtime(_settings()), stop)


def cmd_ingest(_args) -> None:
    from services.runtime import build_ingest, open_runtime, start_scheduler

    runtime = open_runtime(_settings())
    scheduler = start_scheduler(runtime)
    ingest = build_ingest(runtime)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await ingest.run(stop)

    try:
        asyncio.run(main())
    finally:
        scheduler.shutdown(wait=False)


def cmd_simulate(args) -> None:
    from services.simulator import main as simulator_main

    simulator_main(args.rest)


def cmd_build_city(args) -> None:
    from services.citybuild import main as build_main

    build_main(args.rest)


def cmd_migrate(_args) -> None:
    from services.db import make_engine, migrate

    settings = _settings()
    migrate(make_engine(settings.database_url))
    print(f"database at {settings.database_url} is up to date")


def cmd_token(args) -> None:
    from services.auth import create_token, revoke_token
    from services.db import make_engine, migrate

    engine = make_engine(_settings().database_url)
    migrate(engine)
    if args.action == "create":
        print(create_token(engine, args.name, args.role))
    else:
        print(f"revoked {revoke_token(engine, args.name)} token(s) named {args.name!r}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="manage.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, handler in (("serve", cmd_serve), ("web", cmd_web), ("ingest", cmd_ingest), ("migrate", cmd_migrate)):
        commands.add_parser(name).set_defaults(handler=handler)
    for name, handler in (("simulate", cmd_simulate), ("build-city", cmd_build_city)):
        sub = commands.add_parser(name, add_help=False)
        sub.add_argument("rest", nargs=argparse.REMAINDER)
        sub.set_defaults(handler=handler)
    token = commands.add_parser("token")
    token.add_argument("action", choices=("create", "revoke"))
    token.add_argument("--name", required=True)
    token.add_argument("--role", default="display", choices=("admin", "dispatcher", "manager", "display"))
    token.set_defaults(handler=cmd_token)
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("CITYOPS_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # it logs every run of every job at INFO
    args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
