"""audit action index: an action's latest entry (the demo's play of the past) without reading the log backwards

Revision ID: 0019_audit_action_index
Revises: 0018_duplicate_index
"""
from alembic import op

revision = "0019_audit_action_index"
down_revision = "0018_duplicate_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_log_action_id", "audit_log", ["action", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_action_id", table_name="audit_log")
