"""citizen reports: when the request was last updated at its source (Open311 updated_datetime)

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa
import services.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("citizen_reports") as batch:
        batch.add_column(sa.Column("updated_at", services.models.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("citizen_reports") as batch:
        batch.drop_column("updated_at")
