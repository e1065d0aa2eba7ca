"""UN/CEFACT unit codes (the NGSI ``unitCode``) and their conversion to the units CityOps stores.

A feed may send a value in another unit than the one CityOps keeps for that measure (CO in
mg/m³ where CityOps keeps µg/m³, wind in km/h where it keeps m/s). ``convert`` turns a value
with its unit code into the measure's unit, or raises ``UnitError`` with a sentence saying why
it cannot (a code CityOps does not know, or a unit of another quantity): the caller keeps that
attribute as a rejection, never as a silent misread.

Codes from UN/CEFACT Recommendation 20 (Codes for Units of Measure Used in International Trade),
the list the Smart Data Models and NGSI-LD name for ``unitCode``.
"""
from __future__ import annotations

from dataclasses import dataclass

from services.i18n import Said, in_english, say


@dataclass(frozen=True)
class UnitCode:
    code: str
    quantity: str
    factor: float = 1.0  # value in the quantity's base unit = value * factor + offset
    offset: float = 0.0
    name: str = ""


# The base unit of each quantity is listed first in STORED_UNITS below.
UNIT_CODES: dict[str, UnitCode] = {unit.code: unit for unit in (
    UnitCode("GQ", "mass concentration", name="microgram per cubic metre"),
    UnitCode("GP", "mass concentration", 1000.0, name="milligram per cubic metre"),
    UnitCode("59", "mole fraction", name="part per million"),
    UnitCode("61", "mole fraction", 0.001, name="part per billion"),
    UnitCode("CEL", "temperature", name="degree Celsius"),
    UnitCode("KEL", "temperature", 1.0, -273.15, name="kelvin"),
    UnitCode("FAH", "temperature", 5.0 / 9.0, -32.0 * 5.0 / 9.0, name="degree Fahrenheit"),
    UnitCode("C62", "ratio", name="one"),
    UnitCode("P1", "ratio", 0.01, name="percent"),
    UnitCode("MTS", "speed", name="metre per second"),
    UnitCode("KMH", "speed", 1.0 / 3.6, name="kilometre per hour"),
    UnitCode("MTR", "length", name="metre"),
    UnitCode("CMT", "length", 0.01, name="centimetre"),
    UnitCode("MMT", "length", 0.001, name="millimetre"),
    UnitCode("KTM", "length", 1000.0, name="kilometre"),
    UnitCode("DD", "angle", name="degree (angle)"),
    UnitCode("A97", "pressure", name="hectopascal"),
    UnitCode("MBR", "pressure", name="millibar"),
    UnitCode("PAL", "pressure", 0.01, name="pascal"),
    UnitCode("KPA", "pressure", 10.0, name="kilopascal"),
    UnitCode("LUX", "illuminance", name="lux"),
    UnitCode("D54", "irradiance", name="watt per square metre"),
    UnitCode("SEC", "time", name="second"),
    UnitCode("MIN", "time", 60.0, name="minute"),
    UnitCode("HUR", "time", 3600.0, name="hour"),
    UnitCode("MQS", "flow", name="cubic metre per second"),
    UnitCode("MQH", "flow", 1.0 / 3600.0, name="cubic metre per hour"),
)}

# The units CityOps stores (services.telemetry Measure.unit): (quantity, how many of it make one base unit).
STORED_UNITS: dict[str, tuple[str, float]] = {
    "µg/m³": ("mass concentration", 1.0),
    "ppm": ("mole fraction", 1.0),
    "°C": ("temperature", 1.0),
    "1": ("ratio", 1.0),
    "m/s": ("speed", 1.0),
    "km/h": ("speed", 3.6),
    "m": ("length", 1.0),
    "cm": ("length", 100.0),
    "mm": ("length", 1000.0),
    "°": ("angle", 1.0),
    "hPa": ("pressure", 1.0),
    "lx": ("illuminance", 1.0),
    "W/m²": ("irradiance", 1.0),
    "s": ("time", 1.0),
    "m³/s": ("flow", 1.0),
}


class UnitError(ValueError):
    """A value whose unit code cannot be turned into the measure's unit; ``told`` says why (services/i18n.py)."""

    def __init__(self, told: Said):
        super().__init__()
        self.told = told

    def __str__(self) -> str:
        return in_english(self.told)


def convert(value: float, code: str, unit: str) -> float:
    """``value`` given in ``code`` (UN/CEFACT), in the measure's ``unit``."""
    known = UNIT_CODES.get(code.strip().upper()) if isinstance(code, str) else None
    if known is None:
        raise UnitError(say("unit code {code} is not one CityOps knows (UN/CEFACT codes such as {examples})",
                            code=repr(code), examples="GQ, GP, CEL, KMH, MTR, P1"))
    stored = STORED_UNITS.get(unit)
    if stored is None or stored[0] != known.quantity:
        raise UnitError(say("unit code {code} cannot be converted to {unit}", code=f"{known.code} ({known.name})",
                            unit=unit) if unit else
                        say("unit code {code} cannot be converted to a plain number",
                            code=f"{known.code} ({known.name})"))
    if known.factor == 1.0 and known.offset == 0.0 and stored[1] == 1.0:
        return value
    converted = (value * known.factor + known.offset) * stored[1]
    return float(f"{converted:.12g}")  # 5 mm -> 0.005 m -> 5.0 mm, not 5.000000000000001


def describe(code: str) -> str:
    """``"GP (milligram per cubic metre)"`` for messages; the code itself when unknown."""
    known = UNIT_CODES.get(code.strip().upper()) if isinstance(code, str) else None
    return f"{known.code} ({known.name})" if known else repr(code)
