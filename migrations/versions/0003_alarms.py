"""alarms and their events

Revision ID: 0003_alarms
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import services.models

revision = "0003_alarms"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TEXT = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "alarms",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("open_key", _TEXT(length=200), nullable=True),
        sa.Column("rule_id", _TEXT(length=64), nullable=False),
        sa.Column("rule_name", _TEXT(length=200), nullable=False),
        sa.Column("device_id", _TEXT(length=128), nullable=False),
        sa.Column("device_type", _TEXT(length=64), nullable=True),
        sa.Column("device_name", _TEXT(length=200), nullable=True),
        sa.Column("district", _TEXT(length=200), nullable=True),
        sa.Column("category", _TEXT(length=64), nullable=False),
        sa.Column("sub_category", _TEXT(length=64), nullable=False),
        sa.Column("severity", _TEXT(length=16), nullable=False),
        sa.Column("base_severity", _TEXT(length=16), nullable=False),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("escalated_at", services.models.UTCDateTime(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("acknowledged", sa.Boolean(), nullable=False),
        sa.Column("description", _TEXT(), nullable=False),
        sa.Column("metric", _TEXT(length=64), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("started_at", services.models.UTCDateTime(), nullable=False),
        sa.Column("raised_at", services.models.UTCDateTime(), nullable=False),
        sa.Column("last_raised_at", services.models.UTCDateTime(), nullable=False),
        sa.Column("repeat_count", sa.Integer(), nullable=False),
        sa.Column("acknowledged_at", services.models.UTCDateTime(), nullable=True),
        sa.Column("acknowledged_by", _TEXT(length=128), nullable=True),
        sa.Column("cleared_at", services.models.UTCDateTime(), nullable=True),
        sa.Column("cleared_by", _TEXT(length=128), nullable=True),
        sa.Column("assignee", _TEXT(length=128), nullable=True),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("incident_requested", sa.Boolean(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("published_revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", services.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("open_key"),
    )
    op.create_index("ix_alarms_rule_id", "alarms", ["rule_id"])
    op.create_index("ix_alarms_device_id", "alarms", ["device_id"])
    op.create_index("ix_alarms_active_raised", "alarms", ["active", "raised_at"])
    op.create_index("ix_alarms_outbox", "alarms", ["published_revision", "revision"])
    op.create_table(
        "alarm_events",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("alarm_id", _ID, nullable=False),
        sa.Column("at", services.models.UTCDateTime(), nullable=False),
        sa.Column("kind", _TEXT(length=32), nullable=False),
        sa.Column("actor", _TEXT(length=128), nullable=False),
        sa.Column("text", _TEXT(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["alarm_id"], ["alarms.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alarm_events_alarm_id", "alarm_events", ["alarm_id"])


def downgrade() -> None:
    op.drop_index("ix_alarm_events_alarm_id", table_name="alarm_events")
    op.drop_table("alarm_events")
    for name in ("ix_alarms_outbox", "ix_alarms_active_raised", "ix_alarms_device_id", "ix_alarms_rule_id"):
        op.drop_index(name, table_name="alarms")
    op.drop_table("alarms")
