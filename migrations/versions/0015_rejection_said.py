"""rejection said: a rejection's detail as said (services/i18n.py say), shown in its reader's language

Revision ID: 0015_rejection_said
Revises: 0014_kpi_indexes
"""
from alembic import op
import sqlalchemy as sa

revision = "0015_rejection_said"
down_revision = "0014_kpi_indexes"
branch_labels = None
depends_on = None

TABLES = ("rejected_messages", "rejection_reasons")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("said", sa.JSON(), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("said")
