"""The service catalogue: validated like the rules file, every problem named with its place."""
from __future__ import annotations

from pathlib import Path

import pytest

from services.commands import Refused
from services.requests.catalogue import parse_catalogue

CONFIG = Path(__file__).resolve().parents[2] / "config"
DEPARTMENTS = (CONFIG / "departments.yaml").read_text()


def test_the_shipped_catalogue_maps_the_real_open311_codes_of_the_samples_to_departments():
    catalogue = parse_catalogue((CONFIG / "services.yaml").read_text(), DEPARTMENTS)
    assigned = {code: catalogue.service_for(code).department for code in ("171", "174", "178", "180", "234", "584",
                                                                         "001", "006")}
    assert assigned == {"171": "roads", "174": "parks", "178": "traffic", "180": "sanitation", "234": "roads",
                        "584": "planning", "001": "sanitation", "006": "roads"}
    assert catalogue.service_for(None, "Aceras").code == "234" and catalogue.service_for("nope") is None
    assert catalogue.service_for("accident").emergency and not catalogue.service_for("POT").emergency
    assert catalogue.service_for("584").resolution.days == 15 and catalogue.service_for("WLK").resolution.seconds == 86400


def test_a_broken_catalogue_is_refused_with_every_problem_and_its_place():
    text = """
time_limits: {general: {response: 24h, resolution: 7d}}
services:
  - {code: POT, name: {en: Pothole}, department: nowhere, time_limit: general}
  - {code: X, name: {en: X, zh: X}, department: roads, time_limit: general, response: soon}
  - {code: F, name: {en: F, zh: F}, department: roads, time_limit: general, emergency: true}
  - {code: POT, name: {en: P, zh: P}, department: roads, time_limit: weekly}
"""
    with pytest.raises(Refused) as caught:
        parse_catalogue(text, DEPARTMENTS)
    problems = caught.value.details
    assert "services[0] (POT).name: needs {en: ..., zh: ...}, both as text" in problems
    assert any(p.startswith("services[0] (POT).department: 'nowhere'") for p in problems)
    assert any(p.startswith("services[1] (X).response/resolution: 'soon'") for p in problems)
    assert any(p.startswith("services[2] (F).incident:") for p in problems)
    assert any(p.startswith("services[3] (POT).time_limit: 'weekly'") for p in problems)
