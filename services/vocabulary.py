"""The product's words, units, colours and formats, once: every page and the browser's JavaScript use these.

Screens never show a code (``health/breathingProblems``, ``onRoute``, ``averageVehicleSpeed``) or a bare
ratio: they show its words, a value with its unit, a duration in one format ("4 min 05 s") and a time in
one unambiguous format in the site time zone ("2026-12-01 23:38"). ``for_javascript()`` is the same
vocabulary as data; the shell puts it in the page as ``window.cityopsVocabulary`` and
assets/vocabulary.js formats with it exactly as this module does (a browser test compares the two).

Words and formats follow the request's language (services/i18n.py): the tables hold English marked with
``N_`` and every lookup translates; times and numbers are formatted with Babel's data for the language
(English keeps the product's ISO-like ``2026-12-01 23:38``; Chinese reads ``2026年12月1日 23:38``).
"""
from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime, get_date_format
from babel.numbers import format_decimal

from services.i18n import LOCALES, N_, _, babel_locale, current_locale, html_lang, in_language, javascript_messages, \
    use_locale
from services.telemetry import ENTITY_SPECS, REASON_NAMES

# ---------------------------------------------------------------- durations and times

# a span's units and how two parts join, per language (the browser gets the same: ``for_javascript``)
DURATION_UNITS = {"d": N_("{n} d"), "h": N_("{n} h"), "min": N_("{n} min"), "s": N_("{n} s")}
DURATION_JOIN = N_("{first} {second}")
NEVER = N_("never")
ENGLISH_TIME_PATTERN = "yyyy-MM-dd HH:mm"  # the product's unambiguous English format (ISO 8601 order)
ENGLISH_SHORT_TIME_PATTERN = "MM-dd HH:mm"


def duration(seconds: float | None) -> str:
    """A span of time in at most two units, the second left out when zero: ``45 s``, ``4 min 05 s``,
    ``15 min``, ``1 h 12 min``, ``3 d 04 h`` (Chinese: ``4分05秒``)."""
    if seconds is None:
        return "—"
    whole = int(max(0.0, seconds))
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    part = lambda n, unit: _(DURATION_UNITS[unit], n=n)  # noqa: E731
    for big, big_unit, small, small_unit in ((days, "d", hours, "h"), (hours, "h", minutes, "min"),
                                             (minutes, "min", secs, "s")):
        if big:
            if not small:
                return part(big, big_unit)
            return _(DURATION_JOIN, first=part(big, big_unit), second=part(f"{small:02d}", small_unit))
    return part(secs, "s")


def time_pattern(locale: str | None = None, *, seconds: bool = False, short: bool = False) -> str:
    """The date-and-time pattern (CLDR syntax) of a language: English ``yyyy-MM-dd HH:mm``; others their
    medium date and 24-hour time from Babel (Chinese ``y年M月d日 HH:mm``). ``short`` leaves the year out (a
    queue's column): ``12-01 23:38``, ``12月1日 23:38``."""
    locale = locale or current_locale()
    if babel_locale(locale) == "en":
        pattern = ENGLISH_SHORT_TIME_PATTERN if short else ENGLISH_TIME_PATTERN
    else:
        language = Locale.parse(babel_locale(locale))
        date = language.datetime_skeletons["MMMd"] if short else get_date_format("medium", locale=language)
        pattern = f"{date.pattern} HH:mm"
    return pattern + ":ss" if seconds else pattern


def site_time(moment: datetime | None, timezone: str, *, seconds: bool = False, short: bool = False) -> str:
    """``2026-12-01 23:38`` (with ``:05`` when ``seconds``; without the year when ``short``) in the site
    time zone; "never" for no time."""
    if moment is None:
        return _(NEVER)
    local = moment.astimezone(ZoneInfo(timezone))
    return format_datetime(local, time_pattern(seconds=seconds, short=short), tzinfo=local.tzinfo,
                           locale=babel_locale())


def number(value: float, digits: int = 1, *, trim: bool = True) -> str:
    """``35.5``, ``12`` (trailing zeros trimmed), ``1.20`` (``trim=False``: levels compared to the centimetre),
    with the language's decimal sign."""
    pattern = "0" + ("." + ("#" if trim else "0") * digits if digits > 0 else "")
    return format_decimal(round(value, digits), format=pattern, locale=babel_locale())


# ---------------------------------------------------------------- codes as words

# Codes whose words are not their camelCase split.
WORDS: dict[str, str] = {
    "pm25": "PM2.5", "pm10": "PM10", "pm1": "PM1", "no2": "NO₂", "no": "NO", "nox": "NOₓ", "o3": "O₃",
    "so2": "SO₂", "co": "CO", "co2": "CO₂", "aqi": N_("AQI"), "usg": N_("Unhealthy for sensitive groups"),
    "heartAttack": N_("Heart attack"), "naturalDisaster": N_("Natural disaster"), "other": N_("Other"),
    "onRoute": N_("On route"), "onScene": N_("On scene"), "fireTender": N_("Fire engine"),
    "fireBrigade": N_("Fire brigade"), "free_flow_kmh": N_("free flow"), "uvIndexMax": N_("UV index"),
}
# the incident vocabulary's codes (services/incidents.py CATEGORIES) that read as their camelCase split in
# English, listed so that the catalogue has their words (``words()`` translates any code whose words it holds)
CODE_WORDS = (
    N_("Health"), N_("Injury"), N_("Fall"), N_("Breathing problems"), N_("Unconscious"), N_("Fire"),
    N_("Building fire"), N_("Vehicle fire"), N_("Wildfire"), N_("Smoke"), N_("Traffic"), N_("Car accident"),
    N_("Traffic jam"), N_("Car stopped"), N_("Hazard on road"), N_("Road closed"), N_("Road works"), N_("Pothole"),
    N_("Illegal parking"), N_("Injured biker"), N_("Flood"), N_("Storm"), N_("Landslide"), N_("Earthquake"),
    N_("Weather"), N_("Rainfall"), N_("Snow"), N_("Ice"), N_("Wind"), N_("Security"), N_("Robbery"),
    N_("Assault"), N_("Suspicious action"), N_("Disturbance"), N_("Noise"), N_("Vandalism"), N_("Environment"),
    N_("Air pollution"), N_("Water pollution"), N_("Spill"), N_("Infrastructure"), N_("Streetlight"),
    N_("Water leak"), N_("Fallen tree"), N_("Blocked drain"), N_("Graffiti"), N_("Device offline"),
    # what a vehicle says it is doing (SDM Vehicle serviceStatus), besides onRoute and onScene above
    N_("Parked"), N_("Patrolling"), N_("Returning"), N_("Broken"),
)


def words(code: str | None) -> str:
    """A code in words: ``breathingProblems`` -> "Breathing problems", ``out_of_service`` -> "Out of service"."""
    if not code:
        return ""
    if code in WORDS:
        return _(WORDS[code])
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", code).replace("_", " ").replace("-", " ").strip()
    return _(spaced[:1].upper() + spaced[1:].lower())


def incident_kind(category: str, sub_category: str | None) -> str:
    """What happened, in words: ``health/breathingProblems`` -> "Breathing problems",
    ``fire/other`` -> "Fire (other)", ``traffic`` -> "Traffic"."""
    if sub_category and sub_category != "other":
        return words(sub_category)
    return _("{kind} (other)", kind=words(category)) if sub_category else words(category)


INCIDENT_STATUS_LABELS = {"new": N_("New"), "dispatched": N_("Dispatched"), "en_route": N_("En route"), "on_scene": N_("On scene"),
                          "resolved": N_("Resolved"), "closed": N_("Closed"), "cancelled": N_("Cancelled")}
UNIT_STATUS_LABELS = {"available": N_("Available"), "dispatched": N_("Dispatched"), "en_route": N_("En route"),
                      "on_scene": N_("On scene"), "returning": N_("Returning"), "out_of_service": N_("Out of service")}
UNIT_KIND_LABELS = {"ambulance": N_("Ambulance"), "fire": N_("Fire engine"), "police": N_("Police car"),
                    "flood": N_("Flood rescue"), "road": N_("Road maintenance")}
SEVERITY_LABELS = {"informational": N_("Info"), "low": N_("Low"), "medium": N_("Medium"), "high": N_("High"), "critical": N_("Critical")}
DEVICE_TYPE_LABELS = {"TrafficFlowObserved": N_("Traffic counter"), "AirQualityObserved": N_("Air quality station"),
                      "WaterObserved": N_("Water gauge"), "FloodMonitoring": N_("Flood sensor"),
                      "WeatherObserved": N_("Weather station"), "Vehicle": N_("Vehicle")}
DEVICE_STATUS_LABELS = {"ok": N_("OK"), "stale": N_("Stale"), "silent": N_("Silent"), "out_of_area": N_("Out of area")}
SOURCE_LABELS = {"operator": N_("the dispatch console"), "citizen": N_("a citizen report"), "alarm": N_("an alarm"),
                 "api": N_("the API")}
ROLE_LABELS = {"admin": N_("administrator"), "dispatcher": N_("dispatcher"), "agent": N_("hotline agent"),
               "department": N_("department"), "manager": N_("manager"), "reporter": N_("reporter"),
               "display": N_("display")}
# what a running timer counts, by the status it started with
TIMER_LABELS = {"new": N_("waiting"), "dispatched": N_("dispatched"), "en_route": N_("en route"), "on_scene": N_("on scene"),
                "resolved": N_("resolved"), "available": N_("available"), "returning": N_("returning"),
                "out_of_service": N_("out of service")}



def label_of(labels: dict[str, str], code: str | None) -> str:
    """A code's label from one of the tables above, in the current language (its words when not listed)."""
    return _(labels[code]) if code in labels else words(code)


# words a recorded text was said with as codes (services/i18n.py ``Term``), put in words when it is shown
UNIT_REPLY_WORDS = {"accepted": N_("accepted"), "rejected": N_("rejected"), "arrived": N_("arrived"),
                    "cleared": N_("cleared")}
REPORT_STATUS_WORDS = {"open": N_("open"), "closed": N_("closed"), "updated": N_("updated")}
REQUEST_SOURCE_WORDS = {"mqtt": N_("mqtt"), "open311": N_("open311"), "hotline": N_("hotline")}
# severity codes as written in an escalation's history (its English is the code itself)
SEVERITY_WORDS = {"informational": N_("informational"), "low": N_("low"), "medium": N_("medium"), "high": N_("high"),
                  "critical": N_("critical")}


def term(kind: str, code) -> str:
    """A vocabulary code of a recorded text in the current language (the code itself where it has no words)."""
    if kind == "duration":
        return duration(code)
    if kind == "incident_kind":
        category, _slash, sub_category = str(code).partition("/")
        return incident_kind(category, sub_category or None)
    if kind == "msgid":  # a text of the catalogue said as it is written (a shipped rule's name)
        return _(str(code))
    if kind == "alarm_value":  # [metric, value] or [metric, value, threshold]
        return alarm_value(*code)
    if kind == "name":  # the city's own name of a thing in each language ({"en": ..., "zh": ...})
        return in_language(code.get("en"), code.get("zh")) or ""
    tables = _term_tables()
    if kind in tables:
        table, lower = tables[kind]
        return (_(table[code]).lower() if lower else _(table[code])) if code in table else str(code)
    return str(code)


def _term_tables() -> dict[str, tuple[dict[str, str], bool]]:
    """kind -> (its labels, written in lower case inside a sentence)."""
    from services.incidents import DISPOSITIONS
    from services.requests.orders import CLOCK_PHASES, SATISFACTION, STATUS_LABELS

    return {"request_status": (STATUS_LABELS, True), "source": (SOURCE_LABELS, False),
            "disposition": (DISPOSITIONS, False),
            "unit_reply": (UNIT_REPLY_WORDS, False), "report_status": (REPORT_STATUS_WORDS, False),
            "request_source": (REQUEST_SOURCE_WORDS, False), "severity_code": (SEVERITY_WORDS, False),
            "clock_phase": (CLOCK_PHASES, False), "satisfaction": (SATISFACTION, True),
            "rejection_reason": (REASON_NAMES, True)}


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
    "averageVehicleSpeed": N_("Average speed"), "intensity": N_("Vehicles"), "occupancy": N_("Occupancy"),
    "averageVehicleLength": N_("Average vehicle length"), "averageHeadwayTime": N_("Average headway"),
    "averageGapDistance": N_("Average gap"), "laneId": N_("Lane"), "airQualityIndex": N_("Air quality index"),
    "reliability": N_("Reliability"), "temperature": N_("Temperature"), "relativeHumidity": N_("Relative humidity"),
    "windSpeed": N_("Wind speed"), "windDirection": N_("Wind direction"), "precipitation": N_("Rainfall"),
    "height": N_("Water level"), "waterLevel": N_("Water level"), "currentLevel": N_("Water level"), "flow": N_("Flow"),
    "waterDischarge": N_("Discharge"), "alertLevel": N_("Alert level"), "dangerLevel": N_("Danger level"),
    "referenceLevel": N_("Reference level"), "measuredDistance": N_("Distance to water"),
    "atmosphericPressure": N_("Air pressure"), "illuminance": N_("Illuminance"), "snowHeight": N_("Snow depth"),
    "streamGauge": N_("Stream gauge"), "solarRadiation": N_("Solar radiation"), "speed": N_("Speed"), "bearing": N_("Heading"),
    "water_level": N_("Water level"), "aqi": N_("AQI"), "aqi_level": N_("AQI band"), "silent_s": N_("Silent for"),
}
# the unit each attribute is stored in (services/telemetry.py), and how a screen shows it
_STORED_UNITS: dict[str, str] = {}
for _spec in ENTITY_SPECS.values():
    for _measure in _spec.measures:
        _STORED_UNITS.setdefault(_measure.name, _measure.unit)
_STORED_UNITS.update({"water_level": "m", "precipitation": "mm/h", "aqi": "index", "silent_s": "s"})
DIGITS = {"m": 2, "index": 0, "vehicles": 0, "°": 0, "hPa": 0, "lx": 0}


def label(attribute: str) -> str:
    return _(ATTRIBUTE_LABELS[attribute]) if attribute in ATTRIBUTE_LABELS else words(attribute)


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
    return _("{label} {value}", label=label(name), value=quantity(name, value))


def values_summary(values: dict, limit: int = 3) -> str:
    """A device's last values in words: "Average speed 35.5 km/h, Vehicles 12"."""
    numbers = [(k, v) for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
               and k in _STORED_UNITS]
    return _(", ").join(attribute(k, v) for k, v in numbers[:limit])


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
        text = _("{value} of {reference}", value=shown(value), reference=words(ratio[1]).lower())
    elif metric == "aqi_level":
        shown = lambda v: f"{number(v, 0)}"  # noqa: E731
        text = _("AQI band {band}", band=shown(value))
    elif metric == "aqi":
        shown = lambda v: number(v, 0)  # noqa: E731
        text = _("AQI {value}", value=shown(value))
    elif metric == "silent_s":
        shown = duration
        text = _("silent {duration}", duration=duration(value))
    else:
        attribute_name = (metric or "").split("|")[0]
        shown = lambda v: quantity(attribute_name, v)  # noqa: E731
        text = shown(value)
    return text if threshold is None else _("{value} (limit {limit})", value=text, limit=shown(threshold))


# ---------------------------------------------------------------- for the browser

def for_javascript() -> dict:
    """The vocabulary as data for assets/vocabulary.js (``window.cityopsVocabulary``): the colours once, the
    words and formats per language (the page's ``<html lang>`` picks one), with the translations of the
    browser scripts' own messages."""
    return {
        "priorityColours": {str(p): c for p, c in PRIORITY_COLOURS.items()},
        "unitStatusColours": UNIT_STATUS_COLOURS, "noDataColour": NO_DATA_COLOUR,
        "languages": {html_lang(locale): _words_for_javascript(locale) for locale in LOCALES},
    }


def _words_for_javascript(locale: str) -> dict:
    with use_locale(locale):
        table = lambda labels: {code: _(text) for code, text in labels.items()}  # noqa: E731
        return {
            "words": table(WORDS), "incidentStatus": table(INCIDENT_STATUS_LABELS),
            "unitStatus": table(UNIT_STATUS_LABELS), "unitKind": table(UNIT_KIND_LABELS),
            "severity": table(SEVERITY_LABELS), "timer": table(TIMER_LABELS),
            "phrases": {english: _(english) for english in (*CODE_WORDS, "{kind} (other)")},
            "durationUnits": table(DURATION_UNITS), "durationJoin": _(DURATION_JOIN), "never": _(NEVER),
            "timePattern": time_pattern(locale), "messages": javascript_messages(locale),
        }
