"""Refusals speak the reader's language (issue 14): every message given to ``Refused`` (and to the API's own
``ApiError``, and every reason the ingest keeps for a message it could not use, ``Rejected`` and ``UnitError``)
goes through the catalogue (``_()``, or ``say()`` for a text kept and shown later). The pseudo-locale walk of the screens cannot see an English reason
interpolated into a translated "Refused: {reason}", so this reads the code itself."""
from __future__ import annotations

import ast
from pathlib import Path

from services.config import PROJECT_ROOT

SOURCES = ("services", "api", "web", "pages", "components")
# where each constructor takes its message: Refused(code, message), Refused.invalid(message),
# ApiError(status, code, message)
MESSAGE_AT = {"Refused": 1, "ApiError": 2, "Rejected": 1, "UnitError": 0, "forbidden": 0, "not_found": 0,
              "invalid": 0, "conflict": 1}
CONSTRUCTORS = ("Refused", "ApiError", "Rejected", "UnitError")


def _message_argument(call: ast.Call) -> ast.expr | None:
    function = call.func
    if isinstance(function, ast.Name) and function.id in CONSTRUCTORS:
        position = MESSAGE_AT[function.id]
    elif (isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name)
          and function.value.id == "Refused" and function.attr in MESSAGE_AT):
        position = MESSAGE_AT[function.attr]
    else:
        return None
    if len(call.args) > position:
        return call.args[position]
    return next((keyword.value for keyword in call.keywords if keyword.arg == "message"), None)


def _written_in_english(node: ast.expr | None) -> bool:
    """A literal sentence: a string, an f-string, "a" + b, "...".format(...) or "...' % x (not ``_(...)``)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return _written_in_english(node.left) or _written_in_english(node.right)
    if isinstance(node, ast.IfExp):
        return _written_in_english(node.body) or _written_in_english(node.orelse)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return _written_in_english(node.func.value)
    return False


def untranslated_refusals(source: str, filename: str = "<code>") -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Call):
            message = _message_argument(node)
            if _written_in_english(message):
                found.append(f"{filename}:{node.lineno}: {ast.unparse(message)[:80]}")
            if (isinstance(node.func, ast.Name) and node.func.id in ("_", "say") and node.args
                    and isinstance(node.args[0], ast.JoinedStr)):
                found.append(f"{filename}:{node.lineno}: an f-string as a msgid: {ast.unparse(node.args[0])[:80]}")
    return found


def test_the_scan_finds_a_bare_or_formatted_refusal_message():
    code = '''
raise Refused.not_found(f"no alarm {alarm_id}", "id")
raise Refused("unauthorized", "sign in first", 401)
raise Refused.conflict("changed", "incident " + str(n) + " changed")
raise ApiError(400, "invalid_value", "{} must be an integer".format(name), name)
raise Refused.invalid(message=_(f"a note of {n}"))
raise Refused.not_found(_("no alarm {id}", id=alarm_id), "id")
raise Refused.conflict("busy", reason)
raise Rejected("invalid_value", f"{name} must be a number")
raise Rejected("invalid_value", say(f"{name} must be a number"))
raise Rejected("invalid_value", say("{name} must be a number", name=name))
raise UnitError("unit code unknown")
'''
    assert len(untranslated_refusals(code)) == 8


def test_every_refusal_message_comes_from_the_catalogue():
    found = []
    for folder in SOURCES:
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            found += untranslated_refusals(path.read_text(encoding="utf-8"), str(Path(path).relative_to(PROJECT_ROOT)))
    assert not found, f"{len(found)} refusal messages not wrapped in _(): {found[:10]}"
