"""The public kiosk behind its display link, on SQLite and PostgreSQL: its page and its data tick, the
public warnings it shows (and the alarms it never shows), and never a sign-in page."""
from __future__ import annotations

from sqlalchemy import update

from services.access.displays import CreateDisplay
from services.alarms import RaiseAlarm, Trigger
from services.models import Alarm, utcnow
from tests.brokers import wait_until
from tests.dash_calls import callback_body, response_text
from tests.integration.test_access import ORIGIN, SYSTEM, site  # noqa: F401  (the fixture)


def _kiosk(site, options=None):  # noqa: F811
    _, token = CreateDisplay(site.runtime.engine, SYSTEM, "Town hall", "/kiosk", options or {})()
    client = site.app.server.test_client()
    opened = client.get(f"/display/{token}")
    assert opened.status_code == 302 and opened.headers["Location"].startswith(f"/kiosk?display={token}")
    return client


def _raise(site, rule_id: str, device_id: str, sub_category: str, severity: str = "high") -> int:
    trigger = Trigger(rule_id=rule_id, rule_name=rule_id, device_id=device_id, device_type="WaterObserved",
                      device_name="gauge", district="East", category="weather", sub_category=sub_category,
                      severity=severity, description="test", metric="water_level", value=1.3, threshold=1.2,
                      lon=24.951, lat=60.166, started_at=utcnow())
    return RaiseAlarm(trigger).validate().run(site.runtime.engine).alarm.id


def _tick(site, client, language="en") -> str:  # noqa: F811
    body = callback_body(site.app, "refresh_kiosk", [1, language], [{"standard": "us-epa-2024", "languages": [language]}])
    answer = client.post("/_dash-update-component", json=body, headers={"Origin": ORIGIN})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return response_text(answer)


def test_the_kiosk_shows_active_public_warnings_with_what_to_do_and_never_a_drill_or_an_operators_alarm(site):  # noqa: F811
    client = _kiosk(site)
    assert "No public warnings now." in _tick(site, client)

    _raise(site, "water-alert", "flood-1", "flood")
    _raise(site, "traffic-jam", "traffic-1", "trafficJam", "medium")  # not public
    drill = _raise(site, "heavy-rain", "weather-1", "rainfall")
    with site.runtime.engine.begin() as connection:
        connection.execute(update(Alarm).where(Alarm.id == drill).values(drill="storm drill"))
    wait_until(lambda: "Flood warning" in _tick(site, client), 10, interval=0.25,
               message="the warning on the kiosk (its status is built once per snapshot tick)")
    text = _tick(site, client)
    assert "Flood warning" in text and "Keep away from riverbanks" in text and "East" in text
    assert "Heavy rain" not in text and "trafficJam" not in text and "traffic-jam" not in text


def test_a_kiosk_page_loads_through_its_link_and_its_screen_carries_no_alarm_strip(site):  # noqa: F811
    client = _kiosk(site, {"lang": "en", "rotate": 15})
    page = client.get("/kiosk")
    assert page.status_code == 200
    strip = callback_body(site.app, "mount_strip", ["shell-alarm-strip"])
    answer = client.post("/_dash-update-component", json=strip, headers={"Origin": ORIGIN})
    assert answer.status_code == 200 and answer.get_json()["response"]["shell-alarm-strip"]["children"] == []
    wall = site.client("display")  # the operators' wall keeps its strip
    answer = wall.post("/_dash-update-component", json=strip, headers={"Origin": ORIGIN})
    assert answer.get_json()["response"]["shell-alarm-strip"]["children"] != []


def test_an_unknown_display_link_gets_a_plain_message_never_the_sign_in_page(site):  # noqa: F811
    client = site.app.server.test_client()
    for path in ("/kiosk?display=d_not-a-display", "/display/d_not-a-display"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        text = answer.get_data(as_text=True)
        assert "This display link is not known" in text and "signin" not in text and "Location" not in answer.headers
    assert client.get("/kiosk").headers["Location"].startswith("/login")  # a person without a link signs in
