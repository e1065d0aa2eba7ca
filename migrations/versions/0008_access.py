"""access: users, display links, failed sign-ins

Revision ID: 0008
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import services.models

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TEXT = sqlmodel.sql.sqltypes.AutoString
_TIME = services.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _TEXT(length=64), nullable=False),
        sa.Column("role", _TEXT(length=16), nullable=False),
        sa.Column("password_hash", _TEXT(length=256), nullable=False),
        sa.Column("session_version", sa.Integer(), nullable=False),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.Column("created_by", _TEXT(length=128), nullable=False),
        sa.Column("password_changed_at", _TIME(), nullable=False),
        sa.Column("last_sign_in_at", _TIME(), nullable=True),
        sa.Column("disabled_at", _TIME(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "displays",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _TEXT(length=128), nullable=False),
        sa.Column("page", _TEXT(length=64), nullable=False),
        sa.Column("options", sa.JSON(), nullable=True),
        sa.Column("token_hash", _TEXT(length=128), nullable=False),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.Column("created_by", _TEXT(length=128), nullable=False),
        sa.Column("revoked_at", _TIME(), nullable=True),
        sa.Column("revoked_by", _TEXT(length=128), nullable=True),
        sa.Column("last_seen_at", _TIME(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "sign_in_failures",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("at", _TIME(), nullable=False),
        sa.Column("account", _TEXT(length=64), nullable=False),
        sa.Column("address", _TEXT(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sign_in_failures_at", "sign_in_failures", ["at"])
    op.create_index("ix_sign_in_failures_account", "sign_in_failures", ["account"])
    op.create_index("ix_sign_in_failures_address", "sign_in_failures", ["address"])


def downgrade() -> None:
    op.drop_table("sign_in_failures")
    op.drop_table("displays")
    op.drop_table("users")
