"""kpi behind: the samples and records behind a measured roll-up value (the KPI detail view reads them)

Revision ID: 0016_kpi_behind
Revises: 0015_rejection_said
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = "0016_kpi_behind"
down_revision = "0015_rejection_said"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kpi_behind",
        sa.Column("rollup_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  sa.ForeignKey("kpi_rollups.id", ondelete="CASCADE"), primary_key=True, autoincrement=False),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("samples", sa.JSON(), nullable=False),
        sa.Column("records", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("kpi_behind")
