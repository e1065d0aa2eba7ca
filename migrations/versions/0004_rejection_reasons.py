"""a rejected message is kept once, its further reasons point to it; ingest heartbeat: stalled_seconds

Revision ID: 0004
Revises: 0002_dispatch, 0003_alarms (joins the two heads)
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = "0004"
down_revision = ("0002_dispatch", "0003_alarms")  # joins the two heads of the first landing
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TEXT = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table("ingest_status", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stalled_seconds", sa.Float(), nullable=False, server_default="0"))
    with op.batch_alter_table("rejected_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rejection_count", sa.Integer(), nullable=False, server_default="1"))
    op.create_table(
        "rejection_reasons",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("message_id", _ID, nullable=False),
        sa.Column("reason", _TEXT(length=32), nullable=False),
        sa.Column("detail", _TEXT(), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["rejected_messages.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("rejection_reasons", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rejection_reasons_message_id"), ["message_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_rejection_reasons_reason"), ["reason"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rejection_reasons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rejection_reasons_reason"))
        batch_op.drop_index(batch_op.f("ix_rejection_reasons_message_id"))
    op.drop_table("rejection_reasons")
    with op.batch_alter_table("rejected_messages", schema=None) as batch_op:
        batch_op.drop_column("rejection_count")
    with op.batch_alter_table("ingest_status", schema=None) as batch_op:
        batch_op.drop_column("stalled_seconds")
