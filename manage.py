"""CityOps command line: one codebase, several process roles, chosen at start-up.

  python manage.py serve        single machine: web + ingest (+ simulator with CITYOPS_DEMO=1,
                                the default here) + an embedded broker when none listens
  python manage.py web          the web role (Dash pages + REST API)
  python manage.py ingest       the ingest role (MQTT -> database, scheduled jobs)
  python manage.py simulate     the demo city's simulator alone
  python manage.py build-city   build a city from an OSM PBF file (see docs/CITY.md)
  python manage.py migrate      bring the database schema up to date
  python manage.py token create --name kiosk-1 --role display | token revoke --name kiosk-1
  python manage.py user create NAME --role admin   (password prompted, or --password-stdin)
  python manage.py user passwd NAME | user disable NAME
  python manage.py drill list | drill start NAME | drill stop
                                scripted scenarios the simulator plays (services/drills.py)
  python manage.py mqtt-user add NAME --role device|cityops|hotline|simulator | mqtt-user remove NAME
                                the broker's accounts and ACL (deploy/mosquitto/cityops.conf)
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

from services.config import Settings, SettingsError, masked_url

log = logging.getLogger("cityops")

WEB_CONNECTION_LIMIT = 1000


def _settings(demo_default: bool = False) -> Settings:
    """The process's settings, read once; CITYOPS_DEMO unset means ``demo_default``."""
    settings = Settings.from_env()
    if "demo" not in settings.model_fields_set:
        settings = settings.model_copy(update={"demo": demo_default})
    log.info("settings: %r", settings)  # secrets masked (services/config.py)
    return settings


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


def create_demo_administrator(runtime) -> str | None:
    """The demo opens on the sign-in page; with nobody to sign in yet, it makes an administrator and
    says its password once in the log (as a notebook server shows its token). Not in production:
    only ``serve`` in demo mode does this, and only while no user exists."""
    import secrets

    from services.access.principal import Principal
    from services.access.users import CreateUser, user_count

    if user_count(runtime.engine):
        return None
    password = secrets.token_urlsafe(12)
    CreateUser(runtime.engine, Principal.system("demo"), "admin", "admin", password)()
    settings = runtime.settings
    log.warning("demo: no user existed, so an administrator was made. Sign in at http://%s:%s/login as "
                "'admin' with the password %s  (change it: python manage.py user passwd admin)",
                settings.host, settings.port, password)
    return password


def cmd_serve(_args) -> None:
    from services.runtime import open_runtime

    settings = _settings(demo_default=True)
    stop = threading.Event()
    _stop_on_signals(stop)
    _ensure_broker(settings)
    runtime = open_runtime(settings)
    if settings.demo:
        create_demo_administrator(runtime)
    scheduler, ingest_thread = _start_ingest(runtime, stop)
    if settings.demo:
        from services.simulator import start_simulator_thread
        from services.simulator.history import start_history_thread

        live_backfill = timedelta(minutes=settings.sim_backfill_minutes)
        start_simulator_thread(settings, stop, backfill=live_backfill, speed=settings.sim_speed)
        log.info("demo simulator running for %s", runtime.city.name)
        if settings.sim_history_days > 0:  # the scorecards' trends from the first run
            start_history_thread(runtime, stop, days=settings.sim_history_days, live_backfill=live_backfill, live=True)
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
    print(f"database at {masked_url(settings.database_url)} is up to date")


def cmd_token(args) -> None:
    from services.auth import create_token, revoke_token
    from services.db import make_engine, migrate

    engine = make_engine(_settings().database_url)
    migrate(engine)
    if args.action == "create":
        print(create_token(engine, args.name, args.role, department=args.department))
    else:
        print(f"revoked {revoke_token(engine, args.name)} token(s) named {args.name!r}")


def cmd_drill(args) -> None:
    from services.drills import UnknownDrill, list_drills, publish_start, publish_stop

    if args.action == "list":
        for drill in list_drills():
            print(f"{drill.name:<16} {drill.minutes:>4g} min  {drill.title}: {drill.description}")
        return
    settings = _settings()
    try:
        if args.action == "start":
            if not args.name:
                sys.exit("error: drill start needs a NAME (see: manage.py drill list)")
            order = publish_start(settings, args.name, args.by)
            print(f"drill {order['drill']} started at {order['startedAt']} (until {order['until']}); "
                  f"everything it produces is marked drill={order['drill']!r}")
        else:
            publish_stop(settings)
            print("drill stopped")
    except UnknownDrill as error:
        sys.exit(f"error: {error}")
    except ConnectionError as error:
        sys.exit(f"error: {error}")


def cmd_mqtt_user(args) -> None:
    import getpass
    from pathlib import Path

    from services.mqtt_access import MqttAccessError, add_account, remove_account

    password_file, acl_file = Path(args.password_file), Path(args.acl_file)
    try:
        if args.action == "remove":
            removed = remove_account(password_file, acl_file, args.name)
            print(f"removed the MQTT account {args.name!r}" if removed else f"no MQTT account {args.name!r}")
        else:
            if args.password_stdin:
                password = sys.stdin.readline().rstrip("\r\n")
            else:
                password = getpass.getpass(f"password for {args.name}: ")
                if getpass.getpass("again: ") != password:
                    sys.exit("the passwords differ; nothing changed")
            add_account(password_file, acl_file, args.name, args.role, password, _settings().topic_root)
            print(f"MQTT account {args.name!r} ({args.role}) written to {password_file} and {acl_file}")
    except (MqttAccessError, OSError) as error:
        sys.exit(f"error: {error}")
    print("reload the broker to apply it: kill -HUP <mosquitto pid> (systemctl reload mosquitto)")


def _read_password(args) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass(f"Password for {args.name}: ")
    if getpass.getpass("Again: ") != first:
        raise SystemExit("the two passwords differ; nothing changed")
    return first


def cmd_user(args) -> None:
    from services.access.principal import Principal
    from services.access.users import CreateUser, ResetPassword, SetDisabled
    from services.commands import Refused
    from services.db import make_engine, migrate

    engine = make_engine(_settings().database_url)
    migrate(engine)
    cli = Principal.system("cli")
    try:
        if args.action == "create":
            if not args.role:
                raise SystemExit("user create needs --role (admin, dispatcher, agent, department, manager)")
            view = CreateUser(engine, cli, args.name, args.role, _read_password(args), args.department)()
            print(f"user {view.name} created with the role {view.role}")
        elif args.action == "passwd":
            ResetPassword(engine, cli, args.name, _read_password(args))()
            print(f"new password set for {args.name}; their sessions have ended")
        else:
            SetDisabled(engine, cli, args.name, True)()
            print(f"user {args.name} disabled; their sessions have ended")
    except Refused as refusal:
        raise SystemExit(f"refused: {refusal.message}") from None


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
    token.add_argument("--role", default="display",
                       choices=("admin", "dispatcher", "agent", "department", "manager", "reporter", "display"))
    token.add_argument("--department", help="the department of a department token (config/departments.yaml)")
    token.set_defaults(handler=cmd_token)
    user = commands.add_parser("user", help="people who sign in: create, passwd, disable")
    user.add_argument("action", choices=("create", "passwd", "disable"))
    user.add_argument("name")
    user.add_argument("--role", choices=("admin", "dispatcher", "agent", "department", "manager"))
    user.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    user.add_argument("--department", help="the department of a department user (config/departments.yaml)")
    user.set_defaults(handler=cmd_user)
    drill = commands.add_parser("drill", help="list, start or stop a drill (a scripted scenario the simulator plays)")
    drill.add_argument("action", choices=("list", "start", "stop"))
    drill.add_argument("name", nargs="?", help="the drill to start (see: drill list)")
    drill.add_argument("--by", default=f"cli:{os.environ.get('USER', 'admin')}", help="who starts it (recorded)")
    drill.set_defaults(handler=cmd_drill)
    mqtt_user = commands.add_parser("mqtt-user", help="broker accounts: a password file entry and ACL role")
    mqtt_user.add_argument("action", choices=("add", "remove"))
    mqtt_user.add_argument("name", help="the account; a device's is its device id (its topics use it)")
    mqtt_user.add_argument("--role", default="device", choices=("device", "cityops", "hotline", "simulator"))
    mqtt_user.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    mqtt_user.add_argument("--password-file", default="/etc/mosquitto/cityops.passwd")
    mqtt_user.add_argument("--acl-file", default="/etc/mosquitto/cityops.acl")
    mqtt_user.set_defaults(handler=cmd_mqtt_user)
    # simulate and build-city hand their own options (--seed, --backfill-minutes, ...) to their own
    # parsers; argparse's REMAINDER does not take options that come first, so they are kept aside here
    args, rest = parser.parse_known_args(argv)
    if rest:
        if not hasattr(args, "rest"):
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        args.rest = rest + args.rest
    logging.basicConfig(level=os.environ.get("CITYOPS_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # it logs every run of every job at INFO
    try:
        args.handler(args)
    except SettingsError as error:
        sys.exit(f"CityOps cannot start: {error}")


if __name__ == "__main__":
    sys.exit(main())
