"""Alarm rules: the file format and its validation, and the evaluation engine's state machine."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from services.alarms import AlarmFilter, ClearAlarm, list_alarms
from services.config import PROJECT_ROOT, Settings
from services.db import make_engine, migrate
from services.models import Device
from services.access.principal import Principal
from services.commands import Refused
from services.rules import Ref, RuleEngine, RulesFile, SaveRules, parse_duration, parse_rules
from services.telemetry import ObservationIn

T0 = datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc)


# ---------------------------------------------------------------- the file

def test_shipped_rules_file_is_valid_and_indexed_by_entity_type():
    ruleset = parse_rules((PROJECT_ROOT / "config" / "rules.yaml").read_text())
    ids = {rule.id for rule in ruleset.rules}
    assert {"air-unhealthy", "water-alert", "water-danger", "heavy-rain", "traffic-jam", "device-offline"} <= ids
    assert [r.id for r in ruleset.by_type["FloodMonitoring"]] == ["water-alert", "water-danger"]
    assert [r.id for r in ruleset.by_type["TrafficFlowObserved"]] == ["traffic-jam"]
    assert "Vehicle" not in ruleset.by_type
    assert [r.id for r in ruleset.silence] == ["device-offline"]
    assert ruleset.by_id["water-danger"].incident == "auto"
    assert ruleset.aqi_standard == "us-epa-2024"


def test_aqi_standard_from_the_environment_overrides_the_files():
    from services.aqi import UNHEALTHY_LEVEL

    text = (PROJECT_ROOT / "config" / "rules.yaml").read_text()
    ruleset = parse_rules(text, aqi_standard="cn-hj633-2012")
    assert ruleset.aqi_standard == "cn-hj633-2012"
    assert ruleset.by_id["air-unhealthy"].threshold.constant == UNHEALTHY_LEVEL["cn-hj633-2012"]
    assert Settings.from_env({"CITYOPS_AQI_STANDARD": "cn-hj633-2012"}).aqi_standard == "cn-hj633-2012"
    with pytest.raises(Refused, match="aqi_standard"):
        parse_rules(text, aqi_standard="martian")


@pytest.mark.parametrize("raw, seconds", [(90, 90), ("90s", 90), ("5m", 300), ("1h30m", 5400), ("0s", 0), ("2.5m", 150)])
def test_durations_read_as_seconds(raw, seconds):
    assert parse_duration(raw) == seconds


@pytest.mark.parametrize("raw", ["soon", "", "5 minutes", -1, True])
def test_bad_durations_are_refused(raw):
    with pytest.raises(ValueError):
        parse_duration(raw)


def test_thresholds_read_the_devices_own_registry_values():
    assert Ref.parse("device.alert_level", 4).resolve({"alert_level": 1.5}) == 1.5
    assert Ref.parse("device.alert_level - 0.05", 4).resolve({"alert_level": 1.5}) == pytest.approx(1.45)
    assert Ref.parse("device.free_flow_kmh * 0.3", 4).resolve({"free_flow_kmh": 50}) == pytest.approx(15)
    assert Ref.parse("device.alert_level", 4).resolve({}) is None  # no such value: the rule skips the device
    assert Ref.parse("aqi.unhealthy_level", 4).resolve(None) == 4
    assert Ref.parse(30, 4).resolve(None) == 30


ADMIN = Principal("admin-1", "admin", kind="user")
OPERATOR = Principal("operator", "dispatcher", kind="user")

RULE = """
rules:
  - id: rain
    name: Heavy rain
    entity_type: WeatherObserved
    metric: precipitation
    op: ">"
    threshold: 30
    severity: medium
"""


def _problems(text: str) -> list[str]:
    with pytest.raises(Refused) as caught:
        parse_rules(text)
    return list(caught.value.details)


def test_every_problem_of_a_rules_file_is_reported_with_its_place():
    bad = RULE.replace('op: ">"', 'op: "=>"').replace("severity: medium", "severity: urgent\n    colour: red")
    problems = _problems(bad)
    assert any(p.startswith("rules[0] (rain).op:") for p in problems)
    assert any("severity" in p and "urgent" in p for p in problems)
    assert any("colour: unknown key" in p for p in problems)


@pytest.mark.parametrize("change, expected", [
    (("metric: precipitation", "metric: rainfall"), "is not measured by WeatherObserved"),
    (("threshold: 30", "threshold: device."), "is not a number"),
    (("threshold: 30", "threshold: 30\n    clear_threshold: 35"), "hysteresis"),
    (("threshold: 30", "threshold: 30\n    for: soon"), "for:"),
    (("threshold: 30", "threshold: 30\n    incident: auto"), "incident_category"),
    (("threshold: 30", "threshold: 30\n    scope: {street: x}"), "scope"),
    (("entity_type: WeatherObserved", "entity_type: Spaceship"), "entity_type"),
    (("id: rain", "id: bad id!"), "id:"),
])
def test_invalid_rules_are_refused_with_a_reason(change, expected):
    problems = _problems(RULE.replace(*change))
    assert any(expected in p for p in problems), problems


def test_duplicate_rule_ids_and_broken_yaml_are_refused():
    duplicated = RULE + RULE.split("rules:\n", 1)[1]
    assert any("used twice" in p for p in _problems(duplicated))
    assert any("line" in p for p in _problems("rules:\n  - id: [unclosed\n"))
    assert _problems("just text") == ["the file must be a mapping with a 'rules' list"]


def test_saving_rules_validates_first_writes_the_file_and_audits(tmp_path):
    from sqlalchemy import select

    from services.models import AuditEntry

    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(engine)
    path = tmp_path / "rules.yaml"
    path.write_text(RULE)
    with pytest.raises(Refused):
        SaveRules(engine, ADMIN, path, RULE.replace("op:", "opp:")).validate()
    assert path.read_text() == RULE  # unchanged
    new_text = RULE.replace("threshold: 30", "threshold: 25")
    SaveRules(engine, ADMIN, path, new_text).validate().run()
    assert path.read_text() == new_text
    with engine.connect() as connection:
        entry = connection.execute(select(AuditEntry)).one()
    assert (entry.actor, entry.action) == ("admin-1", "rules.save")
    assert entry.before["text"] == RULE and entry.after["text"] == new_text and entry.after["rules"] == ["rain"]


def test_rules_file_reloads_when_changed_and_keeps_the_old_rules_when_broken(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(RULE)
    rules = RulesFile(path, check_every_s=0)
    assert rules.current().by_id["rain"].threshold.constant == 30
    path.write_text(RULE.replace("threshold: 30", "threshold: 40"))
    import os

    os.utime(path, ns=(1, 10**18))
    assert rules.current().by_id["rain"].threshold.constant == 40
    path.write_text("rules: [")
    os.utime(path, ns=(1, 2 * 10**18))
    assert rules.current().by_id["rain"].threshold.constant == 40 and rules.error


# ---------------------------------------------------------------- the engine

ENGINE_RULES = """
rules:
  - id: level
    name: Level high
    entity_type: FloodMonitoring
    metric: currentLevel
    op: ">="
    threshold: device.alert_level
    for: 60s
    clear_threshold: device.alert_level - 0.1
    clear_for: 30s
    severity: high
  - id: east-rain
    name: Rain in the east
    entity_type: WeatherObserved
    metric: precipitation
    op: ">"
    threshold: 30
    scope: {district: East}
    severity: medium
  - id: jam
    name: Jam
    entity_type: TrafficFlowObserved
    metric: averageVehicleSpeed
    per: device.free_flow_kmh
    op: "<"
    threshold: 0.3
    for: 5m
    clear_threshold: 0.4
    severity: medium
  - id: air
    name: Unhealthy air
    entity_type: AirQualityObserved
    metric: aqi_level
    op: ">="
    threshold: aqi.unhealthy_level
    severity: high
"""


@pytest.fixture
def rule_engine(database_url, tmp_path):
    engine = make_engine(database_url)
    migrate(engine)
    base = {"name": None, "district": None, "meta": None}
    with engine.begin() as connection:
        connection.execute(Device.__table__.insert(), [{**base, **row} for row in [
            {"id": "f1", "type": "FloodMonitoring", "registered": True, "out_of_area": False, "district": "West",
             "meta": {"alert_level": 1.0}, "lon": 24.94, "lat": 60.17, "name": "Gauge 1"},
            {"id": "w-east", "type": "WeatherObserved", "registered": True, "out_of_area": False, "district": "East",
             "lon": 24.95, "lat": 60.17},
            {"id": "w-west", "type": "WeatherObserved", "registered": True, "out_of_area": False, "district": "West",
             "lon": 24.93, "lat": 60.17},
            {"id": "t1", "type": "TrafficFlowObserved", "registered": True, "out_of_area": False,
             "meta": {"free_flow_kmh": 50}, "lon": 24.94, "lat": 60.17},
            {"id": "a1", "type": "AirQualityObserved", "registered": True, "out_of_area": False, "lon": 24.94,
             "lat": 60.17},
        ]])
    path = tmp_path / "rules.yaml"
    path.write_text(ENGINE_RULES)
    yield RuleEngine(engine, RulesFile(path), resync_s=0)
    engine.dispose()


def observe(rule_engine, device, entity_type, seconds, **values):
    observation = ObservationIn(device, entity_type, T0 + timedelta(seconds=seconds), T0, 24.94, 60.17, values)
    rule_engine.on_batch(SimpleNamespace(stored_observations=(observation,)))


def open_alarms(rule_engine, rule_id=None):
    return list_alarms(rule_engine.engine, AlarmFilter(state="all", rule_id=rule_id))


def test_condition_must_hold_for_the_rules_duration_in_observation_time(rule_engine):
    observe(rule_engine, "f1", "FloodMonitoring", 0, currentLevel=1.1)
    observe(rule_engine, "f1", "FloodMonitoring", 59, currentLevel=1.2)
    assert open_alarms(rule_engine) == []
    observe(rule_engine, "f1", "FloodMonitoring", 60, currentLevel=1.2)
    [alarm] = open_alarms(rule_engine)
    assert alarm.started_at == T0 and alarm.value == 1.2 and alarm.threshold == 1.0 and alarm.active


def test_a_dip_below_the_threshold_restarts_the_duration(rule_engine):
    observe(rule_engine, "f1", "FloodMonitoring", 0, currentLevel=1.1)
    observe(rule_engine, "f1", "FloodMonitoring", 40, currentLevel=0.9)
    observe(rule_engine, "f1", "FloodMonitoring", 70, currentLevel=1.1)
    assert open_alarms(rule_engine) == []
    observe(rule_engine, "f1", "FloodMonitoring", 130, currentLevel=1.1)
    assert len(open_alarms(rule_engine)) == 1


def test_clearing_needs_the_clear_threshold_for_its_duration_and_late_readings_are_ignored(rule_engine):
    for seconds, level in ((0, 1.2), (60, 1.2), (90, 0.95), (100, 1.05), (130, 0.85), (140, 1.3)):
        observe(rule_engine, "f1", "FloodMonitoring", seconds, currentLevel=level)
    assert open_alarms(rule_engine)[0].active  # 0.95 is inside the band; 0.85 held only 10 s
    observe(rule_engine, "f1", "FloodMonitoring", 150, currentLevel=0.8)
    observe(rule_engine, "f1", "FloodMonitoring", 120, currentLevel=2.0)  # late, older: ignored
    observe(rule_engine, "f1", "FloodMonitoring", 185, currentLevel=0.8)
    [alarm] = open_alarms(rule_engine)
    assert not alarm.active and alarm.cleared_by == "system:rules"


def test_scope_limits_a_rule_to_its_district(rule_engine):
    observe(rule_engine, "w-west", "WeatherObserved", 0, precipitation=45)
    observe(rule_engine, "w-east", "WeatherObserved", 0, precipitation=45)
    assert [a.device_id for a in open_alarms(rule_engine)] == ["w-east"]


def test_traffic_rule_compares_speed_to_the_segments_free_flow_speed(rule_engine):
    for minute, speed in enumerate((14, 13, 12, 14, 10, 12)):  # < 15 km/h = 30 % of 50
        observe(rule_engine, "t1", "TrafficFlowObserved", minute * 60, averageVehicleSpeed=speed)
    [alarm] = open_alarms(rule_engine, "jam")
    assert alarm.value == pytest.approx(12 / 50) and alarm.threshold == 0.3


def test_air_rule_uses_the_aqi_band_of_the_standard(rule_engine):
    observe(rule_engine, "a1", "AirQualityObserved", 0, pm25=20)  # moderate
    assert open_alarms(rule_engine, "air") == []
    observe(rule_engine, "a1", "AirQualityObserved", 60, pm25=120)  # unhealthy in US EPA 2024
    [alarm] = open_alarms(rule_engine, "air")
    assert alarm.value >= 4 and alarm.category == "environment" and alarm.sub_category == "airPollution"


def test_operator_clear_while_the_condition_holds_lets_it_build_up_again(rule_engine):
    observe(rule_engine, "f1", "FloodMonitoring", 0, currentLevel=1.2)
    observe(rule_engine, "f1", "FloodMonitoring", 60, currentLevel=1.2)
    [alarm] = open_alarms(rule_engine)
    ClearAlarm(rule_engine.engine, OPERATOR, alarm.id).validate().run()
    observe(rule_engine, "f1", "FloodMonitoring", 90, currentLevel=1.2)
    assert not open_alarms(rule_engine)[0].active  # the duration counts again from 90 s
    observe(rule_engine, "f1", "FloodMonitoring", 150, currentLevel=1.2)
    [again] = open_alarms(rule_engine)
    assert again.id == alarm.id and again.active and again.repeat_count == 1  # re-activated, within min_reraise


@pytest.mark.parametrize("standard", ["us-epa-2024", "cn-hj633-2012"])
def test_aqi_prefilter_never_skips_a_reading_that_reaches_the_unhealthy_band(standard):
    import random

    from services.aqi import UNHEALTHY_LEVEL, compute_aqi
    from services.rules import _aqi_prefilter

    level = UNHEALTHY_LEVEL[standard]
    may_raise = _aqi_prefilter(standard, "aqi_level", ">=", level)
    rng = random.Random(3)
    skipped = 0
    for _ in range(3000):
        values = {p: rng.choice((None, rng.uniform(0, 60), rng.uniform(0, 400), rng.uniform(0, 3000)))
                  for p in ("pm25", "pm10", "no2", "o3", "so2", "co")}
        values = {k: v for k, v in values.items() if v is not None}
        if not may_raise(values):
            skipped += 1
            assert compute_aqi(values, standard).level < level, values
    assert skipped > 100  # it does skip the common, clean readings


def test_silence_check_raises_for_a_silent_device_but_not_a_storm_when_the_feed_is_down(database_url, tmp_path):
    engine = make_engine(database_url)
    migrate(engine)
    rows = [{"id": f"d{i}", "type": "WeatherObserved", "name": None, "district": None, "meta": None,
             "registered": True, "out_of_area": False, "interval_s": 60, "lon": 24.94, "lat": 60.17,
             "last_observed_at": T0, "last_received_at": T0} for i in range(20)]
    with engine.begin() as connection:
        connection.execute(Device.__table__.insert(), rows)
        connection.execute(Device.__table__.update().where(Device.id != "d0")
                           .values(last_received_at=T0 + timedelta(minutes=10)))
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - {id: offline, name: Silent, kind: silence, entity_type: WeatherObserved, "
                    "intervals: 3, severity: low}\n")
    rule_engine = RuleEngine(engine, RulesFile(path))
    assert rule_engine.check_silence(now=T0 + timedelta(minutes=11)) == (1, 0)  # only d0: 11 min > 3 x 60 s
    assert [a.device_id for a in open_alarms(rule_engine)] == ["d0"]
    # 30 minutes later every device looks silent: that is the feed, not 19 more devices
    assert rule_engine.check_silence(now=T0 + timedelta(minutes=40)) == (0, 0)
    engine.dispose()


def test_a_station_outside_the_registry_raises_on_the_alert_level_it_reports(rule_engine):
    observe(rule_engine, "river-9", "FloodMonitoring", 0, currentLevel=1.3, alertLevel=1.25, dangerLevel=3.0)
    observe(rule_engine, "river-9", "FloodMonitoring", 60, currentLevel=1.4, alertLevel=1.25, dangerLevel=3.0)
    [alarm] = open_alarms(rule_engine)
    assert (alarm.device_id, alarm.threshold, alarm.value, alarm.active) == ("river-9", 1.25, 1.4, True)


def test_the_level_a_station_reports_comes_before_the_registrys(rule_engine):
    # f1 is registered with alert level 1.0, but reports 1.5 itself
    for seconds, level in ((0, 1.2), (60, 1.4)):
        observe(rule_engine, "f1", "FloodMonitoring", seconds, currentLevel=level, alertLevel=1.5)
    assert open_alarms(rule_engine) == []
    for seconds in (70, 130):
        observe(rule_engine, "f1", "FloodMonitoring", seconds, currentLevel=1.6, alertLevel=1.5)
    [alarm] = open_alarms(rule_engine)
    assert alarm.threshold == 1.5 and alarm.active
