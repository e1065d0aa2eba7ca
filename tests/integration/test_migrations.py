"""The schema's history: a database of any earlier release upgrades to the one head."""
from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text

from services.db import alembic_config, make_engine, migrate


def _versions(engine) -> list[str]:
    with engine.connect() as connection:
        return sorted(row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version")))


def test_schema_history_has_one_head():
    assert len(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()) == 1


def test_database_of_the_first_landing_with_its_two_heads_upgrades_to_the_one_head(database_url):
    config = alembic_config(database_url)
    command.upgrade(config, "0002_dispatch")  # the first landing shipped two heads
    command.upgrade(config, "0003_alarms")
    engine = make_engine(database_url)
    assert _versions(engine) == ["0002_dispatch", "0003_alarms"]
    migrate(engine)
    assert _versions(engine) == sorted(ScriptDirectory.from_config(config).get_heads())
    engine.dispose()
