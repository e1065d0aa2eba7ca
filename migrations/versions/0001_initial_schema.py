"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 00:01:52.651904
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import services.models


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('created_at', services.models.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', services.models.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at', services.models.UTCDateTime(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('target', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)

    op.create_table('citizen_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('service_code', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('service_name', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('district', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('requested_at', services.models.UTCDateTime(), nullable=False),
    sa.Column('received_at', services.models.UTCDateTime(), nullable=False),
    sa.Column('time_from_receive', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('external_id')
    )
    op.create_table('device_latest',
    sa.Column('device_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('entity_type', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('observed_at', services.models.UTCDateTime(), nullable=False),
    sa.Column('received_at', services.models.UTCDateTime(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('values', sa.JSON(), nullable=True),
    sa.Column('flags', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.PrimaryKeyConstraint('device_id', 'entity_type')
    )
    op.create_table('devices',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('type', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('district', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('registered', sa.Boolean(), nullable=False),
    sa.Column('interval_s', sa.Integer(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('geometry', sa.JSON(), nullable=True),
    sa.Column('registered_lon', sa.Float(), nullable=True),
    sa.Column('registered_lat', sa.Float(), nullable=True),
    sa.Column('meta', sa.JSON(), nullable=True),
    sa.Column('out_of_area', sa.Boolean(), nullable=False),
    sa.Column('first_seen_at', services.models.UTCDateTime(), nullable=True),
    sa.Column('last_observed_at', services.models.UTCDateTime(), nullable=True),
    sa.Column('last_received_at', services.models.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_devices_district'), ['district'], unique=False)
        batch_op.create_index(batch_op.f('ix_devices_type'), ['type'], unique=False)

    op.create_table('ingest_status',
    sa.Column('instance_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('started_at', services.models.UTCDateTime(), nullable=False),
    sa.Column('updated_at', services.models.UTCDateTime(), nullable=False),
    sa.Column('broker_connected', sa.Boolean(), nullable=False),
    sa.Column('received', sa.BigInteger(), nullable=False),
    sa.Column('stored', sa.BigInteger(), nullable=False),
    sa.Column('duplicates', sa.BigInteger(), nullable=False),
    sa.Column('rejected', sa.BigInteger(), nullable=False),
    sa.Column('rejected_by_reason', sa.JSON(), nullable=True),
    sa.Column('lag_seconds', sa.Float(), nullable=False),
    sa.Column('last_message_at', services.models.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('instance_id')
    )
    op.create_table('observations',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('device_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('entity_type', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('observed_at', services.models.UTCDateTime(), nullable=False),
    sa.Column('received_at', services.models.UTCDateTime(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('values', sa.JSON(), nullable=True),
    sa.Column('flags', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('device_id', 'observed_at', 'entity_type', name='uq_observation_identity')
    )
    with op.batch_alter_table('observations', schema=None) as batch_op:
        batch_op.create_index('ix_observations_observed_at', ['observed_at'], unique=False)

    op.create_table('rejected_messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('received_at', services.models.UTCDateTime(), nullable=False),
    sa.Column('topic', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=True),
    sa.Column('payload_size', sa.Integer(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('detail', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('rejected_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rejected_messages_reason'), ['reason'], unique=False)
        batch_op.create_index(batch_op.f('ix_rejected_messages_received_at'), ['received_at'], unique=False)

    op.create_table('unit_command_replies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('cmd_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('result', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('at', services.models.UTCDateTime(), nullable=False),
    sa.Column('received_at', services.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('unit_id', 'cmd_id', 'result', name='uq_command_reply')
    )
    with op.batch_alter_table('unit_command_replies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unit_command_replies_unit_id'), ['unit_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('unit_command_replies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unit_command_replies_unit_id'))

    op.drop_table('unit_command_replies')
    with op.batch_alter_table('rejected_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rejected_messages_received_at'))
        batch_op.drop_index(batch_op.f('ix_rejected_messages_reason'))

    op.drop_table('rejected_messages')
    with op.batch_alter_table('observations', schema=None) as batch_op:
        batch_op.drop_index('ix_observations_observed_at')

    op.drop_table('observations')
    op.drop_table('ingest_status')
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_devices_type'))
        batch_op.drop_index(batch_op.f('ix_devices_district'))

    op.drop_table('devices')
    op.drop_table('device_latest')
    op.drop_table('citizen_reports')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))

    op.drop_table('audit_log')
    op.drop_table('api_tokens')
