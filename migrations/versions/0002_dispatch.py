"""dispatch: incidents, their timeline, response units, unit commands

Revision ID: 0002_dispatch
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import services.models


revision = '0002_dispatch'
down_revision = '0001'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_TEXT = sqlmodel.sql.sqltypes.AutoString
_TIME = services.models.UTCDateTime


def upgrade() -> None:
    op.create_table('incidents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('category', _TEXT(length=32), nullable=False),
    sa.Column('sub_category', _TEXT(length=64), nullable=True),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('status', _TEXT(length=16), nullable=False),
    sa.Column('source', _TEXT(length=16), nullable=False),
    sa.Column('description', _TEXT(), nullable=True),
    sa.Column('address', _TEXT(), nullable=True),
    sa.Column('district', _TEXT(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('external_id', _TEXT(length=200), nullable=True),
    sa.Column('unit_id', _TEXT(length=128), nullable=True),
    sa.Column('escalated', sa.Boolean(), nullable=False),
    sa.Column('escalation_reason', _TEXT(), nullable=True),
    sa.Column('created_by', _TEXT(length=128), nullable=False),
    sa.Column('created_at', _TIME(), nullable=False),
    sa.Column('updated_at', _TIME(), nullable=False),
    sa.Column('status_since', _TIME(), nullable=False),
    sa.Column('dispatched_at', _TIME(), nullable=True),
    sa.Column('on_scene_at', _TIME(), nullable=True),
    sa.Column('resolved_at', _TIME(), nullable=True),
    sa.Column('closed_at', _TIME(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('external_id')
    )
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.create_index('ix_incidents_status_priority', ['status', 'priority'], unique=False)

    op.create_table('incident_timeline',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('at', _TIME(), nullable=False),
    sa.Column('kind', _TEXT(length=32), nullable=False),
    sa.Column('actor', _TEXT(length=128), nullable=False),
    sa.Column('message', _TEXT(), nullable=False),
    sa.Column('status_before', _TEXT(length=16), nullable=True),
    sa.Column('status_after', _TEXT(length=16), nullable=True),
    sa.Column('unit_id', _TEXT(length=128), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('incident_timeline', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_timeline_incident_id'), ['incident_id'], unique=False)

    op.create_table('units',
    sa.Column('unit_id', _TEXT(length=128), nullable=False),
    sa.Column('name', _TEXT(), nullable=False),
    sa.Column('kind', _TEXT(length=32), nullable=False),
    sa.Column('base_id', _TEXT(length=64), nullable=True),
    sa.Column('base_name', _TEXT(), nullable=True),
    sa.Column('base_lon', sa.Float(), nullable=True),
    sa.Column('base_lat', sa.Float(), nullable=True),
    sa.Column('vehicle_type', _TEXT(length=32), nullable=True),
    sa.Column('emergency_vehicle_type', _TEXT(length=32), nullable=True),
    sa.Column('capabilities', sa.JSON(), nullable=True),
    sa.Column('status', _TEXT(length=16), nullable=False),
    sa.Column('status_since', _TIME(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('command_id', _TEXT(length=64), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('unit_id')
    )
    op.create_table('unit_commands',
    sa.Column('cmd_id', _TEXT(length=64), nullable=False),
    sa.Column('unit_id', _TEXT(length=128), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('command', _TEXT(length=16), nullable=False),
    sa.Column('state', _TEXT(length=16), nullable=False),
    sa.Column('issued_by', _TEXT(length=128), nullable=False),
    sa.Column('issued_at', _TIME(), nullable=False),
    sa.Column('answered_at', _TIME(), nullable=True),
    sa.Column('published', sa.Boolean(), nullable=False),
    sa.Column('eta_seconds', sa.Float(), nullable=True),
    sa.Column('distance_m', sa.Float(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('cmd_id')
    )
    with op.batch_alter_table('unit_commands', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unit_commands_unit_id'), ['unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_unit_commands_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index('ix_unit_commands_state_issued', ['state', 'issued_at'], unique=False)


def downgrade() -> None:
    op.drop_table('unit_commands')
    op.drop_table('units')
    op.drop_table('incident_timeline')
    op.drop_table('incidents')
