"""Who may publish and read what on the broker: Mosquitto accounts (password_file) and their ACL.

The shipped ACL (deploy/mosquitto/cityops.acl) gives every account, through ``pattern`` lines,
only its own device topics: an account's user name is its device (or gateway, or vehicle) id.
Accounts with another role get a ``user`` block of their own in the ACL file:

  cityops    the ingest and the web: reads everything under the root; alone publishes unit
             commands, alerts and KPIs
  hotline    hotline and citizen apps: publish service requests on <root>/reports and the citizen's
             satisfaction on <root>/requests/<id>/satisfaction; read the requests' status updates
  simulator  the demo city's simulator: publishes for every device and vehicle and reads their
             commands (a stand-in for the whole city; never give it to a real device)

``manage.py mqtt-user add NAME --role ROLE`` writes both files (passwords hashed by Mosquitto's
own mosquitto_passwd); send the broker SIGHUP afterwards to reload them.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from services.config import PROJECT_ROOT

SHIPPED_ACL = PROJECT_ROOT / "deploy" / "mosquitto" / "cityops.acl"
SHIPPED_ROOT = "city"  # the topic root the shipped ACL is written for

# what each role other than "device" may do, as ACL topic lines below its user line
ROLE_TOPICS: dict[str, tuple[str, ...]] = {
    "cityops": ("read {root}/#", "write {root}/units/+/cmd", "write {root}/alerts/#", "write {root}/kpis/#",
                "write {root}/requests/+/status",
                "write {root}/sim/drill"),
    "hotline": ("write {root}/reports", "write {root}/requests/+/satisfaction", "read {root}/requests/+/status"),
    "simulator": ("write {root}/telemetry/#", "write {root}/units/+/state", "write {root}/units/+/cmdexe",
                  "write {root}/reports", "write {root}/requests/+/satisfaction", "read {root}/units/+/cmd",
                  "read {root}/sim/drill"),
}
ROLES = ("device", *ROLE_TOPICS)
# Mosquitto does not substitute %u for names with wildcards or slashes, and ':' ends a name in
# the password file; a device id is used in topics, so keep to plain characters.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")


class MqttAccessError(ValueError):
    """A request about broker accounts that cannot be carried out; the message says why."""


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise MqttAccessError(f"{name!r} cannot be an MQTT account: use letters, digits and . _ @ - "
                              "(it is the device id in the account's topics)")
    return name


def acl_for_root(root: str, acl: str | None = None) -> str:
    """The shipped ACL (or ``acl``) rewritten for another topic root than ``city``."""
    text = SHIPPED_ACL.read_text() if acl is None else acl
    if root == SHIPPED_ROOT:
        return text
    return re.sub(rf"^((?:pattern|topic) (?:read |write |readwrite )?){SHIPPED_ROOT}/", rf"\g<1>{root}/",
                  text, flags=re.MULTILINE)


def user_block(name: str, role: str, root: str) -> str:
    """The ACL lines of an account with a role other than device."""
    if role not in ROLE_TOPICS:
        raise MqttAccessError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    lines = [f"user {check_name(name)}", *(f"topic {line.format(root=root)}" for line in ROLE_TOPICS[role])]
    return "\n".join(lines) + "\n"


def _remove_user(acl: str, name: str) -> tuple[list[str], int | None]:
    """The ACL's lines without ``name``'s user block (its lines up to the next user or pattern
    line), and where the block was."""
    kept, skipping, position = [], False, None
    for line in acl.splitlines(keepends=True):
        words = line.split()
        if words[:1] == ["user"]:
            skipping = words[1:] == [name]
            if skipping and position is None:
                position = len(kept)
        elif words[:1] == ["pattern"]:  # pattern lines belong to no user
            skipping = False
        if not skipping:
            kept.append(line if line.endswith("\n") else line + "\n")
    return kept, position


def without_user(acl: str, name: str) -> str:
    return "".join(_remove_user(acl, name)[0]).rstrip("\n") + "\n"


def with_user(acl: str, name: str, role: str, root: str) -> str:
    """The ACL text giving ``name`` the ``role`` and no other (a device needs no block of its
    own); an account's block stays where it was."""
    lines, position = _remove_user(acl, check_name(name))
    if role == "device":
        return "".join(lines)
    block = user_block(name, role, root)
    if position is None:
        return "".join(lines).rstrip("\n") + "\n\n" + block
    rest = lines[position:]
    return "".join(lines[:position]) + block + ("\n" if rest and rest[0].strip() else "") + "".join(rest)


def set_password(password_file: Path, name: str, password: str) -> None:
    """Adds or replaces the account in Mosquitto's password file (hashed by mosquitto_passwd)."""
    check_name(name)
    if not password or "\n" in password:
        raise MqttAccessError("the password must be one non-empty line")
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        raise MqttAccessError("mosquitto_passwd is not installed (Debian: apt install mosquitto)")
    create = [] if password_file.exists() else ["-c"]
    done = subprocess.run([tool, *create, str(password_file), name], input=f"{password}\n{password}\n",
                          capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise MqttAccessError(f"mosquitto_passwd failed: {(done.stderr or done.stdout).strip()}")


def remove_password(password_file: Path, name: str) -> bool:
    """Removes the account from the password file; False when it was not there."""
    if not password_file.exists():
        return False
    lines = password_file.read_text().splitlines(keepends=True)
    kept = [line for line in lines if line.split(":", 1)[0] != name]
    password_file.write_text("".join(kept))
    return len(kept) < len(lines)


def add_account(password_file: Path, acl_file: Path, name: str, role: str, password: str, root: str) -> None:
    """Creates or updates an account: its password, and its role in the ACL file (created from
    the shipped ACL, for ``root``, when it does not exist yet)."""
    if role not in ROLES:
        raise MqttAccessError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    acl = acl_file.read_text() if acl_file.exists() else acl_for_root(root)
    updated = with_user(acl, name, role, root)
    set_password(password_file, name, password)
    acl_file.write_text(updated)


def remove_account(password_file: Path, acl_file: Path, name: str) -> bool:
    removed = remove_password(password_file, name)
    if acl_file.exists():
        acl = acl_file.read_text()
        updated = without_user(acl, name)
        if updated != acl:
            acl_file.write_text(updated)
            removed = True
    return removed
