"""Run the simulator against a real MQTT broker: publish the city, answer unit commands.

The sim clock starts at now - backfill and catches up with the wall clock as fast as it can; from
then on it runs `speed` times the wall clock. Broker loss is survived: messages wait in a bounded
queue and the client reconnects with exponential backoff (capped at 10 s).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import aiomqtt

from services.city import load_city
from services.config import Settings

from .common import OutgoingMessage
from .drills import UnknownDrill, control_topic, read_control
from .hotline import PLAY_EVERY, HotlineDesk
from .missions import missions_from_database
from .model import STEP_S, CitySimulator
from .units import Mission

log = logging.getLogger("cityops.simulator")
mqtt_log = logging.getLogger("cityops.simulator.mqtt")
# aiomqtt warns whenever more than 10 publishes are in flight; pipelining them is the point here.
mqtt_log.addFilter(lambda record: not record.getMessage().startswith("There are"))

MAX_BACKOFF_S = 10.0
MAX_PENDING = 200_000
PUBLISH_BATCH = 200
CATCH_UP_CHUNK = timedelta(minutes=1)


class SimClock:
    """Where the sim clock should be now: catching up until it reaches the wall clock, then speed x."""

    def __init__(self, sim: CitySimulator, speed: float):
        self.sim = sim
        self.speed = speed
        self._anchor: tuple[float, datetime] | None = None  # (monotonic, sim time) once caught up

    def target(self) -> datetime:
        wall = datetime.now(timezone.utc)
        if self._anchor is None:
            if self.sim.now + CATCH_UP_CHUNK < wall:
                return self.sim.now + CATCH_UP_CHUNK
            self._anchor = (time.monotonic(), wall)
        mono, sim_at = self._anchor
        return sim_at + timedelta(seconds=(time.monotonic() - mono) * self.speed)

    @property
    def catching_up(self) -> bool:
        return self._anchor is None


async def run_simulator(settings: Settings, *, speed: float = 1.0, backfill: timedelta = timedelta(0),
                        stop_event: threading.Event | None = None, seed: int = 42,
                        missions: Callable[[], list[Mission]] | None = None) -> None:
    """missions: the dispatches to carry on once caught up (default: read from the database)."""
    city = load_city(settings.city_dir)
    resume = Resume(missions or (lambda: missions_from_database(settings.database_url)))
    desk = HotlineDesk(settings, city, seed)
    start = (datetime.now(timezone.utc) - backfill).replace(microsecond=0)
    sim = CitySimulator(city, seed=seed, topic_root=settings.topic_root, start=start)
    clock = SimClock(sim, speed)
    pending: deque[OutgoingMessage] = deque()
    stop_event = stop_event or threading.Event()
    log.info("simulating %s from %s at %sx (seed %s)", city.name, start.isoformat(), speed, seed)
    backoff = 0.5
    while not stop_event.is_set():
        try:
            async with _client(settings, seed) as client:
                log.info("connected to %s", settings.simulator_mqtt)
                backoff = 0.5
                await _session(client, sim, clock, pending, settings.topic_root, stop_event, resume,
                               HotlineTurns(desk))
        except aiomqtt.MqttError as error:
            log.warning("broker unavailable (%s); retrying in %.1f s", error, backoff)
            await _sleep_unless_stopped(backoff, stop_event)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
    desk.close()
    log.info("simulator stopped at sim time %s", sim.now.isoformat())


def _client(settings: Settings, seed: int, name: str = "sim") -> aiomqtt.Client:
    """``name`` keeps the live simulator's and the history's connections apart (one client id each)."""
    target = settings.simulator_mqtt
    return aiomqtt.Client(
        target.host, target.port, username=target.username, password=target.password, logger=mqtt_log,
        identifier=f"cityops-{name}-{seed}-{os.getpid()}", tls_context=target.tls_context(),
        max_inflight_messages=100, timeout=10,
    )


class Resume:
    """Picks up the units' missions once, when the sim clock has caught up with the wall clock.

    Not before: a backfill replays the past, while the missions are the present's.
    """

    def __init__(self, missions: Callable[[], list[Mission]]):
        self._missions = missions
        self.done = False

    async def __call__(self, sim: CitySimulator, clock: SimClock) -> list[OutgoingMessage]:
        if self.done or clock.catching_up:
            return []
        self.done = True
        missions = await asyncio.to_thread(self._missions)
        if missions:
            log.info("carrying on %d mission(s): %s", len(missions),
                     ", ".join(f"{m.unit_id} ({m.state})" for m in missions))
        return sim.resume(missions)


class HotlineTurns:
    """The hotline's agents, departments and citizens (hotline.py) look at their requests every
    PLAY_EVERY of sim time, once caught up: as with missions, the backfill is the past."""

    def __init__(self, desk: HotlineDesk):
        self.desk = desk
        self._next: datetime | None = None

    async def __call__(self, sim: CitySimulator, clock: SimClock) -> list[OutgoingMessage]:
        if clock.catching_up or (self._next is not None and sim.now < self._next):
            return []
        self._next = sim.now + PLAY_EVERY
        return await asyncio.to_thread(self.desk, sim.now, sim.start)


async def _session(client: aiomqtt.Client, sim: CitySimulator, clock: SimClock, pending: deque,
                   root: str, stop_event: threading.Event, resume: Resume, hotline: HotlineTurns) -> None:
    await client.subscribe(f"{root}/units/+/cmd", qos=1)
    await client.subscribe(control_topic(root), qos=1)  # drills (retained: one running is sent at once)
    listener = asyncio.create_task(_listen(client, sim, pending, root))
    try:
        while not stop_event.is_set():
            if listener.done():
                listener.result()  # re-raise the broker error that ended it
            _enqueue(pending, sim.advance(clock.target()))
            _enqueue(pending, await resume(sim, clock))
            _enqueue(pending, await hotline(sim, clock))
            await _flush(client, pending)
            if not clock.catching_up:
                await _sleep_unless_stopped(min(STEP_S / max(clock.speed, 1e-3), 1.0) / 2, stop_event)
            else:
                await asyncio.sleep(0)
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)


async def _listen(client: aiomqtt.Client, sim: CitySimulator, pending: deque, root: str) -> None:
    drills = control_topic(root)
    async for incoming in client.messages:
        if str(incoming.topic) == drills:
            _drill_order(sim, incoming.payload)
            continue
        parts = str(incoming.topic).split("/")
        if len(parts) < 3 or parts[-1] != "cmd":
            continue
        unit_id = parts[-2]
        try:
            cmd = json.loads(incoming.payload)
        except (TypeError, ValueError):
            cmd = None
        replies = sim.command(unit_id, cmd)
        log.info("command for %s: %s -> %s", unit_id, cmd, [r.json().get("result") for r in replies])
        _enqueue(pending, replies)


def _drill_order(sim: CitySimulator, payload) -> None:
    """Starts or stops a drill as the retained control message says (services/drills.py)."""
    order = read_control(bytes(payload or b""))
    if order is None:
        if sim.drills.running is not None:
            log.info("drill %s stopped", sim.drills.running.drill.name)
        sim.stop_drill()
        return
    if order.until <= datetime.now(timezone.utc):
        log.info("drill %s ended at %s; not replayed", order.name, order.until.isoformat())
        return
    if order == sim.drills.last_order:
        return  # the same order delivered again (a reconnect): it is playing or played already
    try:
        drill = sim.start_drill(order.name, order.started_at)
    except UnknownDrill as error:
        log.warning("%s", error)
        return
    sim.drills.last_order = order
    log.info("drill %s (%s) started at sim time %s", drill.name, drill.title, sim.drills.running.start.isoformat())


def _enqueue(pending: deque, messages: list[OutgoingMessage]) -> None:
    pending.extend(messages)
    overflow = len(pending) - MAX_PENDING
    if overflow > 0:
        for _ in range(overflow):
            pending.popleft()
        log.warning("broker too slow or away: dropped %d oldest messages", overflow)


async def _flush(client: aiomqtt.Client, pending: deque) -> None:
    """Publish what is waiting, in pipelined batches; a message leaves the queue only once sent."""
    while pending:
        batch = [pending[i] for i in range(min(PUBLISH_BATCH, len(pending)))]
        await asyncio.gather(*(client.publish(m.topic, m.payload, qos=m.qos, retain=m.retain) for m in batch))
        for _ in batch:
            pending.popleft()


async def _sleep_unless_stopped(seconds: float, stop_event: threading.Event) -> None:
    deadline = time.monotonic() + seconds
    while not stop_event.is_set() and time.monotonic() < deadline:
        await asyncio.sleep(min(0.2, deadline - time.monotonic()))


def start_simulator_thread(settings: Settings, stop_event: threading.Event, **kw) -> threading.Thread:
    """Run the simulator on its own event loop in a daemon thread (the single-machine command)."""

    def target() -> None:
        try:
            asyncio.run(run_simulator(settings, stop_event=stop_event, **kw))
        except Exception:  # a dead simulator must say so, not vanish
            log.exception("simulator thread crashed")

    thread = threading.Thread(target=target, name="cityops-simulator", daemon=True)
    thread.start()
    return thread


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cityops-simulator", description="Publish a simulated city over MQTT.")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--speed", type=float, default=1.0, help="sim seconds per wall second once caught up")
    parser.add_argument("--backfill-minutes", type=float, default=0.0, help="start this far in the past")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    stop_event = threading.Event()
    try:
        asyncio.run(run_simulator(settings, speed=args.speed, backfill=timedelta(minutes=args.backfill_minutes),
                                  stop_event=stop_event, seed=args.seed))
    except KeyboardInterrupt:
        stop_event.set()
    return 0
