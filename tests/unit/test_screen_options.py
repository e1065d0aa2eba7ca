"""A wall's link options (?rotate=30&aqi=cn&sound=1), as a person types them or a display's options send them."""
from __future__ import annotations

import pytest

from services.access.displays import _read_options, link_query, screen_options
from services.commands import Refused

US, CN = "us-epa-2024", "cn-hj633-2012"


def test_rotation_is_seconds_per_view_at_least_two_and_nonsense_means_no_rotation():
    assert [screen_options({"rotate": value}, US).rotate_s for value in ("30", "1", "0", "fast", "-5", None)] == \
        [30, 2, 0, 0, 0, 0]


def test_the_aqi_standard_comes_from_the_link_else_the_citys():
    assert screen_options({"aqi": "cn"}, US).standard == CN
    assert screen_options({}, CN).standard == CN
    assert screen_options({"aqi": "eu"}, CN).standard == CN  # unknown: the city's, not an error page


@pytest.mark.parametrize("value, sound", [("1", True), ("true", True), ("True", True), ("on", True),
                                          ("0", False), ("False", False), ("off", False), (None, None), ("x", None)])
def test_sound_is_on_off_or_not_set(value, sound):
    assert screen_options({"sound": value}, US).sound is sound


def test_display_options_keep_the_standards_code_and_sound_and_the_link_carries_them():
    options = _read_options({"rotate": 30, "aqi": "CN", "sound": True})
    assert options == {"rotate": 30, "aqi": "cn", "sound": True}
    assert screen_options(link_query(options), US) == screen_options({"rotate": "30", "aqi": "cn",
                                                                            "sound": "1"}, US)


@pytest.mark.parametrize("options", [{"aqi": "eu"}, {"aqi": ""}, {"aqi": 1}, {"sound": "yes"}, {"sound": 1}])
def test_display_options_refuse_an_unknown_standard_and_a_sound_that_is_not_true_or_false(options):
    with pytest.raises(Refused):
        _read_options(options)
