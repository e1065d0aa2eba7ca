"""Searching the city's own places by name, offline (services/places.py)."""
from __future__ import annotations

from services.city import load_city
from services.config import CITIES_DIR
from services.places import fold, nearest_address, search_places


def helsinki():
    return load_city(CITIES_DIR / "helsinki")


def test_a_name_is_folded_to_lower_case_without_accents():
    assert fold("Töölönkatu 4 B") == "toolonkatu 4 b"
    assert fold("  ERottajan--paloasema ") == "erottajan paloasema"


def test_the_beginning_of_a_street_in_any_case_finds_the_street_first():
    for typed in ("mannerh", "MANNERH", "Mannerheimintie"):
        found = search_places(helsinki(), typed)
        assert found[0].name == "Mannerheimintie" and found[0].kind == "street", typed
    assert all("mannerh" in fold(place.name) for place in search_places(helsinki(), "mannerh"))


def test_an_address_with_its_house_number_is_found_at_its_building():
    place = search_places(helsinki(), "mannerheimintie 5")[0]
    assert (place.name, place.kind) == ("Mannerheimintie 5", "address")
    assert helsinki().is_in_area(place.lon, place.lat)


def test_accents_need_not_be_typed_and_districts_and_places_are_found():
    assert any(p.name.startswith("Töölönlahden") for p in search_places(helsinki(), "toolonlahden"))
    assert [p.kind for p in search_places(helsinki(), "kallio")][:1] == ["district"]
    assert any(p.kind == "place" and p.detail == "Fire station" for p in search_places(helsinki(), "paloasema"))


def test_a_whole_name_outranks_its_beginning_and_words_outrank_the_middle_of_a_name():
    found = [p.name for p in search_places(helsinki(), "esplanadi", limit=20)]
    whole_words = [name for name in found if fold(name).split()[0].startswith("esplanadi")]
    middles = [name for name in found if not any(w.startswith("esplanadi") for w in fold(name).split())]
    assert whole_words and middles
    assert max(found.index(n) for n in whole_words) < min(found.index(n) for n in middles)


def test_too_short_or_unknown_text_finds_nothing():
    assert search_places(helsinki(), "m") == []
    assert search_places(helsinki(), "   ") == []
    assert search_places(helsinki(), "zzzyx") == []


def test_a_city_built_without_a_gazetteer_searches_its_road_names_and_districts(tiny_city):
    city = load_city(tiny_city)
    assert [(p.name, p.kind) for p in search_places(city, "testi")] == [("Testikatu", "street")]
    assert search_places(city, "testikatu")[0].detail in ("West", "East")
    assert [(p.name, p.kind) for p in search_places(city, "east")] == [("East", "district")]


def test_a_map_click_is_named_by_the_nearest_address_within_reach():
    near = nearest_address(helsinki(), 24.9414, 60.1699)
    assert near is not None and near.kind == "address"
    assert nearest_address(helsinki(), 24.80, 60.10) is None
