"""The ingest process role: MQTT -> validation -> batched writes -> latest state.

Threading: receive, parse and write all run on the ingest's event loop thread. A batch is
written synchronously (blocking the loop for a few milliseconds): SQLite gives up the GIL on
every row, and with a second busy Python thread each row would wait for the GIL's switch
interval, which made a writer thread ten times slower than this (see docs/PERFORMANCE.md).

Delivery guarantee: the ingest subscribes with QoS 1 on a persistent session (fixed client id,
clean_session=False) and acknowledges each message only after the batch holding it is
committed (paho's manual ack). A message published while the ingest is down is delivered when
it returns; a message in flight when it crashes is redelivered and stored once (see store.py).

What follows from a stored message (an incident, a unit's status, an alarm) is not done here: the
reactions (services/reactions.py) read it from the database, with a cursor moved in the same
transaction, on the leading ingest process; the ingest only wakes them after each commit.
"""
from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os
import signal
import socket
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

import aiomqtt
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from services.config import Settings
from services.models import IngestStatus
from services.store import Batch, BatchResult, ObservationStore, RejectedIn
from services.telemetry import ParseContext, ParsedMessage, parse_message

log = logging.getLogger("cityops.ingest")

MAX_BATCH = 2000
BATCH_GATHER_S = 0.05  # under load, wait this long for a batch to fill before writing it
HEARTBEAT_S = 1.0
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 10.0


@dataclass
class IngestStats:
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    ignored: int = 0
    rejected_by_reason: Counter = field(default_factory=Counter)
    broker_connected: bool = False
    lag_seconds: float = 0.0
    last_message_at: datetime | None = None
    connections: int = 0


@dataclass(slots=True)
class _Pending:
    """A received message waiting for its batch to commit, then for its acknowledgment."""

    mid: int
    qos: int
    generation: int
    parsed: ParsedMessage
    rejected: list[RejectedIn] | None
    received_monotonic: float


class Ingest:
    def __init__(self, settings: Settings, engine: Engine, *, context: ParseContext,
                 district_of: Callable[[float, float], str | None] = lambda lon, lat: None,
                 instance_id: str | None = None, reactions=None):
        self.settings = settings
        self.engine = engine
        self.context = context
        self.store = ObservationStore(engine, district_of)
        self.stats = IngestStats()
        self.instance_id = instance_id or f"{socket.gethostname()}:{os.getpid()}"
        # the durable reactions (services/reactions.py): run while the ingest runs, woken after each commit
        self.reactions = reactions
        # called after each commit, on the ingest's loop, in order (benchmarks and tools)
        self.batch_listeners: list[Callable[[BatchResult], None]] = []
        crash_after = os.environ.get("CITYOPS_TEST_CRASH_AFTER_COMMIT")  # fault injection for the tests
        self._crash_after_stored = int(crash_after) if crash_after else None
        self._stored_for_crash = 0
        self._queue: asyncio.Queue[_Pending] | None = None
        self._generation = 0
        self._client: aiomqtt.Client | None = None

    # ------------------------------------------------------------ lifecycle

    async def run(self, stop: asyncio.Event) -> None:
        """Receives until ``stop`` is set, reconnecting with backoff; flushes before returning."""
        tune_garbage_collector()
        self._queue = asyncio.Queue()
        writer = asyncio.create_task(self._write_loop(), name="ingest-writer")
        heartbeat = asyncio.create_task(self._heartbeat_loop(stop), name="ingest-heartbeat")
        tasks = [writer, heartbeat]
        if self.reactions is not None:
            tasks.append(asyncio.create_task(self.reactions.run(), name="ingest-reactions"))
        try:
            await self._receive_with_reconnect(stop)
        finally:
            await self._queue.join()  # everything received is written and acknowledged
            self.stats.broker_connected = False
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.to_thread(self._write_heartbeat)

    async def _receive_with_reconnect(self, stop: asyncio.Event) -> None:
        backoff = BACKOFF_START_S
        while not stop.is_set():
            try:
                # the connection's generation and client are set before connecting: a persistent
                # session's queued messages reach _accept as soon as the CONNACK is in
                client = self._make_client()
                self._generation += 1
                self._client = client
                async with client:
                    self.stats.connections += 1
                    self.stats.broker_connected = True
                    await client.subscribe(self.subscription, qos=1)
                    log.info("ingest connected to %s:%s, subscribed to %s",
                             self.settings.mqtt.host, self.settings.mqtt.port, self.subscription)
                    backoff = BACKOFF_START_S
                    await self._receive(client, stop)
                    await self._queue.join()  # ack what this connection delivered before leaving it
            except aiomqtt.MqttError as error:
                if stop.is_set():
                    break
                self.stats.broker_connected = False
                log.warning("broker unreachable (%s); retrying in %.1f s", error, backoff)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=backoff)
                except asyncio.TimeoutError:
                    pass
                backoff = min(backoff * 2, BACKOFF_MAX_S)
            finally:
                self._client = None
                self.stats.broker_connected = False

    async def _receive(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        """Waits until ``stop``; a lost connection raises MqttError to the caller. The messages
        themselves reach ``_accept`` through the client's queue (see ``_HandOff``)."""

        async def consume() -> None:
            async for message in client.messages:  # ends only with the connection (MqttError)
                self._accept(message)

        consumer = asyncio.create_task(consume(), name="ingest-receive")
        stopper = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait({consumer, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if consumer in done:
                consumer.result()
        finally:
            for task in (consumer, stopper):
                task.cancel()
            await asyncio.gather(consumer, stopper, return_exceptions=True)

    def _make_client(self) -> aiomqtt.Client:
        target = self.settings.mqtt
        client = aiomqtt.Client(
            target.host, target.port, username=target.username, password=target.password,
            identifier=self.settings.ingest_client_id, clean_session=False, keepalive=15,
            tls_context=ssl.create_default_context() if target.tls else None,
            timeout=10, queue_type=functools.partial(_HandOff, self._hand_off),
        )
        # paho acknowledges only when told, after the commit; set before connecting, because a
        # persistent session's queued messages arrive right after the CONNACK
        client._client.manual_ack_set(True)
        return client

    @property
    def subscription(self) -> str:
        topic = f"{self.settings.topic_root}/#"
        group = self.settings.ingest_shared_group
        return f"$share/{group}/{topic}" if group else topic

    # ------------------------------------------------------------ receive -> parse

    def _hand_off(self, message: aiomqtt.Message) -> None:
        """Called inside paho's read callback: an exception here would end the connection."""
        try:
            self._accept(message)
        except Exception:  # a bug, not bad input (parse_message keeps bad input as rejections)
            log.exception("could not accept a message on %s; it stays unacknowledged", message.topic)

    def _accept(self, message: aiomqtt.Message) -> None:
        received_at = datetime.now(timezone.utc)
        topic = message.topic.value
        payload = message.payload if isinstance(message.payload, bytes) else bytes(str(message.payload or ""), "utf-8")
        parsed = parse_message(topic, payload, self.context, received_at)
        self.stats.received += 1
        self.stats.last_message_at = received_at
        rejected = None
        if parsed.ignored:
            self.stats.ignored += 1
        elif parsed.rejections:
            rejected = [RejectedIn(topic, payload, r.reason, r.detail, received_at) for r in parsed.rejections]
            self.stats.rejected += 1
            self.stats.rejected_by_reason[parsed.rejections[0].reason] += 1
        self._queue.put_nowait(_Pending(message.mid, message.qos, self._generation, parsed, rejected,
                                        time.monotonic()))

    # ------------------------------------------------------------ batch -> store -> ack

    async def _write_loop(self) -> None:
        while True:
            pending = [await self._queue.get()]
            if self._queue.qsize() < MAX_BATCH // 4:
                await asyncio.sleep(BATCH_GATHER_S)  # let the receive loop gather a fuller batch
            while len(pending) < MAX_BATCH and not self._queue.empty():
                pending.append(self._queue.get_nowait())
            try:
                await self._write(pending)
            finally:
                for _ in pending:
                    self._queue.task_done()

    async def _write(self, pending: list[_Pending]) -> None:
        batch = Batch()
        for item in pending:
            parsed = item.parsed
            batch.observations += parsed.observations
            if parsed.reports:
                batch.reports += parsed.reports
            if parsed.replies:
                batch.replies += parsed.replies
            if item.rejected:
                batch.rejected += item.rejected
        while True:
            try:
                result = self.store.write(batch)
                break
            except Exception:  # the database is away: keep the batch, unacknowledged, and retry
                log.exception("writing a batch of %d failed; retrying in 1 s", len(batch))
                await asyncio.sleep(1.0)
        self.stats.stored += result.stored
        self.stats.duplicates += result.duplicates
        self.stats.lag_seconds = time.monotonic() - pending[0].received_monotonic
        if self._crash_after_stored is not None:
            self._crash_if_due(result)
        self._acknowledge(pending)
        if self.reactions is not None:
            self.reactions.wake(result)
        if self.batch_listeners:
            self._notify(result)

    def _crash_if_due(self, result: BatchResult) -> None:
        """CITYOPS_TEST_CRASH_AFTER_COMMIT=n: the process is killed (SIGKILL) right after the commit
        that brings the rows it stored to n, before acknowledging and before any reaction."""
        self._stored_for_crash += result.stored + result.reports_stored + result.replies_stored
        if self._stored_for_crash >= self._crash_after_stored:
            log.warning("CITYOPS_TEST_CRASH_AFTER_COMMIT: killing the ingest after the commit")
            os.kill(os.getpid(), signal.SIGKILL)

    def _notify(self, result: BatchResult) -> None:
        for listener in self.batch_listeners:
            try:
                listener(result)
            except Exception:  # a failing consumer must not stop the ingest
                log.exception("batch listener %r failed", listener)

    def _acknowledge(self, pending: list[_Pending]) -> None:
        client = self._client
        if client is None:
            return  # the connection is gone; the broker redelivers and the store deduplicates
        for item in pending:
            if item.qos > 0 and item.generation == self._generation:
                client._client.ack(item.mid, item.qos)

    # ------------------------------------------------------------ heartbeat

    async def _heartbeat_loop(self, stop: asyncio.Event) -> None:
        while True:
            try:
                self._write_heartbeat()
            except Exception:
                log.exception("ingest heartbeat failed")
            await asyncio.sleep(HEARTBEAT_S)

    def _write_heartbeat(self) -> None:
        insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        row = {
            "instance_id": self.instance_id, "started_at": self.stats.started_at,
            "updated_at": datetime.now(timezone.utc), "broker_connected": self.stats.broker_connected,
            "received": self.stats.received, "stored": self.stats.stored, "duplicates": self.stats.duplicates,
            "rejected": self.stats.rejected, "rejected_by_reason": dict(self.stats.rejected_by_reason),
            "lag_seconds": round(self.stats.lag_seconds, 3), "last_message_at": self.stats.last_message_at,
        }
        statement = insert(IngestStatus.__table__).values(row)
        statement = statement.on_conflict_do_update(
            index_elements=["instance_id"], set_={k: v for k, v in row.items() if k != "instance_id"})
        with self.engine.begin() as connection:
            connection.execute(statement)


class _HandOff(asyncio.Queue):
    """aiomqtt's incoming-message queue, replaced by a hand-off: each message goes straight to
    the ingest as paho decodes it. aiomqtt's ``async for`` costs a task and an ``asyncio.wait``
    per message, about a fifth of the ingest's time at 10,000 msg/s; with nothing queued, the
    iterator is left only to report the end of the connection."""

    def __init__(self, accept: Callable[[aiomqtt.Message], None], maxsize: int = 0):
        super().__init__(maxsize)
        self._accept = accept

    def put_nowait(self, message: aiomqtt.Message) -> None:
        self._accept(message)


def tune_garbage_collector() -> None:
    """Every message allocates a dozen short-lived containers, so the collector runs all the time;
    its full passes walked the whole start-up heap (schema, city geometry) and cost the ingest
    ~30 µs per message, a third of its time. The start-up heap is frozen out of its sight, and
    young objects (all freed by reference counting within a batch) are collected less often."""
    gc.freeze()
    gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(max(gen0, 50_000), gen1, gen2)


def start_ingest_thread(ingest: Ingest, stop: threading.Event) -> threading.Thread:
    """Runs the ingest on its own event loop in a background thread (single-machine mode)."""

    def target() -> None:
        async def main() -> None:
            async_stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            threading.Thread(target=lambda: (stop.wait(), loop.call_soon_threadsafe(async_stop.set)),
                             daemon=True, name="ingest-stop-bridge").start()
            await ingest.run(async_stop)

        asyncio.run(main())

    thread = threading.Thread(target=target, daemon=True, name="cityops-ingest")
    thread.start()
    return thread
