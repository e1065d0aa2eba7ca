"""axe-core (from the npm registry, installed by `make install` into .cache/npm) run inside a selenium page.

``axe_violations(browser)`` injects axe into the page that is open and returns its violations (WCAG 2.x
A and AA rules, and axe's best practices), each a dict with ``id``, ``impact``, ``help`` and ``nodes``.
WebDriver's scripts are not subject to the page's Content-Security-Policy, so the page needs no change.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.config import PROJECT_ROOT

AXE_SCRIPT = PROJECT_ROOT / ".cache" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")
RUN_TIMEOUT_S = 60


def axe_source(path: Path = AXE_SCRIPT) -> str:
    if not path.exists():
        message = f"missing {path}: `make install` installs axe-core from the npm registry"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path.read_text(encoding="utf-8")


def axe_violations(browser, impacts: tuple[str, ...] = SERIOUS, exclude: tuple[str, ...] = ()) -> list[dict]:
    """The page's accessibility violations of the given impacts (all of them for ``impacts=()``), outside
    the elements ``exclude`` selects (a known defect of a library's component, named where it is used)."""
    if not browser.execute_script("return !!window.axe"):
        browser.execute_script(axe_source() + "\nreturn true;")
    browser.set_script_timeout(RUN_TIMEOUT_S)
    violations = browser.execute_async_script(
        "var done = arguments[arguments.length - 1];"
        "var context = arguments[0].length ? {include: [document], exclude: arguments[0].map(function (s) {"
        "  return [s]; })} : document;"
        "window.axe.run(context, {resultTypes: ['violations']})"
        "  .then(function (result) { done(result.violations); })"
        "  .catch(function (error) { done([{id: 'axe-error', impact: 'critical', help: String(error), nodes: []}]); });",
        list(exclude))
    return [v for v in violations if not impacts or v.get("impact") in impacts]


def describe(violations: list[dict]) -> str:
    """One line per violation and its first elements, for an assertion's message."""
    lines = []
    for violation in violations:
        targets = ["".join(map(str, node.get("target", []))) for node in violation.get("nodes", [])[:4]]
        lines.append(f"{violation['impact']}: {violation['id']} ({violation['help']}) at {', '.join(targets)}")
    return "\n".join(lines)
