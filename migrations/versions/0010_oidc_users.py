"""oidc users: people who sign in with the city's OpenID Connect provider (no password here)

Revision ID: 0010_oidc_users
Revises: 0009_drills
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = "0010_oidc_users"
down_revision = "0009_drills"
branch_labels = None
depends_on = None

_TEXT = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("external_issuer", _TEXT(length=256), nullable=True))
        batch.add_column(sa.Column("external_subject", _TEXT(length=256), nullable=True))
        batch.create_unique_constraint("uq_users_external", ["external_issuer", "external_subject"])


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_external", type_="unique")
        batch.drop_column("external_subject")
        batch.drop_column("external_issuer")
