"""The command line an administrator uses for people (manage.py user ...), and the first run's
instructions, on SQLite and PostgreSQL."""
from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from services.access.users import sign_in
from services.commands import Refused
from services.config import PROJECT_ROOT, Settings
from services.db import make_engine

PASSWORD = "correct horse battery"


def manage(database_url: str, tmp_path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "CITYOPS_DATABASE_URL": database_url, "CITYOPS_DATA_DIR": str(tmp_path)}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=PROJECT_ROOT, env=env, input=stdin, text=True,
                          capture_output=True, timeout=120)


def test_user_create_passwd_and_disable_from_the_command_line(database_url, tmp_path):
    created = manage(database_url, tmp_path, "user", "create", "ops-admin", "--role", "admin", "--password-stdin",
                     stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    assert "user ops-admin created with the role admin" in created.stdout
    engine = make_engine(database_url)
    assert sign_in(engine, "ops-admin", PASSWORD, "127.0.0.1").role == "admin"

    changed = manage(database_url, tmp_path, "user", "passwd", "ops-admin", "--password-stdin",
                     stdin="a brand new passphrase\n")
    assert changed.returncode == 0, changed.stderr
    assert sign_in(engine, "ops-admin", "a brand new passphrase", "127.0.0.1").name == "ops-admin"

    second = manage(database_url, tmp_path, "user", "create", "ops-2", "--role", "admin", "--password-stdin",
                    stdin=PASSWORD + "\n")
    assert second.returncode == 0, second.stderr
    disabled = manage(database_url, tmp_path, "user", "disable", "ops-admin")
    assert disabled.returncode == 0, disabled.stderr
    with pytest.raises(Refused, match="disabled"):
        sign_in(engine, "ops-admin", "a brand new passphrase", "127.0.0.1")


def test_user_create_refuses_a_short_password_and_an_unknown_role_and_changes_nothing(database_url, tmp_path):
    short = manage(database_url, tmp_path, "user", "create", "ops", "--role", "dispatcher", "--password-stdin",
                   stdin="short\n")
    assert short.returncode != 0 and "at least 10 characters" in short.stderr
    unknown = manage(database_url, tmp_path, "user", "create", "ops", "--role", "wizard", "--password-stdin",
                     stdin=PASSWORD + "\n")
    assert unknown.returncode != 0 and "invalid choice" in unknown.stderr
    with pytest.raises(Refused):
        sign_in(make_engine(database_url), "ops", "short", "127.0.0.1")


def test_the_first_run_says_exactly_how_to_create_the_first_administrator(database_url, tiny_city, tmp_path, caplog):
    from app import create_app
    from services.runtime import open_runtime

    runtime = open_runtime(Settings.from_env({}, database_url=database_url, city=str(tiny_city), data_dir=tmp_path))
    with caplog.at_level(logging.WARNING, logger="cityops"):
        create_app(runtime)
    assert "python manage.py user create NAME --role admin" in caplog.text


def test_the_demo_makes_an_administrator_once_and_says_its_password(database_url, tiny_city, tmp_path, caplog):
    import manage
    from app import create_app
    from services.access.users import user_count
    from services.runtime import open_runtime

    runtime = open_runtime(Settings.from_env({}, database_url=database_url, city=str(tiny_city), data_dir=tmp_path))
    with caplog.at_level(logging.WARNING, logger="cityops"):
        password = manage.create_demo_administrator(runtime)
    assert password and f"as 'admin' with the password {password}" in caplog.text
    app = create_app(runtime)
    answer = app.server.test_client().post("/login", data={"name": "admin", "password": password, "next": "/"},
                                           headers={"Origin": "http://localhost"})
    assert answer.status_code == 303
    assert manage.create_demo_administrator(runtime) is None and user_count(runtime.engine) == 1  # once
    runtime.engine.dispose()
