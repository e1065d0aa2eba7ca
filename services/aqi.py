"""Air quality index from pollutant concentrations, for two published standards.

Pure functions, no I/O.  Input is what CityOps stores for an air-quality station: the latest
reading of ``pm25``, ``pm10``, ``no2``, ``o3``, ``so2`` and ``co``, all in µg/m³ (CO too).

Standards
---------
``"us-epa-2024"`` -- US EPA Air Quality Index as revised with the 2024 PM NAAQS.
    Sources: 40 CFR Part 58 Appendix G, Table 2, as amended by the final rule "Reconsideration of
    the National Ambient Air Quality Standards for Particulate Matter" (89 FR 16202, 2024-03-06;
    correction 89 FR 103652, 2024-12-19), and EPA's "Technical Assistance Document for the
    Reporting of Daily Air Quality - the Air Quality Index (AQI)", EPA-454/B-24-002, May 2024,
    Table 6.  Since 2024 the Hazardous category is one band, AQI 301-500, for every pollutant.

    * Gases are converted from µg/m³ at 25 °C and 1 atm: ppb = µg/m³ × 24.45 / M, with
      M(NO2)=46.0055, M(SO2)=64.066, M(O3)=47.997, M(CO)=28.010 g/mol (ppm = ppb / 1000).
    * Concentrations are truncated, in the table's unit, before the lookup (TAD): PM2.5 to
      0.1 µg/m³, PM10 to 1 µg/m³, O3 to 0.001 ppm, CO to 0.1 ppm, SO2 and NO2 to 1 ppb.
    * Index = (I_hi - I_lo) / (BP_hi - BP_lo) × (C - BP_lo) + I_lo, rounded to the nearest
      integer (halves up).
    * Above the top of a table the index is capped at 500 (EPA calls that "beyond the AQI").
    * CityOps has one reading per pollutant, not the averaging periods the tables are defined for.
      Simplifications, all deliberate: PM2.5/PM10 use the 24-hour table, CO the 8-hour table,
      NO2 the 1-hour table.  SO2 uses the 1-hour table up to 304 ppb; above that EPA defines
      the index only from 24-hour SO2 (footnote to Table 6), so the reading is looked up in the
      24-hour rows (305-604 ppb → 201-300, 605-1004 ppb → 301-500).
    * O3: the 8-hour table is the normal one and is used up to 0.200 ppm.  The 1-hour table
      (defined from 0.125 ppm) is used where the 8-hour table does not apply -- above 0.200 ppm,
      where EPA says index values ≥ 301 come only from 1-hour O3 -- and, where both tables
      apply (0.125-0.200 ppm), the larger of the two indices is taken, which is EPA's own
      precautionary rule.  Above 0.200 ppm the 8-hour index is held at its ceiling, 300, so
      the index never falls as the concentration rises (the 1-hour table alone would give
      196 at 0.201 ppm); from 0.405 ppm the 1-hour table gives 301-500.

``"cn-hj633-2012"`` -- China, HJ 633-2012 "Technical Regulation on Ambient Air Quality Index
    (on trial)" (环境空气质量指数（AQI）技术规定（试行）), Table 1 (IAQI breakpoints) and
    Table 2 / Appendix A (categories and colours).

    * SO2, NO2, CO and O3 use the 1-hour average rows.  SO2 1-hour has no rows above
      800 µg/m³; per the table's footnote such values are rated with the 24-hour SO2 rows
      (both give IAQI 200 at 800 µg/m³, so the switch is continuous).  The O3 1-hour rows
      run to 1200 µg/m³.  CO is converted from µg/m³ to the table's mg/m³ (÷ 1000).
    * PM2.5 and PM10 have only 24-hour rows; CityOps applies them to the latest reading, as
      China's hourly real-time publishing does (documented simplification).
    * IAQI is interpolated linearly and rounded *up* to an integer (进位取整), the rounding
      used for published Chinese AQI values; above the top of a table IAQI is 500.
    * The primary pollutant (首要污染物) is only reported when AQI > 50.

Both standards: AQI = max of the sub-indices; ``dominant`` is the pollutant with the largest
sub-index (ties go to the first of pm25, pm10, o3, no2, so2, co).  Negative concentrations
(instrument zero drift) count as 0; ``None``, NaN, infinities and non-numbers are ignored.
"""
from __future__ import annotations

import math
from functools import lru_cache
from dataclasses import dataclass, field
from fractions import Fraction
from numbers import Real

from services.i18n import N_, _, current_locale

STANDARDS: dict[str, str] = {
    "us-epa-2024": N_("US EPA (2024 PM2.5)"),
    "cn-hj633-2012": N_("China HJ 633-2012"),
}
DEFAULT_STANDARD = "us-epa-2024"
# What a screen calls each standard (on its tiles, legend and tips), and the short codes a wall's URL
# (``/wall?aqi=cn``), a display's options and the map's live features use for it (``aqi_cn``).
SHORT_NAMES: dict[str, str] = {"us-epa-2024": N_("US AQI"), "cn-hj633-2012": N_("China AQI")}
CODES: dict[str, str] = {"us-epa-2024": "us", "cn-hj633-2012": "cn"}
# The standard a screen in a language shows unless CITYOPS_AQI_STANDARD or its link names one (issue 14):
# a Chinese operations centre reads the national standard.
LANGUAGE_STANDARDS: dict[str, str] = {"zh": "cn-hj633-2012"}

POLLUTANTS: tuple[str, ...] = ("pm25", "pm10", "o3", "no2", "so2", "co")

# The level (1..6) from which a standard calls the air unhealthy; the alarms use it.
UNHEALTHY_LEVEL: dict[str, int] = {"us-epa-2024": 4, "cn-hj633-2012": 4}

MOLAR_VOLUME_L = Fraction("24.45")  # litres per mole at 25 °C, 1 atm
MOLECULAR_WEIGHTS: dict[str, Fraction] = {
    "no2": Fraction("46.0055"), "so2": Fraction("64.066"), "o3": Fraction("47.997"), "co": Fraction("28.010"),
}

# (level, key, English label, colour[, Chinese label]); index bands are identical in both
# standards: 0-50, 51-100, 101-150, 151-200, 201-300, 301-500.
_BAND_TOPS = (50, 100, 150, 200, 300, 500)
_CATEGORIES: dict[str, tuple[tuple[int, str, str, str, str | None], ...]] = {
    "us-epa-2024": (
        (1, "good", N_("Good"), "#00e400", None),
        (2, "moderate", N_("Moderate"), "#ffff00", None),
        (3, "usg", N_("Unhealthy for Sensitive Groups"), "#ff7e00", None),
        (4, "unhealthy", N_("Unhealthy"), "#ff0000", None),
        (5, "very_unhealthy", N_("Very Unhealthy"), "#8f3f97", None),
        (6, "hazardous", N_("Hazardous"), "#7e0023", None),
    ),
    "cn-hj633-2012": (
        (1, "excellent", N_("Excellent"), "#00e400", "优"),
        (2, "good", N_("Good"), "#ffff00", "良"),
        (3, "light", N_("Lightly polluted"), "#ff7e00", "轻度污染"),
        (4, "moderate", N_("Moderately polluted"), "#ff0000", "中度污染"),
        (5, "heavy", N_("Heavily polluted"), "#99004c", "重度污染"),
        (6, "severe", N_("Severely polluted"), "#7e0023", "严重污染"),
    ),
}
NO_DATA = (0, "unknown", N_("No data"), "#9e9e9e")


@dataclass(frozen=True)
class AqiResult:
    index: int | None          # None when no pollutant is known
    category: str              # category key ("unknown" when index is None)
    label: str                 # English label
    color: str                 # hex colour
    level: int                 # 1..6, comparable across standards; 0 when index is None
    dominant: str | None       # pollutant key with the highest sub-index (China: only when AQI > 50)
    sub_indices: dict[str, int] = field(default_factory=dict)
    label_local: str | None = None   # Chinese label for cn-hj633-2012, else None
    standard: str = DEFAULT_STANDARD


# ---------------------------------------------------------------------------------------------
# Breakpoint tables.  Rows are (C_lo, C_hi, I_lo, I_hi) in the table's own unit, as strings so
# the arithmetic is exact (fractions, no binary floating point at the boundaries).

def _rows(*rows: tuple[str, str, int, int]) -> tuple[tuple[Fraction, Fraction, int, int], ...]:
    return tuple((Fraction(lo), Fraction(hi), ilo, ihi) for lo, hi, ilo, ihi in rows)


# US EPA, TAD EPA-454/B-24-002 Table 6 (2024).
EPA_TABLES = {
    "pm25": _rows(("0.0", "9.0", 0, 50), ("9.1", "35.4", 51, 100), ("35.5", "55.4", 101, 150),
                  ("55.5", "125.4", 151, 200), ("125.5", "225.4", 201, 300), ("225.5", "325.4", 301, 500)),
    "pm10": _rows(("0", "54", 0, 50), ("55", "154", 51, 100), ("155", "254", 101, 150),
                  ("255", "354", 151, 200), ("355", "424", 201, 300), ("425", "604", 301, 500)),
    "o3_8h": _rows(("0.000", "0.054", 0, 50), ("0.055", "0.070", 51, 100), ("0.071", "0.085", 101, 150),
                   ("0.086", "0.105", 151, 200), ("0.106", "0.200", 201, 300)),
    "o3_1h": _rows(("0.125", "0.164", 101, 150), ("0.165", "0.204", 151, 200),
                   ("0.205", "0.404", 201, 300), ("0.405", "0.604", 301, 500)),
    "co": _rows(("0.0", "4.4", 0, 50), ("4.5", "9.4", 51, 100), ("9.5", "12.4", 101, 150),
                ("12.5", "15.4", 151, 200), ("15.5", "30.4", 201, 300), ("30.5", "50.4", 301, 500)),
    # 1-hour rows up to 304 ppb, then the 24-hour rows (see module docstring).
    "so2": _rows(("0", "35", 0, 50), ("36", "75", 51, 100), ("76", "185", 101, 150),
                 ("186", "304", 151, 200), ("305", "604", 201, 300), ("605", "1004", 301, 500)),
    "no2": _rows(("0", "53", 0, 50), ("54", "100", 51, 100), ("101", "360", 101, 150),
                 ("361", "649", 151, 200), ("650", "1249", 201, 300), ("1250", "2049", 301, 500)),
}
# Truncation: number of decimals kept, in the table's unit.
EPA_DECIMALS = {"pm25": 1, "pm10": 0, "o3": 3, "co": 1, "so2": 0, "no2": 0}
EPA_O3_8H_TOP = Fraction("0.200")


def _cn(*points: tuple[str, int]) -> tuple[tuple[Fraction, Fraction, int, int], ...]:
    """China rows from (concentration, IAQI) breakpoints; rows share their end points."""
    return _rows(*[(points[k][0], points[k + 1][0], points[k][1], points[k + 1][1]) for k in range(len(points) - 1)])


_IAQI = (0, 50, 100, 150, 200, 300, 400, 500)
# HJ 633-2012 Table 1.  µg/m³, CO in mg/m³.
CN_TABLES = {
    "pm25": _cn(*zip(("0", "35", "75", "115", "150", "250", "350", "500"), _IAQI)),            # 24 h
    "pm10": _cn(*zip(("0", "50", "150", "250", "350", "420", "500", "600"), _IAQI)),           # 24 h
    "so2": _cn(*zip(("0", "150", "500", "650", "800"), _IAQI)),                                  # 1 h, to 800
    "so2_24h": _cn(*zip(("0", "50", "150", "475", "800", "1600", "2100", "2620"), _IAQI)),     # 24 h
    "no2": _cn(*zip(("0", "100", "200", "700", "1200", "2340", "3090", "3840"), _IAQI)),       # 1 h
    "co": _cn(*zip(("0", "5", "10", "35", "60", "90", "120", "150"), _IAQI)),                  # 1 h, mg/m³
    "o3": _cn(*zip(("0", "160", "200", "300", "400", "800", "1000", "1200"), _IAQI)),          # 1 h
}
CN_SO2_1H_TOP = Fraction(800)


# ---------------------------------------------------------------------------------------------
# Units.

def ug_m3_to_ppb(pollutant: str, ug_m3) -> Fraction:
    """µg/m³ → ppb at 25 °C, 1 atm (exact rational arithmetic)."""
    return _exact(ug_m3) * MOLAR_VOLUME_L / MOLECULAR_WEIGHTS[pollutant]


def ug_m3_to_ppm(pollutant: str, ug_m3) -> Fraction:
    """µg/m³ → ppm at 25 °C, 1 atm."""
    return ug_m3_to_ppb(pollutant, ug_m3) / 1000


def _exact(value) -> Fraction:
    # Fraction(str(x)) turns the float 35.9 into exactly 359/10, as the operator typed it.
    return value if isinstance(value, Fraction) else Fraction(str(value))


def _truncate(value: Fraction, decimals: int) -> Fraction:
    scale = 10 ** decimals
    return Fraction(math.floor(value * scale), scale)


def _usable(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


# ---------------------------------------------------------------------------------------------
# Sub-indices in the table's native unit (public so legends/tests can use them directly).

def _interpolate(row: tuple[Fraction, Fraction, int, int], c: Fraction) -> Fraction:
    lo, hi, ilo, ihi = row
    return Fraction(ihi - ilo) / (hi - lo) * (c - lo) + ilo


def _epa_lookup(rows, c: Fraction) -> int | None:
    for row in rows:
        if row[0] <= c <= row[1]:
            return math.floor(_interpolate(row, c) + Fraction(1, 2))   # nearest, halves up
    if c > rows[-1][1]:
        return 500
    return None   # below the first row (only the O3 1-hour table, which starts at 0.125 ppm)


def epa_sub_index(pollutant: str, concentration) -> int:
    """US EPA sub-index for a concentration in the table's unit (PM µg/m³, O3/CO ppm, NO2/SO2 ppb).

    The concentration is truncated first, as the TAD prescribes.
    """
    c = _truncate(max(_exact(concentration), Fraction(0)), EPA_DECIMALS[pollutant])
    if pollutant != "o3":
        return _epa_lookup(EPA_TABLES[pollutant], c)
    eight = _epa_lookup(EPA_TABLES["o3_8h"], c) if c <= EPA_O3_8H_TOP else 300
    one = _epa_lookup(EPA_TABLES["o3_1h"], c)
    return max(eight, one) if one is not None else eight


def cn_sub_index(pollutant: str, concentration) -> int:
    """HJ 633-2012 IAQI for a concentration in the table's unit (µg/m³; CO mg/m³)."""
    c = max(_exact(concentration), Fraction(0))
    rows = CN_TABLES[pollutant]
    if pollutant == "so2" and c > CN_SO2_1H_TOP:
        rows = CN_TABLES["so2_24h"]
    if c > rows[-1][1]:
        return 500
    for row in rows:
        if c <= row[1]:
            return math.ceil(_interpolate(row, c))
    raise AssertionError("unreachable")


@lru_cache(maxsize=200_000)
def sub_index(pollutant: str, ug_m3, standard: str = DEFAULT_STANDARD) -> int:
    """Sub-index of one pollutant given in µg/m³ as CityOps stores it.

    Memoized: the exact arithmetic costs ~50 µs and readings have a fixed resolution, so the
    live map (thousands of stations every second) mostly meets values it has seen before.
    """
    _check(standard)
    if pollutant not in POLLUTANTS:
        raise ValueError(f"unknown pollutant {pollutant!r}")
    if standard == "cn-hj633-2012":
        value = _exact(ug_m3) / 1000 if pollutant == "co" else ug_m3
        return cn_sub_index(pollutant, value)
    if pollutant in ("pm25", "pm10"):
        return epa_sub_index(pollutant, ug_m3)
    if pollutant in ("o3", "co"):
        return epa_sub_index(pollutant, ug_m3_to_ppm(pollutant, ug_m3))
    return epa_sub_index(pollutant, ug_m3_to_ppb(pollutant, ug_m3))


# ---------------------------------------------------------------------------------------------
# Categories and the combined index.

def _check(standard: str) -> None:
    if standard not in STANDARDS:
        raise ValueError(f"unknown AQI standard {standard!r}; expected one of {sorted(STANDARDS)}")


def category_name(standard: str, label: str) -> str:
    """A category's English ``label`` in the screen's language; in Chinese a standard's own Chinese name where
    it has one (HJ 633: 优, 良, 轻度污染 ...)."""
    if current_locale() == "zh":
        local = next((own for _level, _key, english, _colour, own in _CATEGORIES.get(standard, ())
                      if english == label and own), None)
        if local:
            return local
    return _(label)


def categories(standard: str) -> list[tuple[int, str, str, str]]:
    """(level, key, label, colour) for every category of ``standard``, lowest first, for legends."""
    _check(standard)
    return [(level, key, label, color) for level, key, label, color, _ in _CATEGORIES[standard]]


def category_for(index: int, standard: str = DEFAULT_STANDARD) -> tuple[int, str, str, str]:
    """(level, key, label, colour) of an index value."""
    _check(standard)
    for top, category in zip(_BAND_TOPS, _CATEGORIES[standard]):
        if index <= top:
            return category[:4]
    return _CATEGORIES[standard][-1][:4]


def standard_named(name: str | None, default: str = DEFAULT_STANDARD) -> str:
    """The standard a screen asks for, by code (``cn``) or key (``cn-hj633-2012``); ``default`` for none."""
    if not name:
        return default
    name = name.strip().lower()
    if name in STANDARDS:
        return name
    by_code = {code: standard for standard, code in CODES.items()}
    if name not in by_code:
        raise ValueError(f"unknown AQI standard {name!r}; expected one of {', '.join([*by_code, *STANDARDS])}")
    return by_code[name]


def _local_label(standard: str, level: int) -> str | None:
    return _CATEGORIES[standard][level - 1][4]


def compute_aqi(values: dict, standard: str = DEFAULT_STANDARD) -> AqiResult:
    """AQI of a station's latest readings (µg/m³ keyed pm25, pm10, no2, o3, so2, co)."""
    _check(standard)
    subs: dict[str, int] = {}
    for pollutant in POLLUTANTS:
        value = (values or {}).get(pollutant)
        if _usable(value):
            subs[pollutant] = sub_index(pollutant, value, standard)
    if not subs:
        level, key, label, color = NO_DATA
        return AqiResult(None, key, label, color, level, None, {}, None, standard)
    index = max(subs.values())
    dominant = next(p for p in POLLUTANTS if subs.get(p) == index)
    if standard == "cn-hj633-2012" and index <= 50:
        dominant = None          # HJ 633: no primary pollutant when AQI ≤ 50
    level, key, label, color = category_for(index, standard)
    return AqiResult(index, key, label, color, level, dominant, subs, _local_label(standard, level), standard)


def level_words(standard: str, level: int) -> tuple[str, str]:
    """The level's name (``category_name``) and one line of health advice in plain words, in the current
    language: HJ 633-2012 Table 2 (对健康影响情况, 建议采取的措施) and the US EPA's cautionary statements
    (EPA-454/B-24-002), said for a passer-by. Level 0 (no data) has no advice."""
    _check(standard)
    if not 1 <= level <= 6:
        return category_name(standard, NO_DATA[2]), ""
    if standard == "cn-hj633-2012":
        advice = (
            _("The air is clean. Everyone can be outside as usual."),
            _("The air is acceptable. Very sensitive people should spend less time outside."),
            _("Children, older people and people with heart or lung disease should cut down long or hard "
              "exercise outside."),
            _("Children, older people and people with heart or lung disease should avoid long or hard exercise "
              "outside. Everyone else should do less."),
            _("Children, older people and people with heart or lung disease should stay indoors. Everyone else "
              "should do less outside."),
            _("Children, older people and the sick should stay indoors and rest. Everyone should avoid being "
              "outside."),
        )
    else:
        advice = (
            _("The air is good. Enjoy being outside."),
            _("Very sensitive people should do less long or hard activity outside."),
            _("Children, older people and people with heart or lung disease should do less long or hard activity "
              "outside."),
            _("Children, older people and people with heart or lung disease should avoid long or hard activity "
              "outside. Everyone else should do less."),
            _("Children, older people and people with heart or lung disease should avoid all activity outside. "
              "Everyone else should do less."),
            _("Everyone should avoid all activity outside."),
        )
    return category_name(standard, _CATEGORIES[standard][level - 1][2]), advice[level - 1]
