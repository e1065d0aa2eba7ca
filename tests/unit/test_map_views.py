"""The views a map is fitted to (components/live_map.py): the whole city, then each district of a rotating wall."""
from __future__ import annotations

import json

from components.live_map import fit_views, fitted

BBOX = (24.935, 60.164, 24.954, 60.179)
SQUARE = [[24.935, 60.164], [24.944, 60.164], [24.944, 60.170], [24.935, 60.170], [24.935, 60.164]]
DISTRICTS = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"name": "Punavuori (00120)"}, "geometry": {"type": "Polygon", "coordinates": [SQUARE]}},
    {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [SQUARE]}},
]}


def test_a_map_shows_the_whole_city_in_leaflets_south_west_north_east_order():
    assert fit_views(BBOX) == [{"name": "Whole city", "bounds": [[60.164, 24.935], [60.179, 24.954]]}]


def test_a_rotating_wall_shows_each_district_after_the_whole_city_outlined_and_named():
    views = fit_views(BBOX, DISTRICTS)
    assert [view["name"] for view in views] == ["Whole city", "Punavuori (00120)", "District 2"]
    assert views[1]["bounds"] == [[60.164, 24.935], [60.170, 24.944]]
    assert views[1]["outline"] == DISTRICTS["features"][0]["geometry"]


def test_the_map_holder_carries_its_views_and_rotation_for_the_browser():
    attributes = fitted(fit_views(BBOX, DISTRICTS), 30)
    assert json.loads(attributes["data-views"])[0]["name"] == "Whole city" and attributes["data-rotate"] == "30"
