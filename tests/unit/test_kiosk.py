"""The public kiosk's status and screen: only current readings, plain words per AQI standard, roads by name."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from plotly.utils import PlotlyJSONEncoder

from components.kiosk import kiosk_screen
from services.aqi import STANDARDS, level_words
from services.commands import Refused
from services.config import PROJECT_ROOT
from services.kiosk import KioskStatus, air_by_district, kiosk_status, worst_roads
from services.rules import RuleSet, parse_rules
from services.snapshot import FeatureState, LayerState, LiveSnapshot

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=timezone.utc).timestamp()
STALE_AFTER = {"air": 180.0, "traffic": 180.0, "flood": 90.0}


def snapshot(**layers: list[dict]) -> LiveSnapshot:
    states = {}
    for name, properties in layers.items():
        features = {str(p["id"]): FeatureState({"type": "Feature", "id": p["id"], "geometry": None, "properties": p},
                                               1, 1, 1) for p in properties}
        states[name] = LayerState(name, name, ("t",), features, stale_after_s=STALE_AFTER[name])
    return LiveSnapshot(version=1, layers=states)


def air(device: str, district: str, aqi_us: int, age_s: float = 10) -> dict:
    return {"id": device, "kind": "air", "label": device, "district": district, "aqi_us": aqi_us, "aqi_cn": aqi_us,
            "t": NOW - age_s}


def road(device: str, street: str | None, level: int, share: float, age_s: float = 10) -> dict:
    return {"id": device, "kind": "traffic", "label": f"{device} counter", "street": street, "level": level,
            "share": share, "t": NOW - age_s}


def rendered(component) -> str:
    return json.dumps(component, cls=PlotlyJSONEncoder, ensure_ascii=False)


def status_of(live: LiveSnapshot, standard: str = "us-epa-2024") -> KioskStatus:
    return kiosk_status(live, None, RuleSet((), standard), standard, "Tiny", now=NOW)


def test_each_district_shows_its_worst_current_station_worst_district_first():
    rows = air_by_district([air("a1", "West", 40), air("a2", "West", 160), air("a3", "East", 75),
                            air("a4", None, 20)], "us-epa-2024", "Tiny")
    assert [(row.district, row.index, row.level) for row in rows] == [("West", 160, 4), ("East", 75, 2),
                                                                         ("Tiny", 20, 1)]


def test_a_station_whose_reading_is_older_than_its_layers_limit_is_never_shown_as_now():
    status = status_of(snapshot(air=[air("a1", "West", 160, age_s=600), air("a2", "East", 30)]))
    assert [row.district for row in status.air] == ["East"]
    stale = status_of(snapshot(air=[air("a1", "West", 160, age_s=600)]))
    assert stale.air == () and not stale.air_section.current
    assert stale.air_section.newest == datetime.fromtimestamp(NOW - 600, timezone.utc)
    text = rendered(kiosk_screen(stale, city_name="Tiny", timezone="Europe/Helsinki", languages=("en",)))
    assert "No current air quality readings. The last one was at 09:50." in text
    assert "160" not in text and "Unhealthy" not in text


def test_the_worst_roads_are_named_by_street_once_each_slowest_first_and_only_when_congested():
    roads = worst_roads([road("t1", "Mannerheimintie", 2, 0.45), road("t2", "Mannerheimintie", 3, 0.2),
                         road("t3", "Kaivokatu", 3, 0.25), road("t4", "Aleksanterinkatu", 1, 0.6),
                         road("t5", None, 2, 0.4)])
    assert [(r.name, r.level) for r in roads] == [("Mannerheimintie", 3), ("Kaivokatu", 3), ("t5 counter", 2)]


def test_traffic_share_counts_current_segments_only():
    status = status_of(snapshot(traffic=[road("t1", "A", 3, 0.1), road("t2", "B", 0, 0.9),
                                         road("t3", "C", 3, 0.1, age_s=900)]))
    assert (status.congested, status.road_segments) == (1, 2)
    text = rendered(kiosk_screen(status, city_name="Tiny", timezone="Europe/Helsinki", languages=("en",)))
    assert "50 %" in text and '"A"' in text and '"C"' not in text


@pytest.mark.parametrize("standard", list(STANDARDS))
def test_every_level_of_each_standard_has_its_name_and_one_line_of_plain_advice(standard):
    names = [level_words(standard, level) for level in range(1, 7)]
    assert len({name for name, _advice in names}) == 6
    assert all(advice and len(advice) <= 160 and "." in advice for _name, advice in names)


def test_the_standards_name_their_levels_in_their_own_words():
    assert level_words("cn-hj633-2012", 3)[0] == "Lightly polluted"
    assert level_words("us-epa-2024", 3)[0] == "Unhealthy for Sensitive Groups"
    assert level_words("us-epa-2024", 0) == ("No data", "")


# ---------------------------------------------------------------- public rules

def test_the_shipped_rules_make_flood_rain_and_air_alarms_public_with_advice_in_english_and_chinese():
    rules = parse_rules((PROJECT_ROOT / "config" / "rules.yaml").read_text())
    public = {rule.id: dict(rule.advice) for rule in rules.rules if rule.public}
    assert set(public) == {"air-unhealthy", "water-alert", "water-danger", "heavy-rain"}
    assert all(set(advice) == {"en", "zh"} for advice in public.values())


RULE = """
rules:
  - id: water
    name: Water high
    entity_type: WaterObserved
    metric: water_level
    op: ">="
    threshold: 1
    severity: high
"""


@pytest.mark.parametrize("extra, expected", [
    ("    public: true\n", "advice: a public rule says what to do"),
    ("    public: yes please\n    advice: Go\n", "public: needs true or false"),
    ("    public: true\n    advice: {english: Go}\n", "'english' is not a language tag"),
    ("    public: true\n    advice: {en: ''}\n", "advice in en needs text"),
    ("    public: true\n    advice: [Go]\n", "advice is text, or a mapping"),
])
def test_a_public_rule_without_usable_advice_is_refused_with_its_place(extra, expected):
    with pytest.raises(Refused) as refused:
        parse_rules(RULE + extra)
    assert expected in str(refused.value) and "rules[0] (water)" in str(refused.value)


def test_advice_given_as_text_is_english():
    rule = parse_rules(RULE + "    public: true\n    advice: Keep away from the shore\n").rules[0]
    assert rule.public and rule.advice == (("en", "Keep away from the shore"),)


def test_the_kiosk_in_chinese_speaks_the_catalogues_words_and_hj_633s_own_level_names():
    from services.i18n import use_locale

    status = status_of(snapshot(air=[air("a1", "West", 120)]), "cn-hj633-2012")
    with use_locale("zh"):
        text = rendered(kiosk_screen(status, city_name="Tiny", timezone="Europe/Helsinki", languages=("zh", "en")))
    assert "当前空气质量" in text and "轻度污染" in text and "儿童、老年人" in text and "目前没有公众预警" in text
    assert "Air quality now" not in text and "West" in text  # district names stay as the city has them
