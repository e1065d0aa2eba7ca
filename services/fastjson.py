"""JSON for the hot paths (parsing every message, storing every observation): orjson.

Strict like the standard (no NaN/Infinity literals) and several times faster than ``json``;
non-string dict keys are written as strings, as ``json`` does.
"""
from __future__ import annotations

import orjson

JSONDecodeError = orjson.JSONDecodeError  # a subclass of json.JSONDecodeError and ValueError


def loads(data: bytes | str):
    return orjson.loads(data)


def dumps(value) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
