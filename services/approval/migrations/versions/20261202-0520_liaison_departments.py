"""liaison departments

Revision ID: b2d0e5d20520
Revises: b2d0e5d20510
Create Date: 2026-12-02 05:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'b2d0e5d20520'
down_revision: str | None = 'b2d0e5d20510'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # item 7: departments without resident approvers; their tasks go through a liaison officer (联络官)
    op.create_table(
        'departments',
        sa.Column('code', sa.String(length=64), primary_key=True),
        sa.Column('name', sa.String(length=200), nullable=False, server_default=''),
        sa.Column('resident_approvers', sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column('catalog_version', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        schema='approval',
    )
    op.add_column(
        'tasks',
        sa.Column('via_liaison', sa.Boolean(), nullable=False, server_default=sa.false()),
        schema='approval',
    )
    op.create_index(
        'ix_tasks_via_liaison_department', 'tasks', ['department', 'status', 'promised_due'],
        schema='approval', postgresql_where=sa.text('via_liaison'),
    )
    op.create_table(
        'decision_documents',
        sa.Column('task_id', sa.String(length=36), sa.ForeignKey('approval.tasks.id'), primary_key=True),
        sa.Column('handover_id', sa.String(length=36), sa.ForeignKey('approval.handovers.id'), nullable=False),
        sa.Column('number', sa.String(length=100), nullable=False),
        sa.Column('signed_by', sa.String(length=128), nullable=False),
        sa.Column('signed_on', sa.Date(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('file_name', sa.String(length=200), nullable=True),
        sa.Column('size', sa.Integer(), nullable=True),
        sa.Column('content', sa.LargeBinary(), nullable=True),
        sa.Column('recorded_by', sa.String(length=128), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        schema='approval',
    )


def downgrade() -> None:
    op.drop_table('decision_documents', schema='approval')
    op.drop_index('ix_tasks_via_liaison_department', table_name='tasks', schema='approval')
    op.drop_column('tasks', 'via_liaison', schema='approval')
    op.drop_table('departments', schema='approval')
