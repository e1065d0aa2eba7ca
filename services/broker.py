"""Broker helpers: is one reachable, and the embedded broker for a single machine without one."""
from __future__ import annotations

import asyncio
import logging
import socket
import threading

log = logging.getLogger("cityops.broker")


def broker_reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def embedded_broker_config(host: str, port: int) -> dict:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {
            "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
        },
    }


def start_embedded_broker(host: str, port: int, ready_timeout: float = 10.0) -> threading.Thread:
    """Starts an amqtt broker on its own event loop in a daemon thread; returns once it listens."""
    from amqtt.broker import Broker

    for noisy in ("amqtt", "transitions"):  # their INFO logs every packet and session state
        logging.getLogger(noisy).setLevel(logging.WARNING)
    ready = threading.Event()
    failure: list[BaseException] = []

    def target() -> None:
        async def main() -> None:
            broker = Broker(embedded_broker_config(host, port))
            try:
                await broker.start()
            except BaseException as error:  # reported to the caller below
                failure.append(error)
                ready.set()
                return
            ready.set()
            await asyncio.Event().wait()

        asyncio.run(main())

    thread = threading.Thread(target=target, daemon=True, name="cityops-embedded-broker")
    thread.start()
    if not ready.wait(ready_timeout) or failure:
        raise RuntimeError(f"the embedded MQTT broker did not start on {host}:{port}: {failure[:1]}")
    log.info("embedded MQTT broker (amqtt) listening on %s:%s", host, port)
    return thread
