"""The ingest process role: MQTT -> validation -> batched writes -> latest state.

Threading: receive, parse and write all run on the ingest's event loop thread. A batch is
written synchronously (blocking the loop for a few milliseconds): SQLite gives up the GIL on
every row, and with a second busy Python thread each row would wait for the GIL's switch
interval, which made a writer thread ten times slower than this (see docs/PERFORMANCE.md).

Delivery guarantee: the ingest subscribes with QoS 1 on a persistent session (fixed client id,
clean_session=False) and acknowledges each message only after the batch holding it is
committed (paho's manual ack). A message published while the ingest is down is delivered when
it returns; a message in flight when it crashes is redelivered and stored once (see store.py).

One bad message never stalls the ingest: a batch the database refuses because of its data
(a value too long, a character it does not take, a constraint) is split in halves down to the
message it refuses, which is kept as a rejection (``refused_by_database``) and acknowledged;
only failures of the database itself (connection lost, locked, unavailable) are retried.

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
import random
import signal
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

import aiomqtt
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from services import adapters
from services.config import Settings
from services.models import IngestStatus
from services.store import Batch, BatchResult, ObservationStore, RejectedIn
from services.telemetry import PARTIAL_REASONS, ParseContext, ParsedMessage, parse_message

log = logging.getLogger("cityops.ingest")

MAX_BATCH = 2000
BATCH_GATHER_S = 0.05  # under load, wait this long for a batch to fill before writing it
HEARTBEAT_S = 1.0
BACKOFF_START_S = 0.5
# A restarted broker is back within seconds; waiting longer only grows its queue of messages not
# yet saved to disk (see docs/RELIABILITY.md). Jitter keeps several ingests from reconnecting
# in lockstep.
BACKOFF_MAX_S = 3.0
BACKOFF_JITTER = 0.3
DATABASE_RETRY_S = 1.0


@dataclass
class IngestStats:
    """Counters of this process. ``rejected`` counts rejected messages and entities (what was
    lost); ``rejected_by_reason`` counts every rejection by reason, with ``partial`` for the
    attributes dropped from stored entities (not in ``rejected``: their entities were stored)."""

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
    topic: str
    payload: bytes
    received_at: datetime
    parsed: ParsedMessage
    rejected: RejectedIn | None
    received_monotonic: float


def reconnect_delay(backoff: float, draw: Callable[[float, float], float] = random.uniform) -> float:
    """The wait before the next connection attempt: ``backoff`` (doubled after each failure up
    to BACKOFF_MAX_S) less up to BACKOFF_JITTER of it, drawn at random; never above the cap."""
    capped = min(backoff, BACKOFF_MAX_S)
    return capped * (1.0 - draw(0.0, BACKOFF_JITTER))


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
        self._writing_since: float | None = None  # the oldest message of the batch being written
        self._last_commit = time.monotonic()

    # ------------------------------------------------------------ lifecycle

    async def run(self, stop: asyncio.Event) -> None:
        """Receives until ``stop`` is set, reconnecting with backoff; flushes before returning."""
        tune_garbage_collector()
        self._queue = asyncio.Queue()
        writer = asyncio.create_task(self._write_loop(), name="ingest-writer")
        heartbeat = asyncio.create_task(self._heartbeat_loop(stop), name="ingest-heartbeat")
        tasks = [writer, heartbeat]
        reactions = None
        if self.reactions is not None:
            reactions = asyncio.create_task(self.reactions.run(), name="ingest-reactions")
            tasks.append(reactions)
        try:
            await self._receive_with_reconnect(stop)
        finally:
            if reactions is not None:  # durable: what they have not reached, the next leader does
                reactions.cancel()
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
                    await client.subscribe([(topic, 1) for topic in self.subscriptions])
                    self.stats.broker_connected = True  # and listening: what is published now reaches it
                    log.info("ingest connected to %s:%s, subscribed to %s",
                             self.settings.mqtt.host, self.settings.mqtt.port, ", ".join(self.subscriptions))
                    backoff = BACKOFF_START_S
                    await self._receive(client, stop)
                    await self._queue.join()  # ack what this connection delivered before leaving it
            except aiomqtt.MqttError as error:
                if stop.is_set():
                    break
                self.stats.broker_connected = False
                delay = reconnect_delay(backoff)
                log.warning("broker unreachable (%s); retrying in %.1f s", error, delay)
                try:
                    async with asyncio.timeout(delay):  # (not wait_for: see Reactions.run)
                        await stop.wait()
                except TimeoutError:
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
            tls_context=target.tls_context(),
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

    @property
    def subscriptions(self) -> list[str]:
        """``<root>/#`` and the topics of registered adapters outside it (IoT Agent devices)."""
        group = self.settings.ingest_shared_group
        extra = [f"$share/{group}/{topic}" if group else topic for topic in adapters.extra_subscriptions()]
        return [self.subscription, *extra]

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
            rejected = self._count_rejections(topic, payload, received_at, parsed)
        self._queue.put_nowait(_Pending(message.mid, message.qos, self._generation, topic, payload, received_at,
                                        parsed, rejected, time.monotonic()))

    def _count_rejections(self, topic: str, payload: bytes, received_at: datetime,
                          parsed: ParsedMessage) -> RejectedIn:
        """Counts a message's rejections and keeps it once, with its first reasons."""
        for reason, count in parsed.reason_counts.items():
            self.stats.rejected_by_reason[reason] += count
            if reason not in PARTIAL_REASONS:
                self.stats.rejected += count
        return RejectedIn.of(topic, payload, received_at, parsed)

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
        self._writing_since = pending[0].received_monotonic
        try:
            results = await self._write_or_split(pending)
        finally:
            self._writing_since = None
        self.stats.lag_seconds = time.monotonic() - pending[0].received_monotonic
        if self._crash_after_stored is not None:
            for result in results:
                self._crash_if_due(result)
        self._acknowledge(pending)
        for result in results:
            if self.reactions is not None:
                self.reactions.wake(result)
            if self.batch_listeners:
                self._notify(result)

    async def _write_or_split(self, pending: list[_Pending]) -> list[BatchResult]:
        """Writes the messages, retrying while the database is away; a batch refused for its
        data is split in halves until the message it refuses is found and kept as a rejection."""
        while True:
            try:
                result = self.store.write(_batch_of(pending))
                break
            except Exception as error:
                if not refused_for_its_data(error):
                    log.exception("writing a batch of %d messages failed; retrying in %.0f s",
                                  len(pending), DATABASE_RETRY_S)
                    await asyncio.sleep(DATABASE_RETRY_S)
                    continue
                if len(pending) == 1:
                    await self._keep_refused(pending[0], error)
                    return []
                middle = len(pending) // 2
                return await self._write_or_split(pending[:middle]) + await self._write_or_split(pending[middle:])
        self._last_commit = time.monotonic()
        self.stats.stored += result.stored
        self.stats.duplicates += result.duplicates
        return [result]

    async def _keep_refused(self, item: _Pending, error: Exception) -> None:
        cause = getattr(error, "orig", None) or error
        first_line = (str(cause).strip().splitlines() or [""])[0]
        detail = f"{type(cause).__name__}: {first_line}"[:500]
        log.warning("the database refused a message on %s (%s); kept as a rejection", item.topic, detail)
        self.stats.rejected += 1
        self.stats.rejected_by_reason["refused_by_database"] += 1
        rejected = RejectedIn(item.topic, item.payload, "refused_by_database", detail, item.received_at)
        while True:
            try:
                self.store.write(Batch(rejected=[rejected]))
                self._last_commit = time.monotonic()
                return
            except Exception as failure:
                if refused_for_its_data(failure):  # not even its rejection is taken: logged, not retried
                    log.exception("the rejection of a message on %s could not be kept", item.topic)
                    return
                log.exception("keeping a rejection failed; retrying in %.0f s", DATABASE_RETRY_S)
                await asyncio.sleep(DATABASE_RETRY_S)

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

    def stalled_seconds(self) -> float:
        """How long messages have waited with nothing committed: it grows while a batch is
        retried (the database away), where ``lag_seconds``, set by each commit, stands still.
        A long backlog drain is not a stall: it commits batch after batch."""
        if self._writing_since is None:
            return 0.0
        return time.monotonic() - max(self._writing_since, self._last_commit)

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
            "lag_seconds": round(self.stats.lag_seconds, 3), "stalled_seconds": round(self.stalled_seconds(), 3),
            "last_message_at": self.stats.last_message_at,
        }
        statement = insert(IngestStatus.__table__).values(row)
        statement = statement.on_conflict_do_update(
            index_elements=["instance_id"], set_={k: v for k, v in row.items() if k != "instance_id"})
        with self.engine.begin() as connection:
            connection.execute(statement)


def _batch_of(pending: list[_Pending]) -> Batch:
    batch = Batch()
    for item in pending:
        parsed = item.parsed
        batch.observations += parsed.observations
        if parsed.reports:
            batch.reports += parsed.reports
        if parsed.replies:
            batch.replies += parsed.replies
        if parsed.ratings:
            batch.ratings += parsed.ratings
        if item.rejected:
            batch.rejected.append(item.rejected)
    return batch


# What a database raises for the data it was given; any other database error (connection lost,
# locked, unavailable, a missing table) is the database's own trouble and is retried.
_DATA_ERRORS = (sa_exc.DataError, sa_exc.IntegrityError, TypeError, ValueError, OverflowError)


def refused_for_its_data(error: Exception) -> bool:
    if isinstance(error, sa_exc.DBAPIError):
        return isinstance(error, (sa_exc.DataError, sa_exc.IntegrityError)) and not error.connection_invalidated
    if isinstance(error, sa_exc.StatementError):  # a value its column type could not bind
        return isinstance(error.orig, _DATA_ERRORS)
    return isinstance(error, _DATA_ERRORS)


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
