"""Who may do what (issue 10), on SQLite and PostgreSQL: sign-in, sessions, every request checked,
display links, and the role matrix of every world-changing command through both the page
callback (/_dash-update-component with the real callback's body) and the REST API."""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from services.access.displays import CreateDisplay
from services.access.principal import PERMISSIONS, Principal
from services.access.users import CreateUser, SignInLimit, sign_in
from services.alarms import RaiseAlarm, Trigger, get_alarm
from services.auth import create_token
from services.commands import Refused
from services.config import PROJECT_ROOT
from services.dispatch import CreateIncident, DispatchContext
from services.incidents import IncidentInput, get_incident
from services.models import AuditEntry, Display, Incident, RejectedMessage, ResponseUnit, User, utcnow
from services.runtime import open_runtime
from tests.dash_calls import callback_body, response_text
from tests.integration.support import make_settings

ORIGIN = "http://localhost"  # the Flask test client's host
PASSWORD = "correct horse battery"
SYSTEM = Principal.system("test")
ROLES = ("anonymous", "display", "manager", "dispatcher", "admin")


@dataclass
class Site:
    runtime: object
    app: object
    display_token: str
    api_tokens: dict

    def client(self, role: str):
        """A browser of ``role``: signed in through the form, or opened with a display link."""
        client = self.app.server.test_client()
        if role == "display":
            assert client.get(f"/display/{self.display_token}").status_code == 302
        elif role != "anonymous":
            answer = client.post("/login", data={"name": f"{role}-1", "password": PASSWORD, "next": "/"},
                                 headers={"Origin": ORIGIN})
            assert answer.status_code == 303, answer.get_data(as_text=True)
        return client

    def api(self, role: str) -> dict:
        return {"Authorization": f"Bearer {self.api_tokens[role]}"} if role != "anonymous" else {}


@pytest.fixture
def site(database_url, tiny_city, tmp_path, broker):
    rules = tmp_path / "rules.yaml"
    shutil.copy(PROJECT_ROOT / "config" / "rules.yaml", rules)
    runtime = open_runtime(make_settings(database_url, broker, tiny_city, rules_file=rules, data_dir=tmp_path,
                                         admin_token="test-admin-token"))
    from app import create_app

    app = create_app(runtime)
    for role in ("manager", "dispatcher", "admin"):
        CreateUser(runtime.engine, SYSTEM, f"{role}-1", role, PASSWORD)()
    _, token = CreateDisplay(runtime.engine, SYSTEM, "Wall 1", "/wall", {"rotate": 30})()
    tokens = {role: create_token(runtime.engine, f"{role}-token", role)
              for role in ("display", "manager", "dispatcher", "admin")}
    yield Site(runtime, app, token, tokens)
    runtime.engine.dispose()  # its idle connections: the PostgreSQL server is shared by every test


def _audit(engine, action: str) -> list[AuditEntry]:
    with engine.connect() as connection:
        return list(connection.execute(select(AuditEntry).where(AuditEntry.action == action)))


# ---------------------------------------------------------------- people sign in

def test_passwords_are_stored_as_argon2id_hashes_only(site):
    with site.runtime.engine.connect() as connection:
        hashes = [row.password_hash for row in connection.execute(select(User.password_hash))]
    assert hashes and all(h.startswith("$argon2id$") and PASSWORD not in h for h in hashes)


def test_sign_in_sets_an_httponly_samesite_session_and_sign_out_ends_it_both_audited(site):
    client = site.app.server.test_client()
    answer = client.post("/login", data={"name": "dispatcher-1", "password": PASSWORD, "next": "/dispatch"},
                         headers={"Origin": ORIGIN})
    assert answer.status_code == 303 and answer.headers["Location"] == "/dispatch"
    cookie = next(c for c in answer.headers.getlist("Set-Cookie") if c.startswith("cityops_session="))
    assert "cityops_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/dispatch").status_code == 200
    assert client.post("/logout", headers={"Origin": ORIGIN}).status_code == 303
    assert client.get("/dispatch").status_code == 302
    assert [e.actor for e in _audit(site.runtime.engine, "signin")] == ["dispatcher-1"]
    assert [e.actor for e in _audit(site.runtime.engine, "signout")] == ["dispatcher-1"]


def test_wrong_password_is_refused_with_the_form_again_and_audited_with_the_address(site):
    client = site.app.server.test_client()
    answer = client.post("/login", data={"name": "dispatcher-1", "password": "wrong password!"},
                         headers={"Origin": ORIGIN})
    assert answer.status_code == 401 and "wrong user name or password" in answer.get_data(as_text=True)
    failures = _audit(site.runtime.engine, "signin.failure")
    assert len(failures) == 1 and failures[0].target == "user:dispatcher-1"
    assert failures[0].after["address"] == "127.0.0.1"


def test_five_failures_lock_the_account_even_for_the_right_password_then_it_unlocks(site):
    engine, now = site.runtime.engine, utcnow()
    for attempt in range(5):
        with pytest.raises(Refused) as refused:
            sign_in(engine, "manager-1", "guess number %d" % attempt, f"10.0.0.{attempt}", now)
        assert refused.value.status == 401
    with pytest.raises(Refused) as locked:
        sign_in(engine, "manager-1", PASSWORD, "10.0.0.99", now + timedelta(seconds=1))
    assert locked.value.status == 429 and "try again in 5 minutes" in locked.value.message
    assert sign_in(engine, "manager-1", PASSWORD, "10.0.0.99", now + timedelta(minutes=5, seconds=1)).role == "manager"
    assert len(_audit(engine, "signin.locked")) == 1


def test_one_address_failing_on_many_accounts_is_locked_too(site):
    engine, now = site.runtime.engine, utcnow()
    limit = SignInLimit(per_account=5, per_address=3)
    for name in ("a", "b", "c"):
        with pytest.raises(Refused):
            sign_in(engine, name, "nope nope nope", "10.9.9.9", now, limit)
    with pytest.raises(Refused) as locked:
        sign_in(engine, "admin-1", PASSWORD, "10.9.9.9", now, limit)
    assert locked.value.status == 429
    assert sign_in(engine, "admin-1", PASSWORD, "10.1.1.1", now, limit).name == "admin-1"


def test_an_idle_session_ends_and_the_page_asks_to_sign_in_again(site):
    client = site.client("dispatcher")
    with client.session_transaction() as session:
        session["seen"] = time.time() - 31 * 60
    answer = client.get("/dispatch")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login")
    assert "inactivity" in client.get("/login").get_data(as_text=True)
    assert _audit(site.runtime.engine, "signout")[0].after["reason"].startswith("idle")


def test_timers_and_the_connection_check_do_not_keep_an_idle_session_alive_but_a_click_does(site):
    client = site.client("dispatcher")
    ten_minutes_ago = time.time() - 600
    with client.session_transaction() as session:
        session["seen"] = ten_minutes_ago
    assert client.get("/api/v1/health").status_code in (200, 503)
    tick = callback_body(site.app, "refresh_figures", [7], ["us-epa-2024"])  # a dcc.Interval's n_intervals
    assert client.post("/_dash-update-component", json=tick, headers={"Origin": ORIGIN}).status_code == 200
    with client.session_transaction() as session:
        assert session["seen"] == ten_minutes_ago
    click = callback_body(site.app, "pages.alarms:show_detail", [None, 1], triggered=1)
    assert client.post("/_dash-update-component", json=click, headers={"Origin": ORIGIN}).status_code == 200
    with client.session_transaction() as session:
        assert session["seen"] > ten_minutes_ago


def test_disabling_a_user_ends_their_session_at_once(site):
    from services.access.users import SetDisabled

    client = site.client("manager")
    assert client.get("/").status_code == 200
    SetDisabled(site.runtime.engine, SYSTEM, "manager-1")()
    assert client.get("/").status_code == 302


def test_the_last_active_admin_cannot_be_disabled_or_demoted(site):
    from services.access.users import ChangeRole, SetDisabled

    with pytest.raises(Refused, match="only active admin"):
        SetDisabled(site.runtime.engine, SYSTEM, "admin-1")()
    with pytest.raises(Refused, match="only active admin"):
        ChangeRole(site.runtime.engine, SYSTEM, "admin-1", "manager")()


def test_sign_in_redirects_only_to_paths_of_this_site(site):
    client = site.app.server.test_client()
    answer = client.post("/login", data={"name": "admin-1", "password": PASSWORD, "next": "//evil.example/x"},
                         headers={"Origin": ORIGIN})
    assert answer.headers["Location"] == "/"


# ---------------------------------------------------------------- every request checked

@pytest.mark.parametrize("path", ["/", "/dispatch", "/rules", "/admin/users", "/sensors"])
def test_pages_without_identity_redirect_to_the_sign_in_page(site, path):
    answer = site.app.server.test_client().get(path)
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("method, path", [("GET", "/_dash-layout"), ("GET", "/_dash-dependencies"),
                                          ("POST", "/_dash-update-component")])
def test_dash_endpoints_without_identity_answer_401_json_never_a_redirect(site, method, path):
    answer = site.app.server.test_client().open(path, method=method, json={} if method == "POST" else None)
    assert answer.status_code == 401 and answer.is_json
    assert answer.get_json()["error"]["code"] == "unauthorized"


def test_sign_in_page_assets_and_health_load_without_identity(site):
    client = site.app.server.test_client()
    assert client.get("/login").status_code == 200
    assert client.get("/assets/cityops.css").status_code == 200
    assert client.get("/api/v1/health").status_code in (200, 503)
    assert client.get("/api/v1/health/live").status_code == 200
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.get("/api/v1/devices").status_code == 401


def test_every_response_carries_the_security_headers_and_a_csp_without_inline_scripts(site):
    client = site.client("admin")
    for path in ("/login", "/", "/_dash-layout", "/api/v1/health"):
        headers = site.app.server.test_client().get(path).headers if path == "/login" else client.get(path).headers
        csp = headers["Content-Security-Policy"]
        script_src = next(part for part in csp.split(";") if part.strip().startswith("script-src"))
        assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src, path
        assert "frame-ancestors 'none'" in csp, path
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "same-origin", path


def test_a_cookie_carried_write_from_another_site_is_refused_and_a_bearer_call_is_not(site):
    client = site.client("dispatcher")
    body = {"category": "health", "lon": 24.94, "lat": 60.17}
    foreign = client.post("/api/v1/incidents", json=body, headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403 and foreign.get_json()["error"]["code"] == "cross_site"
    assert client.post("/api/v1/incidents", json=body).status_code == 403  # no Origin, no Referer
    assert client.post("/api/v1/incidents", json=body, headers={"Origin": ORIGIN}).status_code == 201
    bearer = site.app.server.test_client().post("/api/v1/incidents", json=body, headers=site.api("dispatcher"))
    assert bearer.status_code == 201
    login = site.app.server.test_client().post("/login", data={"name": "admin-1", "password": PASSWORD},
                                                headers={"Origin": "http://evil.example"})
    assert login.status_code == 403


def test_the_api_accepts_the_browser_session_too(site):
    assert site.client("manager").get("/api/v1/units").status_code == 200


def test_a_manager_cannot_open_the_admin_pages_and_does_not_see_them_in_the_navigation(site):
    client = site.client("manager")
    assert client.get("/admin/users").status_code == 403
    layout = response_text(client.get("/_dash-layout"))
    assert "/admin/users" not in layout and "/dispatch" in layout
    assert "/admin/users" in response_text(site.client("admin").get("/_dash-layout"))


def test_rejected_payloads_are_only_in_the_administrators_sensors_page(site):
    from pages import sensors

    app = site.app
    with site.runtime.engine.begin() as connection:
        connection.execute(RejectedMessage.__table__.insert().values(
            received_at=utcnow(), topic="city/telemetry/x", payload=b'{"secret": "payload"}', payload_size=21,
            reason="not_json", detail="a kept payload"))
    body = callback_body(app, "refresh_rejections", [1, None])
    manager = site.client("manager").post("/_dash-update-component", json=body, headers={"Origin": ORIGIN})
    assert manager.get_json()["response"][sensors.SENSORS_REJECTED]["data"] == []
    assert "secret" not in response_text(manager)
    admin = site.client("admin").post("/_dash-update-component", json=body, headers={"Origin": ORIGIN})
    assert "a kept payload" in response_text(admin) and "secret" in response_text(admin)


# ---------------------------------------------------------------- display links

def test_display_link_sets_a_long_lived_cookie_and_opens_its_page_with_the_token_in_the_url(site):
    client = site.app.server.test_client()
    answer = client.get(f"/display/{site.display_token}")
    assert answer.status_code == 302
    assert answer.headers["Location"] == f"/wall?display={site.display_token}&rotate=30"
    cookie = answer.headers["Set-Cookie"]
    assert "cityops_display=" in cookie and "HttpOnly" in cookie and "Max-Age=315360000" in cookie
    assert client.get("/wall").status_code == 200
    assert client.get("/dispatch").headers["Location"].startswith("/wall?display=")  # only its own page


def test_a_cookieless_reload_of_the_display_url_recovers_without_a_sign_in(site):
    client = site.app.server.test_client()
    answer = client.get(f"/wall?display={site.display_token}&rotate=30")
    assert answer.status_code == 200 and "cityops_display=" in answer.headers["Set-Cookie"]
    assert client.post("/_dash-update-component", json=callback_body(site.app, "refresh_figures", [1],
                                                                              ["us-epa-2024"]),
                       headers={"Origin": ORIGIN}).status_code == 200


def test_display_fetches_are_noted_and_a_revoked_display_is_switched_off_at_its_next_tick(site):
    client = site.client("display")
    tick = callback_body(site.app, "refresh_figures", [1], ["us-epa-2024"])
    assert client.post("/_dash-update-component", json=tick, headers={"Origin": ORIGIN}).status_code == 200
    listed = site.app.server.test_client().get("/api/v1/displays", headers=site.api("admin")).get_json()
    wall = next(d for d in listed["displays"] if d["name"] == "Wall 1")
    assert wall["last_seen_at"] is not None and wall["revoked"] is False

    assert site.app.server.test_client().delete(f"/api/v1/displays/{wall['id']}",
                                                headers=site.api("admin")).status_code == 200
    refused = client.post("/_dash-update-component", json=tick, headers={"Origin": ORIGIN})
    assert refused.status_code == 403
    assert refused.get_json()["error"] == {"code": "display_revoked", "display": "Wall 1",
                                           "message": "This display has been switched off by the operations centre"}
    page = client.get("/wall")
    assert page.status_code == 403 and "switched off by the operations centre" in page.get_data(as_text=True)
    assert "Wall 1" in page.get_data(as_text=True) and "/login" not in page.get_data(as_text=True)


def test_displays_api_is_for_admins_and_validates_the_page_and_options(site):
    api = site.app.server.test_client()
    created = api.post("/api/v1/displays", json={"name": "Kiosk hall", "page": "/", "options": {"lang": "zh"}},
                       headers=site.api("admin"))
    assert created.status_code == 201
    body = created.get_json()
    assert body["url"].startswith("http://localhost/display/d_") and body["options"] == {"lang": "zh"}
    opened = api.get(body["url"].removeprefix("http://localhost"))
    assert opened.headers["Location"].endswith("&lang=zh") and opened.headers["Location"].startswith("/?display=")
    for bad in ({"name": "x", "page": "/admin/users"}, {"name": "", "page": "/wall"},
                {"name": "x", "page": "/wall", "options": {"rotate": "fast"}}, {"name": "x", "page": "/wall",
                                                                                  "options": {"colour": 1}}):
        answer = api.post("/api/v1/displays", json=bad, headers=site.api("admin"))
        assert answer.status_code == 422, bad
    by_manager = api.post("/api/v1/displays", json={"name": "x", "page": "/wall"}, headers=site.api("manager"))
    assert by_manager.status_code == 403
    assert site.app.server.test_client().get("/api/v1/displays").status_code == 401
    assert api.get("/api/v1/displays").status_code == 403  # this client opened a display link: a display now
    assert api.delete("/api/v1/displays/999999", headers=site.api("admin")).status_code == 404


def test_only_an_admin_manages_api_tokens(site):
    from services.auth import CreateToken, RevokeToken

    manager = Principal("manager-1", "manager", kind="user")
    with pytest.raises(Refused) as refused:
        CreateToken(site.runtime.engine, manager, "robot", "admin")()
    assert refused.value.status == 403
    with pytest.raises(Refused):
        RevokeToken(site.runtime.engine, manager, "admin-token")()
    assert site.app.server.test_client().get("/api/v1/units", headers=site.api("admin")).status_code == 200
    admin = Principal("admin-1", "admin", kind="user")
    assert RevokeToken(site.runtime.engine, admin, "admin-token")() == 1
    assert site.app.server.test_client().get("/api/v1/units", headers=site.api("admin")).status_code == 401


def test_a_display_screen_has_no_navigation_to_other_pages(site):
    layout = response_text(site.client("display").get("/_dash-layout"))
    assert "/dispatch" not in layout and "/alarms" not in layout


def test_a_display_may_read_the_api_with_its_cookie_but_never_write(site):
    client = site.client("display")
    assert client.get("/api/v1/units").status_code == 200
    answer = client.post("/api/v1/incidents", json={"category": "health", "lon": 24.94, "lat": 60.17},
                         headers={"Origin": ORIGIN})
    assert answer.status_code == 403


# ---------------------------------------------------------------- the role matrix

def _count(engine, table) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def _new_incident(site) -> int:
    data = IncidentInput("health", "heartAttack", 1, 24.9445, 60.1705, description="matrix")
    return CreateIncident(DispatchContext.of(site.runtime), SYSTEM, data)().id


def _units_free(site) -> None:
    with site.runtime.engine.begin() as connection:
        connection.execute(update(ResponseUnit).values(status="available", incident_id=None, command_id=None))


_alarm_serial = [0]


def _new_alarm(site) -> int:
    _alarm_serial[0] += 1
    trigger = Trigger(rule_id="water-alert", rule_name="Water level at alert level",
                      device_id=f"flood-{_alarm_serial[0]}", device_type="FloodMonitoring", device_name="gauge",
                      district="East", category="weather", sub_category="flood", severity="high",
                      description="level high", metric="water_level", value=1.3, threshold=1.2, lon=24.951,
                      lat=60.166, started_at=utcnow())
    return RaiseAlarm(trigger).validate().run(site.runtime.engine).alarm.id


def _alarm_ids(target):
    return [({"type": "alarms-action", "action": action, "index": target}, 1) for action in ("ack",)]


@dataclass(frozen=True)
class Case:
    permission: str
    setup: object  # site -> target
    callback: object  # (app, target) -> body, or None when no page offers it
    api: object  # target -> (method, path, json) or None
    done: object  # (site, target, before) -> bool


def _act(intent_action, target_of=lambda t: None, states=(None, None, 0)):
    """The console's intent on the incident shown (``t``); states: outcome, disposition, version."""
    return lambda app, t: callback_body(app, "act", [{"action": intent_action, "target": target_of(t), "incident": t,
                                                      "at": 1}], list(states))


CASES = [
    Case("incident.create", lambda s: _count(s.runtime.engine, Incident),
         lambda app, t: callback_body(app, "create", [1], ["health", "fall", 2, "matrix", "Testikatu 1", 60.17,
                                                           24.945, 0]),
         lambda t: ("POST", "/api/v1/incidents", {"category": "health", "lon": 24.945, "lat": 60.17}),
         lambda s, t: _count(s.runtime.engine, Incident) == t + 1),
    Case("incident.dispatch", lambda s: (_units_free(s), _new_incident(s))[1], _act("dispatch-top-button"),
         lambda t: ("POST", f"/api/v1/incidents/{t}/dispatch", {}),
         lambda s, t: get_incident(s.runtime.engine, t).status == "dispatched"),
    Case("incident.update", _new_incident, _act("dispatch-cancel-button"),
         lambda t: ("POST", f"/api/v1/incidents/{t}/cancel", None),
         lambda s, t: get_incident(s.runtime.engine, t).status == "cancelled"),
    Case("incident.update", _new_incident, None, lambda t: ("PATCH", f"/api/v1/incidents/{t}", {"priority": 4}),
         lambda s, t: get_incident(s.runtime.engine, t).priority == 4),
    Case("incident.resolve", _new_incident, _act("dispatch-resolve-submit", states=("false alarm", "false_alarm", 0)),
         lambda t: ("POST", f"/api/v1/incidents/{t}/resolve", {"outcome": "false alarm", "disposition": "false_alarm"}),
         lambda s, t: get_incident(s.runtime.engine, t).status == "closed"),
    Case("unit.return", lambda s: (_units_free(s), _new_incident(s))[1],
         lambda app, t: callback_body(app, "act", [{"action": "dispatch-return", "target": "amb-1", "incident": t,
                                                    "at": 1}], [None, None, 0]),
         lambda t: ("POST", "/api/v1/units/amb-1/return", None),
         lambda s, t: s.runtime.engine.connect().execute(select(ResponseUnit.status)).scalar_one() == "returning"),
    Case("alarm.acknowledge", _new_alarm,
         lambda app, t: callback_body(app, "row_action", [[({"type": "alarms-action", "action": "ack", "index": t},
                                                            1)]], [0]),
         lambda t: ("POST", f"/api/v1/alerts/{t}/ack", None),
         lambda s, t: get_alarm(s.runtime.engine, t).acknowledged),
    Case("alarm.clear", _new_alarm,
         lambda app, t: callback_body(app, "row_action", [[({"type": "alarms-action", "action": "clear", "index": t},
                                                            1)]], [0]),
         lambda t: ("POST", f"/api/v1/alerts/{t}/clear", None),
         lambda s, t: not get_alarm(s.runtime.engine, t).active),
    Case("alarm.assign", _new_alarm, lambda app, t: callback_body(app, "assign", [1], ["Aino", t, 0]),
         lambda t: ("POST", f"/api/v1/alerts/{t}/assign", {"assignee": "Aino"}),
         lambda s, t: get_alarm(s.runtime.engine, t).assignee == "Aino"),
    Case("alarm.comment", _new_alarm, lambda app, t: callback_body(app, "comment", [1], ["pump on its way", t, 0]),
         lambda t: ("POST", f"/api/v1/alerts/{t}/comments", {"text": "pump on its way"}),
         lambda s, t: any(e.kind == "commented" for e in __import__("services.alarms", fromlist=["x"])
                          .alarm_history(s.runtime.engine, t))),
    Case("alarm.open_incident", _new_alarm, lambda app, t: callback_body(app, "open_incident", [1], [t, 0]),
         lambda t: ("POST", f"/api/v1/alerts/{t}/incident", None),
         lambda s, t: get_alarm(s.runtime.engine, t).incident_id is not None),
    Case("rules.save", lambda s: s.runtime.settings.rules_file.read_text(),
         lambda app, t: callback_body(app, "validate_or_save", [0, 1], [t + "\n# saved by matrix\n" * 1, 0],
                                      triggered=1),
         None, lambda s, t: s.runtime.settings.rules_file.read_text() != t),
    Case("users.manage", lambda s: _count(s.runtime.engine, User),
         lambda app, t: callback_body(app, "change_users", [1, 0, 0, 0, 0],
                                      [f"new-user-{t}-{time.monotonic_ns()}", "manager", PASSWORD, None, None, None,
                                       0]),
         None, lambda s, t: _count(s.runtime.engine, User) == t + 1),
    Case("displays.manage", lambda s: _count(s.runtime.engine, Display),
         lambda app, t: callback_body(app, "change_displays", [1, []], ["Lobby", "/wall", "fi", 20, "cn", ["on"], 0]),
         lambda t: ("POST", "/api/v1/displays", {"name": "Lobby", "page": "/wall", "options": {"lang": "fi"}}),
         lambda s, t: _count(s.runtime.engine, Display) == t + 1),
]


def _expected(role: str, permission: str) -> str:
    if role == "anonymous":
        return "unauthorized"
    return "allowed" if role in PERMISSIONS[permission] else "forbidden"


def test_every_world_changing_command_answers_each_role_as_spec_section_6_says_on_page_and_api(site):
    clients = {role: site.client(role) for role in ROLES}
    failures = []
    for case in CASES:
        for role in ROLES:
            expected = _expected(role, case.permission)
            for channel in ("callback", "api"):
                make = case.callback if channel == "callback" else case.api
                if make is None:
                    continue
                target = case.setup(site)
                if channel == "callback":
                    answer = clients[role].post("/_dash-update-component", json=make(site.app, target),
                                                headers={"Origin": ORIGIN})
                    text = response_text(answer) if answer.is_json or answer.status_code == 204 else ""
                    got = ("unauthorized" if answer.status_code == 401 else
                           "forbidden" if answer.status_code == 200 and "Refused: the role" in text else
                           "allowed" if answer.status_code == 200 and "Refused" not in text else
                           f"HTTP {answer.status_code} {text[:200]}")
                else:
                    method, path, body = make(target)
                    answer = site.app.server.test_client().open(path, method=method, json=body,
                                                                headers=site.api(role))
                    got = {401: "unauthorized", 403: "forbidden"}.get(answer.status_code, "allowed" if
                                                                      answer.status_code in (200, 201) else
                                                                      f"HTTP {answer.status_code} {answer.data[:200]}")
                changed = case.done(site, target)
                if got != expected or changed != (expected == "allowed"):
                    failures.append(f"{case.permission} via {channel} as {role}: expected {expected}, got {got}, "
                                    f"changed={changed}")
    assert not failures, "\n".join(failures)


def test_a_replayed_dispatch_callback_without_a_session_changes_nothing_and_gets_401(site):
    _units_free(site)
    incident_id = _new_incident(site)
    body = callback_body(site.app, "act", [{"action": "dispatch-top-button", "target": None, "incident": incident_id,
                                            "at": 1}], [None, None, 0])
    replay = site.app.server.test_client().post("/_dash-update-component", json=body, headers={"Origin": ORIGIN})
    assert replay.status_code == 401 and replay.get_json()["error"]["code"] == "unauthorized"
    assert get_incident(site.runtime.engine, incident_id).status == "new"
    signed_out = site.client("dispatcher")
    assert signed_out.post("/logout", headers={"Origin": ORIGIN}).status_code == 303
    again = signed_out.post("/_dash-update-component", json=body, headers={"Origin": ORIGIN})
    assert again.status_code == 401 and get_incident(site.runtime.engine, incident_id).status == "new"


def test_the_users_page_changes_a_role_disables_and_resets_a_password_with_audit(site):
    admin = site.client("admin")

    def press(button: int, picked: str, role=None, password=None):
        values = [0, 0, 0, 0, 0]
        values[button] = 1
        body = callback_body(site.app, "change_users", values, [None, "dispatcher", None, picked, role, password, 0],
                             triggered=button)
        return response_text(admin.post("/_dash-update-component", json=body, headers={"Origin": ORIGIN}))

    assert "manager-1 is now dispatcher" in press(1, "manager-1", role="dispatcher")
    assert sign_in(site.runtime.engine, "manager-1", PASSWORD, "10.2.2.2").role == "dispatcher"
    assert "a password has at least 10 characters" in press(4, "manager-1", password="short")
    assert "New password set for manager-1" in press(4, "manager-1", password="another long phrase")
    assert sign_in(site.runtime.engine, "manager-1", "another long phrase", "10.2.2.2").name == "manager-1"
    assert "manager-1 disabled" in press(2, "manager-1")
    with pytest.raises(Refused, match="disabled"):
        sign_in(site.runtime.engine, "manager-1", "another long phrase", "10.2.2.2")
    assert "only active admin" in press(2, "admin-1")
    actions = [e.action for e in _audit(site.runtime.engine, "user.role") + _audit(site.runtime.engine, "user.password")
               + _audit(site.runtime.engine, "user.disable")]
    assert sorted(actions) == ["user.disable", "user.password", "user.role"]
