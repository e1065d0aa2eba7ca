"""kpi indexes: the KPI roll-ups' scans by time (watermarks by updated_at; a period's incidents and alarms)

Revision ID: 0014_kpi_indexes
Revises: 0013_user_language
"""
from alembic import op

revision = "0014_kpi_indexes"
down_revision = "0013_user_language"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_incidents_created_at", "incidents", "created_at"),
    ("ix_incidents_updated_at", "incidents", "updated_at"),
    ("ix_work_orders_updated_at", "work_orders", "updated_at"),
    ("ix_alarms_raised_at", "alarms", "raised_at"),
    ("ix_alarms_started_at", "alarms", "started_at"),
    ("ix_alarms_updated_at", "alarms", "updated_at"),
)


def upgrade() -> None:
    for name, table, column in INDEXES:
        op.create_index(name, table, [column])


def downgrade() -> None:
    for name, table, _column in reversed(INDEXES):
        op.drop_index(name, table_name=table)
