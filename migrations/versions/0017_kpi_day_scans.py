"""kpi day scans: what one scan of a complete day's raw rows gave a measure, added up over a week, month or
quarter instead of reading its rows again (services/kpis/scans.py)

Revision ID: 0017_kpi_day_scans
Revises: 0016_kpi_behind
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

import services.models.base

revision = "0017_kpi_day_scans"
down_revision = "0016_kpi_behind"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kpi_day_scans",
        sa.Column("scan", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("start", services.models.base.UTCDateTime(), nullable=False),
        sa.Column("end", services.models.base.UTCDateTime(), nullable=False),
        sa.Column("rows", sa.JSON(), nullable=False),
        sa.Column("computed_at", services.models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("scan", "start"),
    )


def downgrade() -> None:
    op.drop_table("kpi_day_scans")
