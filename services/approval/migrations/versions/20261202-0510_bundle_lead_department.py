"""bundle lead department

Revision ID: b2d0e5d20510
Revises: 9a41f6c3d2e8
Create Date: 2026-12-02 05:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = 'b2d0e5d20510'
down_revision: str | None = '9a41f6c3d2e8'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The bundle's lead department (牵头部门) as application.accepted carried it.
    op.add_column('applications', sa.Column('lead_department', sa.String(length=64), nullable=True), schema='approval')
    # Bundle members waiting for an earlier member's licence; the licence issued for each item.
    op.add_column(
        'tasks',
        sa.Column('awaits', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
        schema='approval',
    )
    op.add_column('tasks', sa.Column('parallel', sa.Boolean(), server_default='false', nullable=False), schema='approval')
    op.add_column('tasks', sa.Column('licence_no', sa.String(length=64), nullable=True), schema='approval')
    op.create_table('bundle_alerts',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('application_id', sa.String(length=64), nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('lead_department', sa.String(length=64), nullable=False),
    sa.Column('department', sa.String(length=64), nullable=False),
    sa.Column('matter_code', sa.String(length=64), nullable=False),
    sa.Column('promised_due', sa.Date(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['approval.tasks.id'], name=op.f('fk_bundle_alerts_task_id_tasks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bundle_alerts')),
    sa.UniqueConstraint('task_id', 'kind', name=op.f('uq_bundle_alerts_task_id_kind')),
    schema='approval'
    )
    op.create_index(op.f('ix_approval_bundle_alerts_application_id'), 'bundle_alerts', ['application_id'], unique=False, schema='approval')
    op.create_index(op.f('ix_approval_bundle_alerts_lead_department'), 'bundle_alerts', ['lead_department'], unique=False, schema='approval')
    op.create_table('bundle_notices',
    sa.Column('application_id', sa.String(length=64), nullable=False),
    sa.Column('notice_no', sa.String(length=64), nullable=False),
    sa.Column('lead_department', sa.String(length=64), nullable=False),
    sa.Column('issued_by', sa.String(length=128), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('content', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['approval.applications.application_id'], name=op.f('fk_bundle_notices_application_id_applications')),
    sa.PrimaryKeyConstraint('application_id', name=op.f('pk_bundle_notices')),
    sa.UniqueConstraint('notice_no', name=op.f('uq_bundle_notices_notice_no')),
    schema='approval'
    )


def downgrade() -> None:
    op.drop_table('bundle_notices', schema='approval')
    op.drop_index(op.f('ix_approval_bundle_alerts_lead_department'), table_name='bundle_alerts', schema='approval')
    op.drop_index(op.f('ix_approval_bundle_alerts_application_id'), table_name='bundle_alerts', schema='approval')
    op.drop_table('bundle_alerts', schema='approval')
    op.drop_column('tasks', 'licence_no', schema='approval')
    op.drop_column('tasks', 'parallel', schema='approval')
    op.drop_column('tasks', 'awaits', schema='approval')
    op.drop_column('applications', 'lead_department', schema='approval')
