"""drills: incidents, alarms and citizen reports raised from drill data say which drill

Revision ID: 0009_drills
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = "0009_drills"
down_revision = "0008"
branch_labels = None
depends_on = None

_TEXT = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    for table in ("incidents", "alarms", "citizen_reports"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("drill", _TEXT(length=64), nullable=True))


def downgrade() -> None:
    for table in ("incidents", "alarms", "citizen_reports"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("drill")
