"""user language: the language a person chose for their screens (NULL: their browser's)

Revision ID: 0013_user_language
Revises: 0011_work_orders
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = "0013_user_language"
down_revision = "0011_work_orders"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("language")
