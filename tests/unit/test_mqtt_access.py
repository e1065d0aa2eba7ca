"""Broker accounts and their ACL (services/mqtt_access.py, manage.py mqtt-user)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from services.config import PROJECT_ROOT
from services.mqtt_access import MqttAccessError, acl_for_root, with_user, without_user


def user_lines(acl: str, name: str) -> list[str]:
    lines = acl.splitlines()
    start = lines.index(f"user {name}")
    block = []
    for line in lines[start + 1:]:
        if not line.startswith("topic "):
            break
        block.append(line)
    return block


def test_shipped_acl_lets_devices_publish_only_under_their_own_name_and_cityops_command():
    acl = acl_for_root("city")
    patterns = [line for line in acl.splitlines() if line.startswith("pattern ")]
    assert patterns == ["pattern write city/telemetry/%u", "pattern write city/units/%u/state",
                        "pattern write city/units/%u/cmdexe", "pattern read city/units/%u/cmd"]
    assert user_lines(acl, "cityops") == ["topic read city/#", "topic write city/units/+/cmd",
                                          "topic write city/alerts/#", "topic write city/kpis/#",
                                          "topic write city/requests/+/status", "topic write city/sim/drill"]


def test_acl_follows_the_topic_root():
    acl = acl_for_root("metro/ops")
    assert "pattern write metro/ops/telemetry/%u" in acl and "topic read metro/ops/#" in acl
    assert " city/" not in acl


def test_roles_get_their_block_and_a_role_change_replaces_it_in_place():
    acl = with_user(acl_for_root("city"), "hotline-app", "hotline", "city")
    acl = with_user(acl, "demo-sim", "simulator", "city")
    assert user_lines(acl, "hotline-app") == ["topic write city/reports", "topic write city/requests/+/satisfaction",
                                            "topic read city/requests/+/status"]
    assert "topic read city/units/+/cmd" in user_lines(acl, "demo-sim")
    changed = with_user(acl, "hotline-app", "cityops", "city")
    assert user_lines(changed, "hotline-app")[0] == "topic read city/#"
    assert changed.index("user hotline-app") < changed.index("user demo-sim")  # stays where it was
    assert changed.count("user hotline-app") == 1
    as_device = with_user(changed, "hotline-app", "device", "city")
    assert "user hotline-app" not in as_device and user_lines(as_device, "demo-sim")
    remaining = [line for line in without_user(as_device, "demo-sim").splitlines() if line.startswith("user ")]
    assert remaining == ["user cityops"]
    assert with_user(acl_for_root("city"), "cityops", "cityops", "city") == acl_for_root("city")


@pytest.mark.parametrize("name", ["a/b", "+", "sensor#1", "x:y", "", " spaced"])
def test_names_that_would_escape_their_topics_are_refused(name):
    with pytest.raises(MqttAccessError):
        with_user(acl_for_root("city"), name, "device", "city")


@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="needs mosquitto_passwd (apt install mosquitto)")
def test_manage_mqtt_user_writes_a_hashed_password_and_the_role(tmp_path: Path):
    files = ["--password-file", str(tmp_path / "passwd"), "--acl-file", str(tmp_path / "acl")]
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")},
           "CITYOPS_TOPIC_ROOT": "metro", "CITYOPS_DATA_DIR": str(tmp_path)}

    def manage(*args: str, password: str = "") -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "manage.py", "mqtt-user", *args, *files], input=password,
                              cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60)

    assert manage("add", "traffic-7", "--password-stdin", password="s3cret-pass\n").returncode == 0
    done = manage("add", "ops-hotline", "--role", "hotline", "--password-stdin", password="other-pass\n")
    assert done.returncode == 0, done.stderr
    passwd = (tmp_path / "passwd").read_text()
    assert [line.split(":")[0] for line in passwd.splitlines()] == ["traffic-7", "ops-hotline"]
    assert "$7$" in passwd and "s3cret-pass" not in passwd
    acl = (tmp_path / "acl").read_text()
    assert "pattern write metro/telemetry/%u" in acl and user_lines(acl, "ops-hotline")[:2] == [
        "topic write metro/reports", "topic write metro/requests/+/satisfaction"]

    refused = manage("add", "a/b", "--password-stdin", password="x\n")
    assert refused.returncode != 0 and "cannot be an MQTT account" in refused.stderr
    assert manage("remove", "ops-hotline").returncode == 0
    assert "ops-hotline" not in (tmp_path / "passwd").read_text()
    assert "user ops-hotline" not in (tmp_path / "acl").read_text()
