"""The KPI catalogue is data: a file of entries, each checked, every problem named with its place;
and the standing of a value between its baseline and its target, for either direction."""
from __future__ import annotations

import pytest
import yaml

from services.kpis.catalogue import CatalogueError, load_catalogue
from services.kpis.registry import Measured
from services.kpis.targets import standing

MEASURES = {"test.count": lambda ctx, scope: Measured(None)}


def entry(**changes) -> dict:
    base = {"key": "emergency.total_response_p90", "label": {"en": "Total response (p90)", "zh": "总响应时间"},
            "dimension": "emergency", "unit": "s", "direction": "lower", "measure": "test.count",
            "params": {"statistic": "p90", "objective_s": 300}, "method": {"en": "nearest rank", "zh": "最近秩"},
            "standard": "NFPA 1710", "target": 300, "sources": ["incidents"]}
    base.update(changes)
    return {name: value for name, value in base.items() if value is not ...}


def write(tmp_path, *entries) -> str:
    path = tmp_path / "kpis.yaml"
    path.write_text(yaml.safe_dump({"kpis": list(entries)}, allow_unicode=True))
    return path


def problems(tmp_path, *entries) -> tuple[str, ...]:
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(write(tmp_path, *entries), MEASURES)
    return caught.value.problems


def test_a_catalogue_entry_becomes_a_frozen_kpi_with_both_languages(tmp_path):
    catalogue = load_catalogue(write(tmp_path, entry(), entry(key="service.response_rate", dimension="service",
                                                              direction="higher", unit="%", target=None,
                                                              sources=["requests"], districts=False)), MEASURES)
    assert [kpi.key for kpi in catalogue] == ["emergency.total_response_p90", "service.response_rate"]
    kpi = catalogue.get("emergency.total_response_p90")
    assert kpi.label_in("zh-CN") == "总响应时间" and kpi.label_in("fi") == "Total response (p90)"
    assert kpi.method_in("zh") == "最近秩" and kpi.target == 300.0 and kpi.params["objective_s"] == 300
    assert kpi.districts and not catalogue.get("service.response_rate").districts
    assert list(catalogue.by_dimension) == ["emergency", "service"]
    with pytest.raises(AttributeError):
        kpi.target = 1


def test_an_unknown_measure_dimension_direction_or_source_is_named_with_its_place(tmp_path):
    found = problems(tmp_path, entry(measure="test.missing", dimension="happiness", direction="up",
                                     sources=["incidents", "tweets"]))
    place = "kpis[0] (emergency.total_response_p90)"
    assert f"{place}.measure: no measure registered as 'test.missing'" in found
    assert any(p.startswith(f"{place}.dimension: unknown dimension 'happiness'") for p in found)
    assert any(p.startswith(f"{place}.direction: unknown direction 'up'") for p in found)
    assert any(p.startswith(f"{place}.sources: unknown source 'tweets'") for p in found)


def test_a_key_used_twice_a_missing_language_and_a_target_that_is_not_a_number_are_refused(tmp_path):
    found = problems(tmp_path, entry(), entry(label={"en": "Only English"}, target="fast"), entry(unit=...))
    assert "kpis[1] (emergency.total_response_p90).key: 'emergency.total_response_p90' is used twice" in found
    assert "kpis[1] (emergency.total_response_p90).label: must give the text in en and zh" in found
    assert any(p.startswith("kpis[1] (emergency.total_response_p90).target: must be a number") for p in found)
    assert "kpis[2] (emergency.total_response_p90).unit: missing" in found


def test_a_file_that_is_not_a_catalogue_says_so(tmp_path):
    path = tmp_path / "kpis.yaml"
    path.write_text("kpis: {not: a list}")
    with pytest.raises(CatalogueError, match="must be a mapping with a list 'kpis'"):
        load_catalogue(path, MEASURES)
    with pytest.raises(CatalogueError, match="cannot be read"):
        load_catalogue(tmp_path / "absent.yaml", MEASURES)


@pytest.mark.parametrize("value, expected", [
    (100, "very_good"), (80, "very_good"),  # met or beaten
    (110, "good"), (149, "good"),  # more than half way from 200 to 100
    (151, "fair"), (200, "fair"),  # no worse than the baseline
    (249, "bad"), (250, "bad"),  # worse than the baseline by up to half the distance (50)
    (251, "very_bad"), (None, None),
])
def test_standing_lower_is_better_between_baseline_200_and_target_100(value, expected):
    assert standing(value, 100, 200, "lower") == expected


@pytest.mark.parametrize("value, expected", [
    (95, "very_good"), (90, "very_good"), (85, "good"), (80, "good"), (79, "fair"), (70, "fair"), (65, "bad"),
    (60, "bad"), (59, "very_bad"),
])
def test_standing_higher_is_better_between_baseline_70_and_target_90(value, expected):
    assert standing(value, 90, 70, "higher") == expected


def test_standing_without_a_baseline_grades_the_shortfall_from_the_target():
    # target 300 s, lower is better: 10 % over -> good, 25 % -> fair, 50 % -> bad, beyond -> very bad
    assert [standing(v, 300, None, "lower") for v in (300, 330, 375, 450, 451)] == [
        "very_good", "good", "fair", "bad", "very_bad"]
    assert standing(3, 0, None, "lower") == "bad" and standing(0, 0, None, "lower") == "very_good"
    # a baseline above the target leaves no distance: the target alone (40 short of 90 is 44 %: bad)
    assert standing(50, 90, 95, "higher") == "bad" and standing(40, 90, 95, "higher") == "very_bad"
    assert standing(50, None, 40, "higher") is None
