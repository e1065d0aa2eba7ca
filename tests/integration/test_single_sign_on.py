"""Single sign-on with a city's OpenID Connect provider (issue 10, point 1), on SQLite and PostgreSQL:
the real authorization-code flow against a real provider process (the oidc-provider-mock package),
the role from a claim, refusal without one, the audit log, sessions as for password users."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from urllib.parse import quote, urlsplit

import pytest
import requests
from sqlalchemy import select

from services.access.principal import Principal
from services.access.users import CreateUser, ResetPassword, list_users
from services.commands import Refused
from services.models import AuditEntry
from services.runtime import open_runtime
from tests.brokers import free_port, wait_until
from tests.integration.support import make_settings

if importlib.util.find_spec("oidc_provider_mock") is None:
    pytest.skip("the provider is the test extra's oidc-provider-mock: pip install -e '.[test]'", allow_module_level=True)

SYSTEM = Principal.system("test")


@pytest.fixture(scope="module")
def provider():
    """A real OpenID Connect provider in its own process; its issuer URL."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    issuer = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        try:
            return requests.get(f"{issuer}/.well-known/openid-configuration", timeout=1).ok
        except requests.ConnectionError:
            return process.poll() is not None  # died: fail below instead of waiting
    try:
        wait_until(answering, 20, interval=0.1, message="the OpenID Connect provider to answer")
        assert process.poll() is None, "the OpenID Connect provider did not start"
        yield issuer
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def city(database_url, tiny_city, tmp_path, broker, provider):
    runtime = open_runtime(make_settings(database_url, broker, tiny_city, data_dir=tmp_path, oidc_issuer=provider,
                                         oidc_client_id="cityops", oidc_client_secret="client-secret-4711",
                                         oidc_name="Helsinki ID", oidc_role_claim="groups",
                                         oidc_role_map={"ops-dispatch": "dispatcher", "ops-admin": "admin",
                                                        "ops-lead": "manager"}))
    from app import create_app

    yield runtime, create_app(runtime)
    runtime.engine.dispose()


def _person(provider: str, sub: str, **claims) -> None:
    """The provider's record of a person and the claims it will vouch for."""
    answer = requests.put(f"{provider}/users/{quote(sub)}", json=claims, timeout=5)
    assert answer.status_code == 204, answer.text


def _sign_in_with_provider(client, sub: str, next_path: str = "/"):
    """The browser's trip: CityOps -> the provider's authorize form (the person picks ``sub``) -> back."""
    started = client.get(f"/login/oidc?next={quote(next_path)}")
    assert started.status_code == 302, started.get_data(as_text=True)
    authorize_url = started.headers["Location"]
    authorized = requests.post(authorize_url, data={"sub": sub}, allow_redirects=False, timeout=5)
    assert authorized.status_code == 302, authorized.text
    back = urlsplit(authorized.headers["Location"])
    assert back.path == "/login/oidc/callback"
    return client.get(f"{back.path}?{back.query}")


def _audit(engine, action: str) -> list:
    with engine.connect() as connection:
        return list(connection.execute(select(AuditEntry).where(AuditEntry.action == action)))


def test_sign_in_page_offers_the_city_provider_by_name(city):
    _runtime, app = city
    page = app.server.test_client().get("/login?next=/dispatch").get_data(as_text=True)
    assert "Sign in with Helsinki ID" in page and 'href="/login/oidc?next=%2Fdispatch"' in page


def test_provider_sign_in_creates_an_external_user_with_the_claimed_role_and_a_session(city, provider):
    runtime, app = city
    _person(provider, "subject-ann", preferred_username="ann.virtanen", email="ann@city.example",
            groups=["staff", "ops-dispatch"])
    client = app.server.test_client()
    answer = _sign_in_with_provider(client, "subject-ann", "/dispatch")
    assert answer.status_code == 303 and answer.headers["Location"] == "/dispatch", answer.get_data(as_text=True)
    cookie = next(c for c in answer.headers.getlist("Set-Cookie") if c.startswith("cityops_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/dispatch").status_code == 200
    assert client.get("/admin/users").status_code == 403  # a dispatcher, as the claim says
    (user,) = [u for u in list_users(runtime.engine) if u.name == "ann.virtanen"]
    assert user.role == "dispatcher" and user.external and user.last_sign_in_at is not None
    signin = _audit(runtime.engine, "signin")
    assert [(e.actor, e.after["via"]) for e in signin] == [("ann.virtanen", "oidc")]
    with pytest.raises(Refused) as refused:  # no password to reset: the provider signs them in
        ResetPassword(runtime.engine, SYSTEM, "ann.virtanen", "a new password 123")()
    assert refused.value.code == "external"
    assert client.post("/logout", headers={"Origin": "http://localhost"}).status_code == 303
    assert client.get("/dispatch").status_code == 302
    assert [e.actor for e in _audit(runtime.engine, "signout")] == ["ann.virtanen"]


def test_a_changed_claim_changes_the_role_at_the_next_sign_in_and_ends_older_sessions(city, provider):
    runtime, app = city
    _person(provider, "subject-bo", preferred_username="bo", groups="ops-dispatch")
    first = app.server.test_client()
    assert _sign_in_with_provider(first, "subject-bo").status_code == 303
    _person(provider, "subject-bo", preferred_username="bo", groups=["ops-admin", "ops-lead"])
    second = app.server.test_client()
    assert _sign_in_with_provider(second, "subject-bo").status_code == 303
    assert [(u.name, u.role) for u in list_users(runtime.engine)] == [("bo", "admin")]  # the strongest granted
    assert second.get("/admin/users").status_code == 200
    assert first.get("/dispatch").status_code == 302  # the session of the old role ended
    assert [(e.before, e.after) for e in _audit(runtime.engine, "user.role")] == [
        ({"role": "dispatcher"}, {"role": "admin"})]


def test_provider_sign_in_without_a_recognised_role_is_refused_with_a_reason_and_audited(city, provider):
    runtime, app = city
    _person(provider, "subject-cy", preferred_username="cy", groups=["library-staff"])
    _person(provider, "subject-di", preferred_username="di")
    for sub, said in (("subject-cy", "it says 'library-staff'"), ("subject-di", "it has no such claim")):
        client = app.server.test_client()
        answer = _sign_in_with_provider(client, sub)
        page = answer.get_data(as_text=True)
        assert answer.status_code == 403 and "gave no CityOps role in the claim &#39;groups&#39;" in page, page
        assert said.replace("'", "&#39;") in page
        assert client.get("/").status_code == 302  # no session
    assert list_users(runtime.engine) == []
    failures = _audit(runtime.engine, "signin.failure")
    assert [(e.target, e.after["via"]) for e in failures] == [("user:cy", "oidc"), ("user:di", "oidc")]


def test_provider_sign_in_never_takes_over_a_local_account_of_the_same_name(city, provider):
    runtime, app = city
    CreateUser(runtime.engine, SYSTEM, "eve", "manager", "correct horse battery")()
    _person(provider, "subject-eve", preferred_username="eve", groups=["ops-admin"])
    answer = _sign_in_with_provider(app.server.test_client(), "subject-eve")
    assert answer.status_code == 409 and "exists already" in answer.get_data(as_text=True)
    assert [(u.name, u.role, u.external) for u in list_users(runtime.engine)] == [("eve", "manager", False)]


def test_an_answer_the_provider_denied_or_a_replayed_callback_signs_nobody_in(city, provider):
    runtime, app = city
    client = app.server.test_client()
    started = client.get("/login/oidc")
    denied = requests.post(started.headers["Location"], data={"action": "deny"}, allow_redirects=False, timeout=5)
    back = urlsplit(denied.headers["Location"])
    answer = client.get(f"{back.path}?{back.query}")
    assert answer.status_code == 401, answer.get_data(as_text=True)
    assert "did not complete (The resource owner or authorization server denied" in answer.get_data(as_text=True)
    _person(provider, "subject-fa", preferred_username="fa", groups=["ops-dispatch"])
    assert _sign_in_with_provider(client, "subject-fa").status_code == 303
    replay = app.server.test_client()  # another browser replaying the callback URL: no state of its own
    started = replay.get("/login/oidc")  # (it has started a sign-in, so the session holds another state)
    stolen = client.get("/login/oidc")
    authorized = requests.post(stolen.headers["Location"], data={"sub": "subject-fa"}, allow_redirects=False,
                               timeout=5)
    back = urlsplit(authorized.headers["Location"])
    replayed = replay.get(f"{back.path}?{back.query}")
    assert replayed.status_code == 401 and "belongs to no sign-in started in this browser" in replayed.get_data(as_text=True)
    assert replay.get("/dispatch").status_code == 302
