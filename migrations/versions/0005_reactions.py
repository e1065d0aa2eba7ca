"""durable reactions: reactor cursors, rule states, the reactions leader's lease

Revision ID: 0005
Revises: 0004_iot_agent
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import services.models

revision = "0005"
down_revision = "0004_iot_agent"
branch_labels = None
depends_on = None

_TEXT = sqlmodel.sql.sqltypes.AutoString
_TIME = services.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "reaction_cursors",
        sa.Column("name", _TEXT(length=64), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", _TIME(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    # each reactor starts at the rows already stored: what came before the upgrade was reacted to
    # by the listeners of the old ingest (a replay would re-apply old unit replies)
    for table in ("observations", "citizen_reports", "unit_command_replies"):
        op.execute(sa.text(
            f"INSERT INTO reaction_cursors (name, last_id, updated_at) "
            f"SELECT '{table}', COALESCE(MAX(id), 0), CURRENT_TIMESTAMP FROM {table}"))
    op.create_table(
        "rule_states",
        sa.Column("rule_id", _TEXT(length=64), nullable=False),
        sa.Column("device_id", _TEXT(length=128), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("breach_since", _TIME(), nullable=True),
        sa.Column("clear_since", _TIME(), nullable=True),
        sa.Column("last_at", _TIME(), nullable=True),
        sa.PrimaryKeyConstraint("rule_id", "device_id"),
    )
    op.create_table(
        "reactor_leases",
        sa.Column("name", _TEXT(length=64), nullable=False),
        sa.Column("holder", _TEXT(length=200), nullable=False),
        sa.Column("expires_at", _TIME(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("reactor_leases")
    op.drop_table("rule_states")
    op.drop_table("reaction_cursors")
