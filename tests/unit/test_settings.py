"""The typed settings object: read from CITYOPS_* once, secrets never shown, bad values named."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from services.config import PROJECT_ROOT, Settings, SettingsError
from services.db import make_engine, migrate

SECRETS = {
    "CITYOPS_MQTT_URL": "mqtts://cityops:mqtt-pass-4711@broker.example:8883",
    "CITYOPS_SECRET_KEY": "session-key-4711",
    "CITYOPS_ADMIN_TOKEN": "admin-token-4711",
    "CITYOPS_REDIS_URL": "redis://:redis-pass-4711@cache.example:6379/0",
    "CITYOPS_DATABASE_URL": "postgresql+psycopg://cityops:db-pass-4711@db.example/cityops",
    "CITYOPS_SIM_MQTT_URL": "mqtt://simulator:sim-pass-4711@broker.example:1883",
    "CITYOPS_OIDC_ISSUER": "https://sso.city.example/realms/city",
    "CITYOPS_OIDC_CLIENT_ID": "cityops",
    "CITYOPS_OIDC_CLIENT_SECRET": "oidc-secret-4711",
}
SECRET_WORDS = ("mqtt-pass-4711", "session-key-4711", "admin-token-4711", "redis-pass-4711", "db-pass-4711",
                "sim-pass-4711", "oidc-secret-4711")


def assert_no_secret(text: str) -> None:
    leaked = [word for word in SECRET_WORDS if word in text]
    assert not leaked, f"secrets shown: {leaked} in {text!r}"


def test_repr_and_str_of_settings_show_no_secret():
    settings = Settings.from_env(SECRETS)
    assert_no_secret(repr(settings))
    assert_no_secret(str(settings))
    assert_no_secret(repr(settings.mqtt) + str(settings.mqtt) + repr(settings.simulator_mqtt))
    assert "cityops:***@broker.example:8883" in repr(settings)  # where it connects stays readable
    # the values themselves are there for the code that needs them
    assert settings.mqtt.password == "mqtt-pass-4711"
    assert settings.simulator_mqtt.username == "simulator"
    assert settings.admin_token_value() == "admin-token-4711"
    assert settings.resolved_secret_key() == "session-key-4711"
    assert make_url(settings.database_url).password == "db-pass-4711"
    assert settings.single_sign_on and settings.oidc_client_secret.get_secret_value() == "oidc-secret-4711"


def test_defaults_are_those_of_the_spec():
    settings = Settings.from_env({})
    assert (settings.host, settings.port, settings.mqtt_url, settings.topic_root) == (
        "127.0.0.1", 8050, "mqtt://127.0.0.1:1883", "city")
    assert settings.demo is False and settings.admin_token is None and settings.redis_url is None
    assert settings.data_dir == PROJECT_ROOT / "data"
    assert settings.database_url == f"sqlite:///{PROJECT_ROOT / 'data' / 'cityops.db'}"
    assert settings.mqtt.tls is False and settings.mqtt.tls_context() is None


def test_a_given_mapping_is_read_and_the_process_environment_ignored(monkeypatch):
    monkeypatch.setenv("CITYOPS_PORT", "9999")
    monkeypatch.setenv("CITYOPS_TOPIC_ROOT", "elsewhere")
    assert Settings.from_env().port == 9999
    settings = Settings.from_env({"CITYOPS_TOPIC_ROOT": "/metro/", "CITYOPS_DEMO": "yes", "CITYOPS_CITY": ""},
                                 retention_days=2)
    assert (settings.port, settings.topic_root, settings.demo, settings.city, settings.retention_days) == (
        8050, "metro", True, "helsinki", 2)


@pytest.mark.parametrize("env, variable", [
    ({"CITYOPS_PORT": "eighty"}, "CITYOPS_PORT"),
    ({"CITYOPS_PORT": "70000"}, "CITYOPS_PORT"),
    ({"CITYOPS_DEMO": "perhaps"}, "CITYOPS_DEMO"),
    ({"CITYOPS_RETENTION_DAYS": "-3"}, "CITYOPS_RETENTION_DAYS"),
    ({"CITYOPS_SIM_BACKFILL_MINUTES": "-1"}, "CITYOPS_SIM_BACKFILL_MINUTES"),
    ({"CITYOPS_MQTT_URL": "http://cityops:mqtt-pass-4711@broker.example"}, "CITYOPS_MQTT_URL"),
    ({"CITYOPS_MQTT_URL": "mqtts://cityops:mqtt-pass-4711@broker.example:88x3"}, "CITYOPS_MQTT_URL"),
    ({"CITYOPS_MQTT_CA_FILE": "/nonexistent/ca.pem"}, "CITYOPS_MQTT_CA_FILE"),
    ({"CITYOPS_TOPIC_ROOT": "city/#"}, "CITYOPS_TOPIC_ROOT"),
    ({"CITYOPS_OIDC_CLIENT_ID": "cityops", "CITYOPS_OIDC_CLIENT_SECRET": "oidc-secret-4711"}, "CITYOPS_OIDC_ISSUER"),
    ({"CITYOPS_OIDC_ISSUER": "https://sso.city.example"}, "CITYOPS_OIDC_CLIENT_ID"),
    ({"CITYOPS_OIDC_ISSUER": "sso.city.example", "CITYOPS_OIDC_CLIENT_ID": "c"}, "CITYOPS_OIDC_ISSUER"),
    ({**SECRETS, "CITYOPS_OIDC_ROLE_MAP": '{"ops": "superuser"}'}, "CITYOPS_OIDC_ROLE_MAP"),
])
def test_bad_value_is_refused_naming_the_variable_without_its_secret(env, variable):
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(env)
    assert variable in str(refused.value)
    assert_no_secret(str(refused.value))


def test_data_dir_moves_the_sqlite_database(tmp_path: Path):
    first, second = tmp_path / "first", tmp_path / "second"
    for data_dir in (first, second):
        settings = Settings.from_env({"CITYOPS_DATA_DIR": str(data_dir)})
        engine = make_engine(settings.database_url)
        migrate(engine)
        engine.dispose()
    assert (first / "cityops.db").is_file() and (second / "cityops.db").is_file()
    explicit = Settings.from_env({"CITYOPS_DATA_DIR": str(first), "CITYOPS_DATABASE_URL": "sqlite:///elsewhere.db"})
    assert explicit.database_url == "sqlite:///elsewhere.db"


def test_serve_runs_the_demo_unless_told_otherwise(monkeypatch):
    import manage

    monkeypatch.delenv("CITYOPS_DEMO", raising=False)
    assert manage._settings(demo_default=True).demo is True
    assert manage._settings(demo_default=False).demo is False
    monkeypatch.setenv("CITYOPS_DEMO", "0")
    assert manage._settings(demo_default=True).demo is False


def test_start_up_log_and_output_show_no_secret(database_url, tmp_path: Path):
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":  # trust authentication: the password is sent, then ignored
        database_url = url.set(password="db-pass-4711").render_as_string(hide_password=False)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}, **SECRETS,
           "CITYOPS_DATABASE_URL": database_url, "CITYOPS_DATA_DIR": str(tmp_path), "CITYOPS_LOG_LEVEL": "DEBUG"}
    done = subprocess.run([sys.executable, "manage.py", "migrate"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "settings: Settings(" in done.stderr and "is up to date" in done.stdout
    assert_no_secret(done.stdout + done.stderr)


def test_bad_setting_stops_the_command_with_a_clear_message(tmp_path: Path):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")},
           "CITYOPS_PORT": "eighty", "CITYOPS_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "manage.py", "migrate"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "CityOps cannot start: invalid configuration: CITYOPS_PORT: Input should be a valid integer" in done.stderr
    assert "Traceback" not in done.stderr

