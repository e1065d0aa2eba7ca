"""services.aqi against the published breakpoint tables (US EPA 2024, China HJ 633-2012)."""
from __future__ import annotations

import math
from fractions import Fraction

import pytest

from services import aqi
from services.aqi import (
    DEFAULT_STANDARD, STANDARDS, UNHEALTHY_LEVEL, AqiResult, categories, cn_sub_index, compute_aqi,
    epa_sub_index, sub_index, ug_m3_to_ppb, ug_m3_to_ppm,
)

EPA = "us-epa-2024"
CN = "cn-hj633-2012"


def ug(pollutant: str, ppb: float) -> float:
    """ppb → µg/m³ at 25 °C (inverse of the module's conversion), for building inputs."""
    return ppb * float(aqi.MOLECULAR_WEIGHTS[pollutant]) / 24.45


# --------------------------------------------------------------------------- the API surface

def test_standards_and_default():
    assert set(STANDARDS) == {EPA, CN}
    assert DEFAULT_STANDARD == EPA
    assert UNHEALTHY_LEVEL == {EPA: 4, CN: 4}


def test_categories_legends():
    assert categories(EPA) == [
        (1, "good", "Good", "#00e400"),
        (2, "moderate", "Moderate", "#ffff00"),
        (3, "usg", "Unhealthy for Sensitive Groups", "#ff7e00"),
        (4, "unhealthy", "Unhealthy", "#ff0000"),
        (5, "very_unhealthy", "Very Unhealthy", "#8f3f97"),
        (6, "hazardous", "Hazardous", "#7e0023"),
    ]
    assert categories(CN) == [
        (1, "excellent", "Excellent", "#00e400"),
        (2, "good", "Good", "#ffff00"),
        (3, "light", "Lightly polluted", "#ff7e00"),
        (4, "moderate", "Moderately polluted", "#ff0000"),
        (5, "heavy", "Heavily polluted", "#99004c"),
        (6, "severe", "Severely polluted", "#7e0023"),
    ]
    # The alarm level names what the standards call it.
    assert categories(EPA)[UNHEALTHY_LEVEL[EPA] - 1][2] == "Unhealthy"
    assert categories(CN)[UNHEALTHY_LEVEL[CN] - 1][1] == "moderate"


def test_unknown_standard():
    with pytest.raises(ValueError):
        compute_aqi({"pm25": 10}, "who-2021")
    with pytest.raises(ValueError):
        categories("eu-caqi")


def test_empty_input():
    for standard in STANDARDS:
        for values in ({}, {"pm25": None}, {"temperature": 21.0, "co2": 800}, {"pm25": float("nan")}):
            result = compute_aqi(values, standard)
            assert result.index is None and result.dominant is None and result.sub_indices == {}
            assert result.level == 0 and result.category == "unknown"


def test_result_is_frozen():
    result = compute_aqi({"pm25": 5})
    assert isinstance(result, AqiResult)
    with pytest.raises(Exception):
        result.index = 3  # type: ignore[misc]


# --------------------------------------------------------------------------- US EPA worked examples

def test_epa_pm25_35_9_is_102():
    # (150-101)/(55.4-35.5) × (35.9-35.5) + 101 = 101.98 → 102
    result = compute_aqi({"pm25": 35.9})
    assert (result.index, result.category, result.label, result.color, result.level) == \
        (102, "usg", "Unhealthy for Sensitive Groups", "#ff7e00", 3)
    assert result.dominant == "pm25" and result.label_local is None


@pytest.mark.parametrize("pm25, expected", [
    (9.0, 50), (9.05, 50),          # truncated to 9.0
    (9.1, 51), (12.0, 56),          # 49/26.3 × 2.9 + 51 = 56.40
    (35.4, 100), (55.4, 150), (55.5, 151),
    (100.0, 182),                   # 49/69.9 × 44.5 + 151 = 182.19
    (125.4, 200), (125.5, 201), (225.4, 300), (225.5, 301),
    (275.0, 400),                   # 199/99.9 × 49.5 + 301 = 399.60
    (325.4, 500), (400.0, 500), (5000.0, 500),
])
def test_epa_pm25_2024_table(pm25, expected):
    assert compute_aqi({"pm25": pm25}).index == expected


def test_epa_ozone_8h_example():
    # TAD example: 8-h O3 0.07853 ppm → truncated 0.078 → 49/0.014 × 0.007 + 101 = 125.5 → 126
    assert epa_sub_index("o3", Fraction("0.07853")) == 126
    assert compute_aqi({"o3": ug("o3", 78.53)}).index == 126


def test_epa_hand_computed_gases():
    # CO 10 000 µg/m³ = 8.729 ppm → 8.7 → 49/4.9 × 4.2 + 51 = 93
    assert compute_aqi({"co": 10000}).sub_indices == {"co": 93}
    # NO2 200 µg/m³ = 106.29 ppb → 106 → 49/259 × 5 + 101 = 101.95 → 102
    assert compute_aqi({"no2": 200}).index == 102
    # SO2 200 µg/m³ = 76.33 ppb → 76 → 101
    assert compute_aqi({"so2": 200}).index == 101
    # PM10 120 → 49/99 × 65 + 51 = 83.17 → 83
    assert compute_aqi({"pm10": 120}).index == 83
    # PM10 54.9 is truncated to 54 → 50
    assert compute_aqi({"pm10": 54.9}).index == 50


def test_epa_so2_above_304_ppb_uses_24h_rows():
    assert epa_sub_index("so2", 304) == 200
    assert epa_sub_index("so2", 305) == 201
    assert epa_sub_index("so2", 604) == 300
    assert epa_sub_index("so2", 605) == 301
    assert epa_sub_index("so2", 1004) == 500
    assert epa_sub_index("so2", 3000) == 500


def test_epa_ozone_1h_where_8h_does_not_apply():
    # 0.150 ppm: 8-h 49+... = 99/0.094 × 0.044 + 201 = 247.3 → 247; 1-h 49/0.039 × 0.025 + 101 = 132 → max 247
    assert epa_sub_index("o3", Fraction("0.150")) == 247
    assert epa_sub_index("o3", Fraction("0.200")) == 300
    # Beyond the 8-hour table: held at 300 until the 1-hour table passes it.
    assert epa_sub_index("o3", Fraction("0.201")) == 300
    assert epa_sub_index("o3", Fraction("0.404")) == 300
    assert epa_sub_index("o3", Fraction("0.405")) == 301
    assert epa_sub_index("o3", Fraction("0.504")) == 400   # 199/0.199 × 0.099 + 301 = 400
    assert epa_sub_index("o3", Fraction("0.604")) == 500
    assert epa_sub_index("o3", Fraction("0.9")) == 500
    previous = 0
    for ppb in range(0, 700):
        current = epa_sub_index("o3", Fraction(ppb, 1000))
        assert current >= previous, ppb
        previous = current


# --------------------------------------------------------------------------- China worked examples

def test_cn_hand_computed():
    # PM2.5 80: 50/40 × 5 + 100 = 106.25 → 107 (rounded up); PM10 120: 50/100 × 70 + 50 = 85
    result = compute_aqi({"pm25": 80, "pm10": 120}, CN)
    assert result.sub_indices == {"pm25": 107, "pm10": 85}
    assert (result.index, result.category, result.label, result.label_local, result.color, result.level) == \
        (107, "light", "Lightly polluted", "轻度污染", "#ff7e00", 3)
    assert result.dominant == "pm25" and result.standard == CN
    # NO2 1-h 150: 50/100 × 50 + 50 = 75
    assert compute_aqi({"no2": 150}, CN).index == 75
    # O3 1-h 250: 50/100 × 50 + 100 = 125
    assert compute_aqi({"o3": 250}, CN).index == 125
    # CO 1-h 20 mg/m³ = 20 000 µg/m³: 50/25 × 10 + 100 = 120
    assert compute_aqi({"co": 20000}, CN).index == 120
    # PM2.5 35.1 → 50.125 → 51 (good); 35 → 50 (excellent)
    assert compute_aqi({"pm25": 35.1}, CN).category == "good"
    assert compute_aqi({"pm25": 35}, CN).category == "excellent"


def test_cn_so2_above_800_falls_back_to_24h_table():
    assert cn_sub_index("so2", 800) == 200           # 1-h table top
    assert cn_sub_index("so2", 650) == 150
    # 1000 µg/m³ on the 24-h rows: 100/800 × 200 + 200 = 225
    assert compute_aqi({"so2": 1000}, CN).index == 225
    assert cn_sub_index("so2", 1600) == 300
    assert cn_sub_index("so2", 2620) == 500
    assert cn_sub_index("so2", 9000) == 500


def test_cn_o3_1h_runs_to_1200():
    assert cn_sub_index("o3", 800) == 300
    assert cn_sub_index("o3", 1000) == 400
    assert cn_sub_index("o3", 1200) == 500
    assert cn_sub_index("o3", 1300) == 500


def test_cn_primary_pollutant_only_above_50():
    clean = compute_aqi({"pm25": 20, "no2": 60}, CN)
    assert clean.index == 30 and clean.dominant is None and clean.label_local == "优"
    dirty = compute_aqi({"pm25": 20, "no2": 150}, CN)
    assert dirty.index == 75 and dirty.dominant == "no2" and dirty.label_local == "良"


# --------------------------------------------------------------------------- boundaries

EPA_STEP = {"pm25": Fraction(1, 10), "pm10": Fraction(1), "co": Fraction(1, 10),
            "so2": Fraction(1), "no2": Fraction(1)}


@pytest.mark.parametrize("pollutant", sorted(EPA_STEP))
def test_epa_every_boundary_both_sides(pollutant):
    rows = aqi.EPA_TABLES[pollutant]
    for level, (lo, hi, ilo, ihi) in enumerate(rows, start=1):
        assert epa_sub_index(pollutant, lo) == ilo
        assert epa_sub_index(pollutant, hi) == ihi
        assert aqi.category_for(epa_sub_index(pollutant, lo), EPA)[0] == level
        assert aqi.category_for(epa_sub_index(pollutant, hi), EPA)[0] == level
        # Just above the row: the next category (or capped at 500 above the top).
        above = epa_sub_index(pollutant, hi + EPA_STEP[pollutant])
        assert aqi.category_for(above, EPA)[0] == min(level + 1, 6)


def test_epa_ozone_8h_boundaries():
    for level, (lo, hi, ilo, ihi) in enumerate(aqi.EPA_TABLES["o3_8h"], start=1):
        assert epa_sub_index("o3", lo) == ilo
        assert epa_sub_index("o3", hi) == ihi
        assert aqi.category_for(epa_sub_index("o3", hi + Fraction(1, 1000)), EPA)[0] == min(level + 1, 5)


def test_cn_every_boundary_both_sides():
    for pollutant, rows in aqi.CN_TABLES.items():
        if pollutant == "so2_24h":
            rows = rows[4:]      # below 800 µg/m³ the 1-h rows apply
        top = rows[-1][1]
        for lo, hi, ilo, ihi in rows:
            assert cn_sub_index(pollutant.removesuffix("_24h"), hi) == ihi, (pollutant, hi)
            inside = aqi.category_for(ihi, CN)[0]
            just_above = cn_sub_index(pollutant.removesuffix("_24h"), hi + Fraction(1, 100))
            if pollutant == "so2" and hi == top:
                assert just_above == 201      # > 800 µg/m³: rated on the 24-h rows
            elif hi < top:
                assert just_above == ihi + 1
                assert aqi.category_for(just_above, CN)[0] == (inside + 1 if ihi in (50, 100, 150, 200, 300) else inside)
            else:
                assert just_above == 500


@pytest.mark.parametrize("standard", [EPA, CN])
def test_category_bands(standard):
    expected = {0: 1, 50: 1, 51: 2, 100: 2, 101: 3, 150: 3, 151: 4, 200: 4, 201: 5, 300: 5, 301: 6, 500: 6}
    for index, level in expected.items():
        assert aqi.category_for(index, standard)[0] == level


# --------------------------------------------------------------------------- conversions, dominant, top

def test_unit_conversions():
    assert float(ug_m3_to_ppb("no2", 100)) == pytest.approx(100 * 24.45 / 46.0055)      # 53.146
    assert float(ug_m3_to_ppb("so2", 100)) == pytest.approx(100 * 24.45 / 64.066)       # 38.164
    assert float(ug_m3_to_ppm("o3", 100)) == pytest.approx(100 * 24.45 / 47.997 / 1000)  # 0.05094
    assert float(ug_m3_to_ppm("co", 1145.6)) == pytest.approx(1.0, abs=1e-4)           # 1 ppm CO ≈ 1145.6 µg/m³
    # NO2 100 µg/m³ = 53.1 ppb → 53 → 50 (good); 102 µg/m³ = 54.2 ppb → 54 → 51 (moderate)
    assert compute_aqi({"no2": 100}).index == 50
    assert compute_aqi({"no2": 102}).index == 51
    # China keeps µg/m³ but converts CO to mg/m³
    assert sub_index("co", 5000, CN) == 50 and sub_index("co", 5100, CN) == 51


def test_dominant_pollutant():
    values = {"pm25": 12.0, "pm10": 200, "no2": 40, "o3": 60, "so2": 5, "co": 400}
    result = compute_aqi(values)
    assert result.dominant == "pm10"
    assert result.index == result.sub_indices["pm10"] == max(result.sub_indices.values())
    assert set(result.sub_indices) == {"pm25", "pm10", "no2", "o3", "so2", "co"}
    assert compute_aqi({"pm25": 200, "pm10": 30, "unknown": 1e9}, CN).dominant == "pm25"
    # Ties go to the first in pm25, pm10, o3, no2, so2, co.
    tie = compute_aqi({"pm25": 75, "pm10": 150}, CN)
    assert tie.sub_indices == {"pm25": 100, "pm10": 100} and tie.dominant == "pm25"


def test_above_the_tables_is_top_category_capped_at_500():
    extreme = {"pm25": 9999, "pm10": 9999, "no2": 99999, "o3": 99999, "so2": 99999, "co": 9_999_999}
    for standard in STANDARDS:
        result = compute_aqi(extreme, standard)
        assert result.index == 500 and result.level == 6
        assert all(v == 500 for v in result.sub_indices.values())
    assert compute_aqi(extreme, EPA).category == "hazardous"
    assert compute_aqi(extreme, CN).category == "severe"


def test_noise_and_junk_inputs():
    assert compute_aqi({"pm25": -0.4}).index == 0               # zero drift counts as 0
    assert compute_aqi({"pm25": "12"}).index is None            # not a number: ignored
    assert compute_aqi({"pm25": True}).index is None
    assert compute_aqi({"pm25": math.inf, "pm10": 10}).sub_indices == {"pm10": 9}
    assert compute_aqi(None).index is None  # type: ignore[arg-type]


# --------------------------------------------------------------------------- a screen's standard

@pytest.mark.parametrize("asked, expected", [
    ("cn", CN), ("CN", CN), ("us", EPA), (CN, CN), (EPA, EPA), (None, EPA), ("", EPA)])
def test_a_screen_asks_for_its_standard_by_code_or_key(asked, expected):
    assert aqi.standard_named(asked) == expected


def test_a_screen_without_a_standard_gets_the_sites_default():
    assert aqi.standard_named(None, default=CN) == CN


def test_an_unknown_standard_is_refused_with_the_ones_there_are():
    with pytest.raises(ValueError, match="us, cn"):
        aqi.standard_named("eu")
