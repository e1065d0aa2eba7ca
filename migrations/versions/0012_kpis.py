"""kpis: roll-ups, targets and baselines, the roll-up's watermarks and dirty buckets

Revision ID: 0012_kpis
Revises: 0011_work_orders
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import services.models


revision = '0012_kpis'
down_revision = '0011_work_orders'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('kpi_dirty_buckets',
    sa.Column('period', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('start', services.models.base.UTCDateTime(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('end', services.models.base.UTCDateTime(), nullable=False),
    sa.Column('marked_at', services.models.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('period', 'start', 'source')
    )
    op.create_table('kpi_rollups',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('kpi', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('district', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('period', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('start', services.models.base.UTCDateTime(), nullable=False),
    sa.Column('end', services.models.base.UTCDateTime(), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('share_meeting', sa.Float(), nullable=True),
    sa.Column('computed_at', services.models.base.UTCDateTime(), nullable=False),
    sa.Column('published', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kpi', 'district', 'period', 'start', name='uq_kpi_rollup_bucket')
    )
    with op.batch_alter_table('kpi_rollups', schema=None) as batch_op:
        batch_op.create_index('ix_kpi_rollups_outbox', ['published', 'period'], unique=False)
        batch_op.create_index('ix_kpi_rollups_period_start', ['period', 'start'], unique=False)

    op.create_table('kpi_targets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kpi', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('district', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('target', sa.Float(), nullable=True),
    sa.Column('baseline', sa.Float(), nullable=True),
    sa.Column('baseline_from', services.models.base.UTCDateTime(), nullable=True),
    sa.Column('baseline_to', services.models.base.UTCDateTime(), nullable=True),
    sa.Column('updated_at', services.models.base.UTCDateTime(), nullable=False),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kpi', 'district', 'year', name='uq_kpi_target')
    )
    op.create_table('kpi_watermarks',
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('last_id', sa.BigInteger(), nullable=True),
    sa.Column('last_at', services.models.base.UTCDateTime(), nullable=True),
    sa.Column('updated_at', services.models.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('source')
    )


def downgrade() -> None:
    op.drop_table('kpi_watermarks')
    op.drop_table('kpi_targets')
    with op.batch_alter_table('kpi_rollups', schema=None) as batch_op:
        batch_op.drop_index('ix_kpi_rollups_period_start')
        batch_op.drop_index('ix_kpi_rollups_outbox')

    op.drop_table('kpi_rollups')
    op.drop_table('kpi_dirty_buckets')
