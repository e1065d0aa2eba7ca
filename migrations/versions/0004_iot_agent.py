"""IoT Agent provisioning: service groups and devices

Revision ID: 0004_iot_agent
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import services.models

revision = "0004_iot_agent"
down_revision = "0004"
branch_labels = None
depends_on = None

_TEXT = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "iot_service_groups",
        sa.Column("apikey", _TEXT(length=128), nullable=False),
        sa.Column("entity_type", _TEXT(length=64), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=True),
        sa.Column("static_attributes", sa.JSON(), nullable=True),
        sa.Column("autoprovision", sa.Boolean(), nullable=False),
        sa.Column("source", _TEXT(length=16), nullable=False),
        sa.Column("updated_at", services.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("apikey"),
    )
    op.create_table(
        "iot_devices",
        sa.Column("apikey", _TEXT(length=128), nullable=False),
        sa.Column("device_id", _TEXT(length=128), nullable=False),
        sa.Column("entity_name", _TEXT(length=256), nullable=True),
        sa.Column("entity_type", _TEXT(length=64), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=True),
        sa.Column("static_attributes", sa.JSON(), nullable=True),
        sa.Column("source", _TEXT(length=16), nullable=False),
        sa.Column("updated_at", services.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("apikey", "device_id"),
    )


def downgrade() -> None:
    op.drop_table("iot_devices")
    op.drop_table("iot_service_groups")
