#!/usr/bin/env python
"""What one message costs ``parse_message`` on each route: CityOps's own telemetry (the hot path),
and each kind of adapter topic (level-dispatched, any-level, none). Then what the adapters'
registry costs the hot path: the same telemetry messages with the registry as it is and with its
one look-up there (``document_adapter_for``) answering "no adapter" at once, in alternating rounds
of one process, so that both sides see the same machine.

    .venv/bin/python bench/parse_routes.py [--seconds 1.0]

In-process, no broker, no database: the parse alone, the best of 20 short rounds per route (on a
shared machine the minimum is the figure least disturbed by the other jobs). The telemetry payloads
are bench/ingest.py's own.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import load_devices, make_entity  # noqa: E402
from services import adapters  # noqa: E402
from services.telemetry import ParseContext, parse_message  # noqa: E402

VP = {"desi": "81", "dir": "2", "oper": 22, "veh": 792, "tst": "2018-04-05T17:38:36Z", "tsi": 1522949916,
      "spd": 5.0, "hdg": 225, "lat": 60.194481, "long": 25.03095, "acc": 0, "dl": -25, "odo": 2819, "drst": 0}


def routes() -> list[tuple[str, list[tuple[str, bytes]]]]:
    devices = load_devices()
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    telemetry = []
    for i in range(2000):
        entity = make_entity(devices[i % len(devices)], start + timedelta(seconds=i), i)
        telemetry.append((f"city/telemetry/{devices[i % len(devices)]['device_id']}", json.dumps(entity).encode()))
    return [
        ("<root>/telemetry/<id> (CityOps's own, the hot path)", telemetry),
        ("/hfp/v2/.../vp/... (HSL HFP, level 'hfp')",
         [("/hfp/v2/journey/ongoing/vp/bus/0022/00792/1081/2/Itäkeskus/20:25/1454121/4/60;25/10/93/40",
           json.dumps({"VP": VP}).encode())]),
        ("<root>/digitraffic/tms-v2/<station>/<sensor> (level 'digitraffic', unprovisioned)",
         [("city/digitraffic/tms-v2/23307/5122", b'{"value": 108, "time": 1667972911}')]),
        ("/json/<apikey>/<device>/attrs (IoT Agent, any level, unprovisioned)",
         [("/json/ABCDEF/id_sen1/attrs", b'{"t": 15, "h": 70}')]),
        ("/elsewhere/feed (no adapter: wrong_topic)", [("/elsewhere/feed", b"{}")]),
    ]


def round_us(messages: list[tuple[str, bytes]], context: ParseContext, seconds: float) -> float:
    received = datetime.now(timezone.utc)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for topic, payload in messages:
            parse_message(topic, payload, context, received)
        count += len(messages)
    return (time.perf_counter() - started) / count * 1e6


def per_message_us(messages: list[tuple[str, bytes]], context: ParseContext, seconds: float) -> float:
    return min(round_us(messages, context, seconds / 20) for _ in range(20))


def registry_cost_on_hot_path(messages, context: ParseContext, seconds: float) -> tuple[float, float]:
    """(µs with the registry, µs with its look-up short-circuited), best of 40 alternating rounds each."""
    registered = adapters.document_adapter_for
    best = {"registered": float("inf"), "none": float("inf")}
    try:
        for _ in range(40):
            for side, look_up in (("registered", registered), ("none", lambda _document: None)):
                adapters.document_adapter_for = look_up
                best[side] = min(best[side], round_us(messages, context, seconds / 80))
    finally:
        adapters.document_adapter_for = registered
    return best["registered"], best["none"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per route (default 1 s)")
    args = parser.parse_args()
    context = ParseContext(root="city")
    measured = routes()
    for name, messages in measured:
        outcome = parse_message(*messages[0], context, datetime.now(timezone.utc))
        what = (f"{len(outcome.observations)} observation(s)" if outcome.observations
                else ", ".join(r.reason for r in outcome.rejections) or "ignored")
        print(f"{per_message_us(messages, context, args.seconds):7.1f} µs  {name}: {what}")
    with_registry, without = registry_cost_on_hot_path(measured[0][1], context, 2 * args.seconds)
    print(f"hot path, registry as registered ({len(adapters.TOPIC_ADAPTERS)} topic, {len(adapters.DOCUMENT_ADAPTERS)} "
          f"document adapters) / its look-up short-circuited: {with_registry:.1f} / {without:.1f} µs "
          f"({100 * (with_registry / without - 1):+.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
