"""How page callbacks run commands (web/ui.py): a database that does not answer is said to the person who
acted, never a failed callback that shows nothing."""
from __future__ import annotations

import sqlite3

from sqlalchemy import create_engine, text

from services.commands import Refused
from web.ui import attempt


def test_a_locked_database_is_a_refusal_that_says_so_not_a_failed_callback(tmp_path):
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")  # another process writing: the write lock is held
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.2})

    def command():
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (1)"))

    try:
        outcome = attempt(command)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        engine.dispose()
    assert not outcome.ok
    assert outcome.refused.status == 503 and outcome.refused.code == "database_unavailable"
    assert outcome.message == "Refused: the database did not answer; what was saved shows on the screen. Try again."


def test_a_refusal_stays_a_refusal_and_a_value_a_value():
    def refused():
        raise Refused.conflict("busy", "unit busy")

    assert attempt(refused).message == "Refused: unit busy"
    assert attempt(lambda: 42).value == 42
