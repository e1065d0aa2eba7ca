"""Every real payload of ../shared/samples/real/, published as it is over a real broker, ends as
tests/samples/real_expected.yaml says: stored with the right values, units, location and time, or
kept as a rejection with the right reason (issue 15). On SQLite and PostgreSQL."""
from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from sqlalchemy import delete, select

from services.config import PROJECT_ROOT
from services.models import (CitizenReport, Device, DeviceLatest, Incident, IncidentEvent, Observation,
                             RejectedMessage, RejectionReason)
from services.telemetry import ENTITY_SPECS
from tests.brokers import wait_until
from tests.integration.support import Publisher, make_settings, start_ingest

REAL = PROJECT_ROOT.parent / "shared" / "samples" / "real"
HERE = Path(__file__).resolve().parents[1] / "samples"
EXPECTED = HERE / "real_expected.yaml"
CONFIG = HERE / "real_config"
TOLERANCE = 1e-6

needs_samples = pytest.mark.skipif(not REAL.is_dir(), reason=f"the real samples are not here ({REAL} is absent)")


def sample_files() -> list[str]:
    return sorted(str(path.relative_to(REAL)) for path in REAL.rglob("*")
                  if path.is_file() and path.name != "sources.md")


def expected_outcomes() -> dict:
    return yaml.safe_load(EXPECTED.read_text(encoding="utf-8"))


@needs_samples
def test_every_real_sample_has_an_expected_outcome_and_every_outcome_a_sample():
    expected = expected_outcomes()
    files = sample_files()
    assert [name for name in files if name not in expected] == [], "real samples without an expected outcome"
    assert [name for name in expected if name not in files] == [], "expected outcomes of samples that are gone"
    for name, entry in expected.items():
        assert entry.get("why") and entry.get("topic"), f"{name}: needs topic and why"
        assert entry.get("stored") or entry.get("reports") or entry.get("rejected"), f"{name}: no outcome"


@needs_samples
def test_every_real_sample_is_stored_or_rejected_as_expected(database_url, broker, tiny_city):
    settings = make_settings(database_url, broker, tiny_city, iot_agent_file=CONFIG / "iot_agent.yaml",
                             digitraffic_file=CONFIG / "digitraffic.yaml")
    running = start_ingest(settings)
    publisher = Publisher(broker.host, broker.port)
    batches = []
    running.ingest.batch_listeners.append(batches.append)
    engine = running.runtime.engine
    problems: list[str] = []
    try:
        for name, entry in expected_outcomes().items():
            clear_outcomes(engine)
            topic = entry["topic"].replace("{root}", settings.topic_root)
            before, sent_at = len(batches), datetime.now(timezone.utc)
            publisher.publish_all([(topic, (REAL / name).read_bytes())])
            wait_until(lambda: len(batches) > before, 15, message=f"{name} to be handled")
            problems += [f"{name}: {problem}" for problem in compare(engine, entry, sent_at)]
    finally:
        publisher.close()
        running.close()
    assert problems == [], "\n".join(problems)


def clear_outcomes(engine) -> None:
    with engine.begin() as connection:
        for table in (Observation, DeviceLatest, RejectionReason, RejectedMessage, CitizenReport, IncidentEvent,
                      Incident):
            connection.execute(delete(table))
        connection.execute(delete(Device).where(Device.registered.is_(False)))


def compare(engine, outcome: dict, sent_at: datetime) -> list[str]:
    with engine.connect() as connection:
        observations = connection.execute(select(Observation).order_by(Observation.observed_at)).all()
        reports = connection.execute(select(CitizenReport).order_by(CitizenReport.external_id)).all()
        # a message's first rejection is its row; further ones (entities, dropped attributes) point to it
        rejections = [*connection.execute(select(RejectedMessage.reason, RejectedMessage.detail)).all(),
                      *connection.execute(select(RejectionReason.reason, RejectionReason.detail)).all()]
    problems = []
    stored = outcome.get("stored") or []
    if len(observations) != len(stored):
        problems.append(f"{len(observations)} observations stored, expected {len(stored)}: "
                        f"{[(o.device_id, dict(_json(o.values))) for o in observations]}")
    else:
        for row, expected in zip(observations, stored):
            problems += compare_observation(row, expected, sent_at)
    expected_reports = sorted(outcome.get("reports") or [], key=lambda r: r["id"])
    if len(reports) != len(expected_reports):
        problems.append(f"{len(reports)} reports stored, expected {len(expected_reports)}")
    else:
        for row, expected in zip(reports, expected_reports):
            problems += compare_report(row, expected, sent_at)
    problems += compare_rejections(rejections, outcome.get("rejected") or [])
    return problems


def compare_observation(row, expected: dict, sent_at: datetime) -> list[str]:
    problems = []
    flags = set((row.flags or "").split(",")) - {""}
    if (row.entity_type, row.device_id) != (expected["type"], expected["device"]):
        problems.append(f"stored {row.entity_type} {row.device_id!r}, "
                        f"expected {expected['type']} {expected['device']!r}")
    problems += compare_time(row.observed_at, expected["time"], "time_from_receive" in flags, sent_at)
    if not (_close(row.lon, expected["location"][0]) and _close(row.lat, expected["location"][1])):
        problems.append(f"location {row.lon}, {row.lat}, expected {expected['location']}")
    values = _json(row.values)
    units = {measure.name: measure.unit for measure in ENTITY_SPECS[expected["type"]].measures}
    numbers = {name: value for name, value in values.items() if name in units}
    texts = {name: value for name, value in values.items() if name not in units}
    if set(numbers) != set(expected["values"]):
        problems.append(f"measures {sorted(numbers)}, expected {sorted(expected['values'])}")
    for name, text in expected["values"].items():
        number, _, unit = text.partition(" ")
        if unit != units.get(name):
            problems.append(f"{name}: expected file says {unit!r}, CityOps stores {units.get(name)!r}")
        if name in numbers and not _close(numbers[name], float(number)):
            problems.append(f"{name}={numbers[name]} {units[name]}, expected {text}")
    if texts != (expected.get("texts") or {}):
        problems.append(f"texts {texts}, expected {expected.get('texts') or {}}")
    if flags - {"time_from_receive"} != set(expected.get("flags") or []):
        problems.append(f"flags {sorted(flags)}, expected {expected.get('flags')}")
    return problems


def compare_report(row, expected: dict, sent_at: datetime) -> list[str]:
    problems = []
    for column, key in (("external_id", "id"), ("service_code", "service_code"), ("service_name", "service_name"),
                        ("status", "status"), ("address", "address")):
        if getattr(row, column) != expected[key]:
            problems.append(f"report {column}={getattr(row, column)!r}, expected {expected[key]!r}")
    if not (_close(row.lon, expected["location"][0]) and _close(row.lat, expected["location"][1])):
        problems.append(f"report location {row.lon}, {row.lat}, expected {expected['location']}")
    problems += compare_time(row.requested_at, expected["time"], row.time_from_receive, sent_at)
    return problems


def compare_time(moment: datetime, expected: str, from_receive: bool, sent_at: datetime) -> list[str]:
    if expected == "receive":
        if not from_receive or not sent_at - timedelta(seconds=1) <= moment <= datetime.now(timezone.utc):
            return [f"time {moment.isoformat()} (from receive: {from_receive}), expected the receive time"]
        return []
    wanted = datetime.fromisoformat(expected.replace("Z", "+00:00"))
    if moment != wanted or from_receive:
        return [f"time {moment.isoformat()}, expected {expected}"]
    return []


def compare_rejections(rows, expected: list[dict]) -> list[str]:
    problems = []
    if bool(rows) != bool(expected):
        problems.append(f"rejections {[(r.reason, r.detail) for r in rows]}, expected {expected}")
    for wanted in expected:
        reasons = wanted["reason"] if isinstance(wanted["reason"], list) else [wanted["reason"]]
        if not any(row.reason in reasons and wanted["mentions"] in row.detail for row in rows):
            problems.append(f"no rejection {reasons} mentioning {wanted['mentions']!r} in "
                            f"{[(r.reason, r.detail) for r in rows]}")
    allowed = {reason for wanted in expected
               for reason in (wanted["reason"] if isinstance(wanted["reason"], list) else [wanted["reason"]])}
    unexpected = [(r.reason, r.detail) for r in rows if r.reason not in allowed]
    if unexpected:
        problems.append(f"unexpected rejections {unexpected}")
    return problems


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE)
