"""The language of a screen (issue 14, point 2), on SQLite and PostgreSQL: a person's saved choice, a
display link's language, else the browser's Accept-Language; the AQI standard of a screen in Chinese."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from services.access.displays import CreateDisplay
from services.access.principal import Principal
from services.access.users import CreateUser, SetLanguage
from services.alarms import RaiseAlarm, Trigger
from services.commands import Refused
from services.config import PROJECT_ROOT
from services.dispatch import CreateIncident, DispatchContext
from services.incidents import IncidentInput
from services.models import AuditEntry, User, utcnow
from services.runtime import open_runtime
from tests.dash_calls import callback_body
from tests.integration.support import make_settings

ORIGIN = "http://localhost"
PASSWORD = "correct horse battery"
SYSTEM = Principal.system("test")


@dataclass
class Site:
    runtime: object
    app: object

    def person(self, name: str = "dispatcher-1", language: str | None = None):
        client = self.app.server.test_client()
        headers = {"Origin": ORIGIN, **({"Accept-Language": language} if language else {})}
        answer = client.post("/login", data={"name": name, "password": PASSWORD, "next": "/"}, headers=headers)
        assert answer.status_code == 303, answer.get_data(as_text=True)
        return client


@pytest.fixture
def site(database_url, tiny_city, tmp_path, broker, monkeypatch):
    monkeypatch.delenv("CITYOPS_AQI_STANDARD", raising=False)
    rules = tmp_path / "rules.yaml"
    shutil.copy(PROJECT_ROOT / "config" / "rules.yaml", rules)  # its aqi_standard: us-epa-2024
    runtime = open_runtime(make_settings(database_url, broker, tiny_city, rules_file=rules, data_dir=tmp_path))
    from app import create_app

    app = create_app(runtime)
    CreateUser(runtime.engine, SYSTEM, "dispatcher-1", "dispatcher", PASSWORD)()
    yield Site(runtime, app)
    runtime.engine.dispose()


def _page(client, path: str = "/", **headers) -> str:
    return client.get(path, headers=headers).get_data(as_text=True)


def _layout(client, **headers) -> str:
    return client.get("/_dash-layout", headers=headers).get_data(as_text=True)


def test_the_sign_in_page_speaks_the_browsers_language(site):
    client = site.app.server.test_client()
    assert "登录" in _page(client, "/login", **{"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert "Sign in to CityOps" in _page(client, "/login", **{"Accept-Language": "fi, en;q=0.5"})


def test_a_person_without_a_choice_reads_the_browsers_language(site):
    client = site.person()
    assert '<html lang="zh-Hans">' in _page(client, "/", **{"Accept-Language": "zh-CN"})
    assert "退出登录" in _layout(client, **{"Accept-Language": "zh-CN"})
    assert '<html lang="en">' in _page(client, "/", **{"Accept-Language": "en-GB"})
    assert "Sign out" in _layout(client, **{"Accept-Language": "en-GB"})


def test_a_persons_saved_language_wins_over_the_browser_and_is_audited(site):
    client = site.person()
    answer = client.post("/language", data={"language": "zh"},
                         headers={"Origin": ORIGIN, "Referer": f"{ORIGIN}/alarms?state=active"})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/alarms?state=active")
    with site.runtime.engine.connect() as connection:
        assert connection.execute(select(User.language).where(User.name == "dispatcher-1")).scalar_one() == "zh"
        audit = connection.execute(select(AuditEntry).where(AuditEntry.action == "user.language")).one()
    assert audit.actor == "dispatcher-1"
    assert '<html lang="zh-Hans">' in _page(client, "/", **{"Accept-Language": "en"})
    assert "退出登录" in _layout(client, **{"Accept-Language": "en"})
    # the switch offers English back; choosing it is saved too
    assert '"value":"en"' in _layout(client)
    client.post("/language", data={"language": "en"}, headers={"Origin": ORIGIN})
    assert "Sign out" in _layout(client, **{"Accept-Language": "zh-CN"})


def test_a_language_without_a_catalogue_or_from_a_display_is_refused(site):
    client = site.person()
    answer = client.post("/language", data={"language": "klingon"}, headers={"Origin": ORIGIN})
    assert answer.status_code == 422 and answer.get_json()["error"]["field"] == "language"
    display = Principal(name="display:Hall", role="display", kind="display", id=1)
    with pytest.raises(Refused):
        SetLanguage(site.runtime.engine, display, "zh")()


def test_a_display_link_carries_its_language(site):
    _, token = CreateDisplay(site.runtime.engine, SYSTEM, "Metro hall", "/wall", {"lang": "zh"})()
    client = site.app.server.test_client()
    opened = client.get(f"/display/{token}", headers={"Accept-Language": "en"})
    assert opened.status_code == 302 and "lang=zh" in opened.headers["Location"]
    assert '<html lang="zh-Hans">' in _page(client, opened.headers["Location"], **{"Accept-Language": "en"})
    assert '<html lang="zh-Hans">' in _page(client, "/wall", **{"Accept-Language": "en"})  # by its cookie too


def test_a_screen_in_chinese_shows_the_china_aqi_unless_one_is_configured(site, monkeypatch):
    from pages.map import site_standard
    from services.i18n import use_locale

    with site.app.server.test_request_context("/"):
        with use_locale("zh"):
            assert site_standard() == "cn-hj633-2012"
        with use_locale("en"):
            assert site_standard() == "us-epa-2024"  # the rules file's
    configured = site.runtime.settings.model_copy(update={"aqi_standard": "us-epa-2024"})  # CITYOPS_AQI_STANDARD
    monkeypatch.setattr(site.runtime, "settings", configured)
    with site.app.server.test_request_context("/"), use_locale("zh"):
        assert site_standard() == "us-epa-2024"


def test_an_api_refusal_speaks_the_callers_language_with_the_same_code_and_status(site):
    CreateIncident(DispatchContext.of(site.runtime), SYSTEM,
                   IncidentInput("health", "heartAttack", 1, 24.9445, 60.1705, description="Testikatu 3"))()
    client = site.person()
    chinese = {"Origin": ORIGIN, "Accept-Language": "zh-CN,zh;q=0.9"}
    assert client.post("/api/v1/incidents/1/cancel", headers={"Origin": ORIGIN}).status_code == 200
    resolve = {"outcome": "nobody there", "disposition": "no_action_needed"}
    in_english = client.post("/api/v1/incidents/1/resolve", json=resolve, headers={"Origin": ORIGIN})
    in_chinese = client.post("/api/v1/incidents/1/resolve", json=resolve, headers=chinese)
    assert in_english.status_code == in_chinese.status_code == 409
    assert in_english.get_json()["error"] == {"code": "invalid_state", "field": "status",
                                              "message": "incident #1 is already cancelled; nothing to resolve"}
    # the status inside the sentence is the vocabulary's word in Chinese too
    assert in_chinese.get_json()["error"] == {"code": "invalid_state", "field": "status",
                                              "message": "事件 #1 的状态已是“已取消”；无需办结"}
    missing = client.post("/api/v1/alerts/999/ack", headers=chinese)
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "not_found"
    assert missing.get_json()["error"]["message"] == "没有编号为 999 的告警"
    anonymous = site.app.server.test_client().get("/api/v1/incidents", headers={"Accept-Language": "zh"})
    assert anonymous.status_code == 401 and anonymous.get_json()["error"]["message"].startswith("请发送 Authorization")


def test_a_bad_time_in_an_api_query_is_explained_in_the_callers_language(site):
    client = site.person()
    in_english = client.get("/api/v1/alerts?since=yesterday", headers={"Origin": ORIGIN})
    in_chinese = client.get("/api/v1/alerts?since=yesterday", headers={"Origin": ORIGIN, "Accept-Language": "zh"})
    assert in_english.status_code == in_chinese.status_code == 400
    assert in_english.get_json()["error"] == {"code": "invalid_value", "field": "since",
                                              "message": "since='yesterday' is not ISO 8601"}
    assert in_chinese.get_json()["error"]["message"] == "since='yesterday' 不是 ISO 8601 时间"


def test_an_open311_error_is_described_in_the_callers_language(site):
    """GeoReport v2 errors ({code, description}) for a citizen's app in Chinese; the code stays the status."""
    client = site.app.server.test_client()
    in_english = client.get("/open311/v2/requests/NOPE-1.json")
    in_chinese = client.get("/open311/v2/requests/NOPE-1.json", headers={"Accept-Language": "zh-CN"})
    assert in_english.status_code == in_chinese.status_code == 404
    assert in_english.get_json() == [{"code": 404, "description": "service_request_id NOPE-1 was not found"}]
    assert in_chinese.get_json() == [{"code": 404, "description": "未找到 service_request_id NOPE-1"}]


def test_an_api_refusal_to_a_saved_chinese_speaker_is_in_chinese(site):
    client = site.person()
    client.post("/language", data={"language": "zh"}, headers={"Origin": ORIGIN})
    answer = client.post("/api/v1/alerts/999/ack", headers={"Origin": ORIGIN, "Accept-Language": "en"})
    assert answer.status_code == 404 and answer.get_json()["error"]["message"] == "没有编号为 999 的告警"


def test_a_page_callbacks_refusal_speaks_the_screens_language(site):
    RaiseAlarm(Trigger(rule_id="water-alert", rule_name="Water level at alert level", device_id="flood-1",
                       device_type="FloodMonitoring", device_name="Harbour gauge", district="East",
                       category="weather", sub_category="flood", severity="high", description="level high",
                       metric="water_level", value=1.3, threshold=1.2, lon=24.951, lat=60.166,
                       started_at=utcnow())).validate().run(site.runtime.engine)
    client = site.person()

    def acknowledge(**headers) -> str:
        body = callback_body(site.app, "row_action", [[({"type": "alarms-action", "action": "ack", "index": 1}, 1)]],
                             [0])
        answer = client.post("/_dash-update-component", json=body, headers={"Origin": ORIGIN, **headers})
        assert answer.status_code == 200
        return json.dumps(answer.get_json(), ensure_ascii=False)

    acknowledge()
    assert "Refused: alarm 1 was acknowledged by dispatcher-1" in acknowledge()
    assert "操作被拒绝：告警 1 已由 dispatcher-1 确认" in acknowledge(**{"Accept-Language": "zh-CN"})
