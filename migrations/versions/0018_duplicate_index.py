"""duplicate index: a received report's possible duplicates, the same service within days of it

Revision ID: 0018_duplicate_index
Revises: 0017_kpi_day_scans
"""
from alembic import op

revision = "0018_duplicate_index"
down_revision = "0017_kpi_day_scans"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_work_orders_service_received", "work_orders", ["service_code", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_work_orders_service_received", table_name="work_orders")
