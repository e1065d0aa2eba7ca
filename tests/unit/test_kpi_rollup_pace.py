"""When the scorecards' roll-up runs (services/kpis/jobs.py): every RUN_S; while the demo's past is being played,
for the current periods only; once the play has finished, at once and then CHECK_S after each run until the
past's periods are all computed; then every RUN_S again."""
from __future__ import annotations

from services.kpis.jobs import BUDGET_S, CHECK_S, RollupPace
from services.kpis.rollup import RUN_S


def test_runs_every_run_s_and_not_at_each_look():
    pace = RollupPace()
    assert pace.due(False, 100.0) and pace.budget_s() == BUDGET_S
    pace.ran(100.0, 110.0, dirty_left=40)  # periods left: the next run in its turn, not sooner (no play finished)
    assert not pace.due(False, 100.0 + CHECK_S * 3)
    assert pace.due(False, 100.0 + RUN_S)


def test_while_the_past_is_played_only_the_current_periods_then_the_past_at_once_and_run_after_run():
    pace = RollupPace()
    assert pace.due(True, 0.0) and pace.budget_s() == 0.0  # playing: the past's periods wait
    pace.ran(0.0, 2.0, dirty_left=900)
    assert not pace.due(True, CHECK_S)
    assert pace.due(False, 2 * CHECK_S) and pace.budget_s() == BUDGET_S  # the play finished: at once
    pace.ran(2 * CHECK_S, 2 * CHECK_S + BUDGET_S, dirty_left=300)
    assert not pace.due(False, 2 * CHECK_S + BUDGET_S + 1)
    assert pace.due(False, 2 * CHECK_S + BUDGET_S + CHECK_S)  # catching up: CHECK_S after the run, not RUN_S
    end = 2 * CHECK_S + BUDGET_S + CHECK_S
    pace.ran(end, end + 4, dirty_left=0)  # the past is computed: back to every RUN_S
    assert not pace.due(False, end + 4 + CHECK_S)
    assert pace.due(False, end + RUN_S)
