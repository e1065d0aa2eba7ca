"""work orders: citizen requests with their facts; users and tokens of a department

Revision ID: 0011_work_orders
Revises: 0010_oidc_users
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import services.models


revision = '0011_work_orders'
down_revision = '0010_oidc_users'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('work_order_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('at', services.models.base.UTCDateTime(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('message', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('status_before', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('status_after', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('department', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('service_code', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('district', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('media_url', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.Column('published', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('work_order_events', schema=None) as batch_op:
        batch_op.create_index('ix_work_order_events_kind_at', ['kind', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_work_order_events_order_id'), ['order_id'], unique=False)

    op.create_table('work_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('service_code', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('service_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('department', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('district', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('media_url', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('contact_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('contact_email', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('contact_phone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('status_notes', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('requested_at', services.models.base.UTCDateTime(), nullable=False),
    sa.Column('received_at', services.models.base.UTCDateTime(), nullable=False),
    sa.Column('assigned_at', services.models.base.UTCDateTime(), nullable=True),
    sa.Column('accepted_at', services.models.base.UTCDateTime(), nullable=True),
    sa.Column('started_at', services.models.base.UTCDateTime(), nullable=True),
    sa.Column('resolved_at', services.models.base.UTCDateTime(), nullable=True),
    sa.Column('closed_at', services.models.base.UTCDateTime(), nullable=True),
    sa.Column('response_due_at', services.models.base.UTCDateTime(), nullable=True),
    sa.Column('resolution_due_at', services.models.base.UTCDateTime(), nullable=True),
    sa.Column('overdue_alarmed', sa.Boolean(), nullable=False),
    sa.Column('transfer_count', sa.Integer(), nullable=False),
    sa.Column('reopen_count', sa.Integer(), nullable=False),
    sa.Column('merged_into', sa.Integer(), nullable=True),
    sa.Column('satisfaction', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True),
    sa.Column('satisfaction_comment', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('rated_at', services.models.base.UTCDateTime(), nullable=True),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('updated_at', services.models.base.UTCDateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('drill', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('request_id')
    )
    with op.batch_alter_table('work_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_work_orders_department'), ['department'], unique=False)
        batch_op.create_index(batch_op.f('ix_work_orders_merged_into'), ['merged_into'], unique=False)
        batch_op.create_index('ix_work_orders_queue', ['status', 'department'], unique=False)
        batch_op.create_index(batch_op.f('ix_work_orders_received_at'), ['received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_work_orders_service_code'), ['service_code'], unique=False)

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('department', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('department', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('department')

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('department')

    with op.batch_alter_table('work_orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_work_orders_service_code'))
        batch_op.drop_index(batch_op.f('ix_work_orders_received_at'))
        batch_op.drop_index('ix_work_orders_queue')
        batch_op.drop_index(batch_op.f('ix_work_orders_merged_into'))
        batch_op.drop_index(batch_op.f('ix_work_orders_department'))

    op.drop_table('work_orders')
    with op.batch_alter_table('work_order_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_work_order_events_order_id'))
        batch_op.drop_index('ix_work_order_events_kind_at')

    op.drop_table('work_order_events')
