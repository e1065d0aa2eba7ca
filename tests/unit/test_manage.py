"""The command line as the README gives it."""
from __future__ import annotations

import pytest

import manage


@pytest.mark.parametrize("argv, expected", [
    (["simulate", "--seed", "42", "--backfill-minutes", "60"], ["--seed", "42", "--backfill-minutes", "60"]),
    (["simulate", "--seed=7", "--speed", "2"], ["--seed=7", "--speed", "2"]),
    (["simulate"], []),
])
def test_simulate_hands_its_options_to_the_simulator(monkeypatch, argv, expected):
    received = []
    monkeypatch.setattr("services.simulator.main", received.append)
    manage.main(argv)
    assert received == [expected]


def test_unknown_option_of_a_process_role_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        manage.main(["serve", "--bogus"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
