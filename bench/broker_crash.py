#!/usr/bin/env python
"""A Mosquitto crash (kill -9) in the middle of a 20,000-message QoS 1 burst: what is lost.

    .venv/bin/python bench/broker_crash.py                          # the shipped broker configuration
    .venv/bin/python bench/broker_crash.py --mosquitto-conf OLD.conf  # another one, to compare

A real Mosquitto (tests/brokers.py, which gives it a persistence directory it can write) and
the real ingest on a fresh SQLite database. The ingest connects (its persistent session is
created), a publisher sends N QoS 1 messages as fast as the broker takes them; when half of
them are acknowledged the broker is killed with SIGKILL and started again on the same port.
The publisher (paho) resends what was not acknowledged. Lost = acknowledged by the broker to
the publisher, yet never stored by CityOps once everything has settled.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=20_000)
    parser.add_argument("--mosquitto-conf", type=Path, default=None)
    parser.add_argument("--old-backoff", action="store_true", help="the ingest's back-off before 2026-12: up to 10 s, no jitter")
    args = parser.parse_args()
    if args.old_backoff:
        import services.ingest

        services.ingest.BACKOFF_MAX_S, services.ingest.BACKOFF_JITTER = 10.0, 0.0

    import paho.mqtt.client as mqtt
    from sqlalchemy import select

    from services.config import CITIES_DIR
    from services.models import Observation
    from tests.brokers import CONFIG, MosquittoBroker, wait_until
    from tests.integration.support import make_settings, start_ingest, traffic_entity

    broker = MosquittoBroker(config_path=args.mosquitto_conf or CONFIG)
    broker.start()
    workdir = Path(tempfile.mkdtemp(prefix="cityops-crash-"))
    settings = make_settings(f"sqlite:///{workdir / 'cityops.db'}", broker, CITIES_DIR / "helsinki")
    ingest = start_ingest(settings)
    acked: dict[int, float] = {}
    index_of_mid: dict[int, int] = {}
    lock = threading.Lock()

    def on_publish(_client, _userdata, mid, _reason, _properties):
        with lock:
            acked[mid] = time.time()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"crash-pub-{uuid.uuid4().hex[:6]}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(0.2, 1)
    client.on_publish = on_publish
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        def publish_all():
            for index in range(args.n):
                entity = {**traffic_entity(index // 60, second=index % 60),
                          "id": f"urn:ngsi-ld:TrafficFlowObserved:crash-{index}"}
                info = client.publish(f"{settings.topic_root}/telemetry/crash-{index}", json.dumps(entity), qos=1)
                with lock:
                    index_of_mid[info.mid] = index

        publisher = threading.Thread(target=publish_all)
        publisher.start()
        wait_until(lambda: len(acked) >= args.n // 2, 120, message="half the burst acknowledged")
        broker.kill()
        broker.start()
        restarted_at = time.time()  # PUBACKs the broker sent before dying may be read a little after the kill
        publisher.join(300)
        wait_until(lambda: len(acked) >= args.n, 300, interval=0.5, message="every message acknowledged")
        with lock:
            acked_before = {index_of_mid[mid] for mid, at in acked.items() if at < restarted_at}

        def stored() -> set[int]:
            with ingest.runtime.engine.connect() as connection:
                ids = connection.execute(select(Observation.device_id).where(Observation.device_id.like("crash-%")))
                return {int(device_id.split("-", 1)[1]) for device_id in ids.scalars()}

        previous: list = [None]

        def settled() -> bool:  # connected, and nothing new received or stored for 10 s
            count = (len(stored()), ingest.ingest.stats.received)
            if count != previous[0] or not ingest.ingest.stats.broker_connected:
                previous[0] = count
                settled.since = time.monotonic()
            return time.monotonic() - settled.since > 10

        settled.since = time.monotonic()
        wait_until(settled, 300, interval=0.5, message="the ingest to settle")
        kept = stored()
        stats = ingest.ingest.stats
        print(f"ingest: received {stats.received:,}, stored {stats.stored:,}, duplicates {stats.duplicates:,}, "
              f"connections {stats.connections}")
        ingest.close()  # a restarted ingest is handed whatever the broker still holds for its session
        ingest = start_ingest(settings)
        settled.since, previous[0] = time.monotonic(), None
        wait_until(settled, 300, interval=0.5, message="the restarted ingest to settle")
        after_ingest_restart = stored()
        print(f"after restarting the ingest: stored {len(after_ingest_restart):,} "
              f"(+{len(after_ingest_restart - kept):,} the broker still held)")
        lost = acked_before - after_ingest_restart
        print(f"broker configuration: {args.mosquitto_conf or CONFIG}")
        print(f"N = {args.n:,} QoS 1 messages; kill -9 and restart after {len(acked_before):,} were acknowledged")
        print(f"stored: {len(kept):,}; acknowledged before the kill and lost: {len(lost):,} "
              f"({len(lost) / max(len(acked_before), 1):.1%} of them, {len(lost) / args.n:.1%} of the burst); "
              f"acknowledged after the restart and lost: {len(set(range(args.n)) - after_ingest_restart - acked_before):,}")
    finally:
        client.loop_stop()
        client.disconnect()
        ingest.close()
        broker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
