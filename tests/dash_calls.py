"""The request body a browser sends to /_dash-update-component for a page callback, built from the
app's own callback map (so a test posts exactly what the real page would)."""
from __future__ import annotations

import json


def _name(spec: dict) -> str | None:
    function = spec.get("callback")
    function = getattr(function, "__wrapped__", function)
    return getattr(function, "__name__", None)  # None: a clientside callback


def _spec(app, function_name: str) -> tuple[str, dict]:
    if not app.callback_map:
        app.server.test_client().get("/login")  # Dash gathers the pages' callbacks on its first request
    found = [(key, spec) for key, spec in app.callback_map.items() if _name(spec) == function_name]
    assert len(found) == 1, f"{len(found)} callbacks named {function_name}"
    return found[0]


def _output(part: str) -> dict:
    ident, prop = part.rsplit(".", 1)
    return {"id": json.loads(ident) if ident.startswith("{") else ident, "property": prop}  # a pattern id


def _outputs(key: str):
    if not key.startswith(".."):
        return _output(key)
    return [_output(part) for part in key[2:-2].split("...")]


def prop_id(ident, prop: str) -> str:
    text = ident if isinstance(ident, str) else json.dumps(ident, sort_keys=True, separators=(",", ":"))
    return f"{text}.{prop}"


def callback_body(app, function_name: str, values: list, states: list = (), triggered: int = 0) -> dict:
    """``values``: one per Input in order — a plain value, or for a pattern-matching (ALL) input a list
    of (id dict, value) pairs; ``states`` likewise for the States; ``triggered``: which input changed."""
    key, spec = _spec(app, function_name)

    def entries(declared, given):
        result = []
        for item, value in zip(declared, given):
            if isinstance(value, list) and value and isinstance(value[0], tuple):
                result.append([{"id": ident, "property": item["property"], "value": v} for ident, v in value])
            else:
                result.append({"id": item["id"], "property": item["property"], "value": value})
        return result

    inputs = entries(spec["inputs"], values)
    changed = inputs[triggered]
    if isinstance(changed, list):
        changed = changed[0]
    return {"output": key, "outputs": _outputs(key), "inputs": inputs, "state": entries(spec["state"], states),
            "changedPropIds": [prop_id(changed["id"], changed["property"])]}


def response_text(response) -> str:
    """Everything the callback answered, as text (for 'Refused: ...' and success messages)."""
    if response.status_code == 204:
        return ""
    return json.dumps(response.get_json())
