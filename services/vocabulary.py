"""The product's words, units, colours and formats, once: every page and the browser's JavaScript use these.

Screens never show a code (``health/breathingProblems``, ``onRoute``, ``averageVehicleSpeed``) or a bare
ratio: they show its words, a value with its unit, a duration in one format ("4 min 05 s") and a time in
one unambiguous format in the site time zone ("2026-12-01 23:38"). ``for_javascript()`` is the same
vocabulary as data; the shell puts it in the page as ``window.cityopsVocabulary`` and
assets/vocabulary.js formats with it exactly as this module does (a browser test compares the two).
"""
from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from services.telemetry import ENTITY_SPECS

# ---------------------------------------------------------------- durations and times

def duration(seconds: float | None) -> str:
    """A span of time in at most two units, the second left out when zero: ``45 s``, ``4 min 05 s``,
    ``15 min``, ``1 h 12 min``, ``3 d 04 h``."""
    if seconds is None:
        return "—"
    whole = int(max(0.0, seconds))
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    for big, big_unit, small, small_unit in ((days, "d", hours, "h"), (hours, "h", minutes, "min"),
                                             (minutes, "min", secs, "s")):
        if big:
            return f"{big} {big_unit} {small:02d} {small_unit}" if small else f"{big} {big_unit}"
    return f"{secs} s"


def site_time(moment: datetime | None, timezone: str, *, seconds: bool = False) -> str:
    """``2026-12-01 23:38`` (with ``:05`` when ``seconds``) in the site time zone; "never" for no time."""
    if moment is None:
        return "never"
    local = moment.astimezone(ZoneInfo(timezone))
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def number(value: float, digits: int = 1, *, trim: bool = True) -> str:
    """``35.5``, ``12`` (trailing zeros trimmed), ``1.20`` (``trim=False``: levels compared to the centimetre)."""
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if trim and "." in text else text


# ---------------------------------------------------------------- codes as words

# Codes whose words are not their camelCase split.
WORDS: dict[str, str] = {
    "pm25": "PM2.5", "pm10": "PM10", "pm1": "PM1", "no2": "NO₂", "no": "NO", "nox": "NOₓ", "o3": "O₃",
    "so2": "SO₂", "co": "CO", "co2": "CO₂", "aqi": "AQI", "usg": "Unhealthy for sensitive groups",
    "heartAttack": "Heart attack", "naturalDisaster": "Natural disaster", "other": "Other",
    "onRoute": "On route", "onScene": "On scene", "fireTender": "Fire engine", "fireBrigade": "Fire brigade",
    "free_flow_kmh": "free flow", "uvIndexMax": "UV index",
}


def words(code: str | None) -> str:
    """A code in words: ``breathingProblems`` -> "Breathing problems", ``out_of_service`` -> "Out of service"."""
    if not code:
        return ""
    if code in WORDS:
        return WORDS[code]
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", code).replace("_", " ").replace("-", " ").strip()
    return spaced[:1].upper() + spaced[1:].lower()


def incident_kind(category: str, sub_category: str | None) -> str:
    """What happened, in words: ``health/breathingProblems`` -> "Breathing problems",
    ``fire/other`` -> "Fire (other)", ``traffic`` -> "Traffic"."""
    if sub_category and sub_category != "other":
        return words(sub_category)
    return f"{words(category)} (other)" if sub_category else words(category)


INCIDENT_STATUS_LABELS = {"new": "New", "dispatched": "Dispatched", "en_route": "En route", "on_scene": "On scene",
                          "resolved": "Resolved", "closed": "Closed", "cancelled": "Cancelled"}
UNIT_STATUS_LABELS = {"available": "Available", "dispatched": "Dispatched", "en_route": "En route",
                      "on_scene": "On scene", "returning": "Returning", "out_of_service": "Out of service"}
UNIT_KIND_LABELS = {"ambulance": "Ambulance", "fire": "Fire engine", "police": "Police car",
                    "flood": "Flood rescue", "road": "Road maintenance"}
SEVERITY_LABELS = {"informational": "Info", "low": "Low", "medium": "Medium", "high": "High", "critical": "Critical"}
DEVICE_TYPE_LABELS = {"TrafficFlowObserved": "Traffic counter", "AirQualityObserved": "Air quality station",
                      "WaterObserved": "Water gauge", "FloodMonitoring": "Flood sensor",
                      "WeatherObserved": "Weather station", "Vehicle": "Vehicle"}
DEVICE_STATUS_LABELS = {"ok": "OK", "stale": "Stale", "silent": "Silent", "out_of_area": "Out of area"}
SOURCE_LABELS = {"operator": "the dispatch console", "citizen": "a citizen report", "alarm": "an alarm",
                 "api": "the API"}
# what a running timer counts, by the status it started with
TIMER_LABELS = {"new": "waiting", "dispatched": "dispatched", "en_route": "en route", "on_scene": "on scene",
                "resolved": "resolved", "available": "available", "returning": "returning",
                "out_of_service": "out of service"}

# ---------------------------------------------------------------- colours (one table: map, console, legends)

PRIORITY_COLOURS = {1: "#d7191c", 2: "#f07c1b", 3: "#e8c21a", 4: "#5b8fc7"}
UNIT_STATUS_COLOURS = {"available": "#1f9e5a", "dispatched": "#e07b00", "en_route": "#d7261e",
                       "on_scene": "#8e2bb8", "returning": "#2b7bba", "out_of_service": "#7a7f86"}
NO_DATA_COLOUR = "#9aa5b1"


def css_variables() -> dict[str, str]:
    """The colours as CSS custom properties for the stylesheets (``var(--prio-1)``), set on the shell."""
    return {**{f"--prio-{p}": colour for p, colour in PRIORITY_COLOURS.items()},
            **{f"--unit-{status.replace('_', '-')}": colour for status, colour in UNIT_STATUS_COLOURS.items()}}


# ---------------------------------------------------------------- attributes: label and unit

ATTRIBUTE_LABELS: dict[str, str] = {
    "averageVehicleSpeed": "Average speed", "intensity": "Vehicles", "occupancy": "Occupancy",
    "averageVehicleLength": "Average vehicle length", "averageHeadwayTime": "Average headway",
    "averageGapDistance": "Average gap", "laneId": "Lane", "airQualityIndex": "Air quality index",
    "reliability": "Reliability", "temperature": "Temperature", "relativeHumidity": "Relative humidity",
    "windSpeed": "Wind speed", "windDirection": "Wind direction", "precipitation": "Rainfall",
    "height": "Water level", "waterLevel": "Water level", "currentLevel": "Water level", "flow": "Flow",
    "waterDischarge": "Discharge", "alertLevel": "Alert level", "dangerLevel": "Danger level",
    "referenceLevel": "Reference level", "measuredDistance": "Distance to water",
    "atmosphericPressure": "Air pressure", "illuminance": "Illuminance", "snowHeight": "Snow depth",
    "streamGauge": "Stream gauge", "solarRadiation": "Solar radiation", "speed": "Speed", "bearing": "Heading",
    "water_level": "Water level", "aqi": "AQI", "aqi_level": "AQI band", "silent_s": "Silent for",
}
# the unit each attribute is stored in (services/telemetry.py), and how a screen shows it
_STORED_UNITS: dict[str, str] = {}
for _spec in ENTITY_SPECS.values():
    for _measure in _spec.measures:
        _STORED_UNITS.setdefault(_measure.name, _measure.unit)
_STORED_UNITS.update({"water_level": "m", "precipitation": "mm/h", "aqi": "index", "silent_s": "s"})
DIGITS = {"m": 2, "index": 0, "vehicles": 0, "°": 0, "hPa": 0, "lx": 0}


def label(attribute: str) -> str:
    return ATTRIBUTE_LABELS.get(attribute) or words(attribute)


def unit_of(attribute: str) -> str:
    """The unit an attribute is shown in ("km/h", "%" for a stored ratio; "" for a count or an index)."""
    unit = _STORED_UNITS.get(attribute, "")
    return {"1": "%", "index": "", "vehicles": "", "s": ""}.get(unit, unit)


def quantity(attribute: str, value) -> str:
    """The value with its unit as a screen shows it: ``35.5 km/h``, ``62 %`` (a stored ratio),
    ``1.32 m``, ``4 min 05 s`` (a time); plain text as it is."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return words(str(value)) if isinstance(value, str) and value and " " not in value else str(value)
    unit = _STORED_UNITS.get(attribute, "")
    if unit == "s":
        return duration(value)
    if unit == "1":
        return f"{number(value * 100, 0)} %"
    if unit in ("", "index"):
        return number(value, DIGITS.get(unit, 1))
    if unit == "vehicles":
        return number(value, 0)
    return f"{number(value, DIGITS.get(unit, 1), trim=unit != 'm')} {unit}"


def attribute(name: str, value) -> str:
    """``averageVehicleSpeed 35.5`` -> "Average speed 35.5 km/h"."""
    return f"{label(name)} {quantity(name, value)}"


def values_summary(values: dict, limit: int = 3) -> str:
    """A device's last values in words: "Average speed 35.5 km/h, Vehicles 12"."""
    numbers = [(k, v) for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
               and k in _STORED_UNITS]
    return ", ".join(attribute(k, v) for k, v in numbers[:limit])


# ---------------------------------------------------------------- alarm values

def ratio_metric(metric: str | None) -> tuple[str, str] | None:
    """``averageVehicleSpeed/free_flow_kmh`` (a rule with ``per``) -> its two attributes, else None."""
    if not metric or "/" not in metric:
        return None
    measured, per = metric.split("/", 1)
    return measured, per


def alarm_value(metric: str | None, value: float | None, threshold: float | None = None) -> str:
    """An alarm's value in its own units, with its limit: "11 % of free flow (limit 30 %)",
    "1.32 m (limit 1.20 m)", "AQI band 4 (limit 4)", "silent 12 min 00 s (limit 3 min 00 s)"."""
    if value is None:
        return "—"
    ratio = ratio_metric(metric)
    if ratio is not None:
        shown = lambda v: f"{number(v * 100, 0)} %"  # noqa: E731
        text = f"{shown(value)} of {words(ratio[1]).lower()}"
    elif metric == "aqi_level":
        shown = lambda v: f"{number(v, 0)}"  # noqa: E731
        text = f"AQI band {shown(value)}"
    elif metric == "aqi":
        shown = lambda v: number(v, 0)  # noqa: E731
        text = f"AQI {shown(value)}"
    elif metric == "silent_s":
        shown = duration
        text = f"silent {duration(value)}"
    else:
        attribute_name = (metric or "").split("|")[0]
        shown = lambda v: quantity(attribute_name, v)  # noqa: E731
        text = shown(value)
    return text if threshold is None else f"{text} (limit {shown(threshold)})"


# ---------------------------------------------------------------- for the browser

def for_javascript() -> dict:
    """The vocabulary as data for assets/vocabulary.js (``window.cityopsVocabulary``)."""
    return {
        "words": WORDS, "priorityColours": {str(p): c for p, c in PRIORITY_COLOURS.items()},
        "unitStatusColours": UNIT_STATUS_COLOURS, "noDataColour": NO_DATA_COLOUR,
        "incidentStatus": INCIDENT_STATUS_LABELS, "unitStatus": UNIT_STATUS_LABELS, "unitKind": UNIT_KIND_LABELS,
        "severity": SEVERITY_LABELS, "timer": TIMER_LABELS,
    }
