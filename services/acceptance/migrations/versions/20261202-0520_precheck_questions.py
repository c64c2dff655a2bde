"""precheck questions

Revision ID: a1c0e5d20520
Revises: a1c0e5d20510
Create Date: 2026-12-02 05:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = 'a1c0e5d20520'
down_revision: str | None = 'a1c0e5d20510'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # item 8: pre-check questions (预审咨询) from the front desk to a department's approver about a draft
    op.create_table(
        'precheck_questions',
        sa.Column('id', sa.String(length=36), primary_key=True),
        sa.Column('application_id', sa.String(length=64), sa.ForeignKey('acceptance.applications.id'),
                  nullable=False),
        sa.Column('department', sa.String(length=40), nullable=False),
        sa.Column('question', sa.Text(), nullable=False),
        sa.Column('draft', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('asked_by', sa.String(length=128), nullable=False),
        sa.Column('asked_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('answer', sa.Text(), nullable=True),
        sa.Column('answered_by', sa.String(length=128), nullable=True),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
        schema='acceptance',
    )
    op.create_index('ix_precheck_questions_application_id', 'precheck_questions', ['application_id'],
                    schema='acceptance')
    op.create_index('ix_precheck_questions_department_status', 'precheck_questions',
                    ['department', 'status', 'asked_at'], schema='acceptance')


def downgrade() -> None:
    op.drop_index('ix_precheck_questions_department_status', table_name='precheck_questions', schema='acceptance')
    op.drop_index('ix_precheck_questions_application_id', table_name='precheck_questions', schema='acceptance')
    op.drop_table('precheck_questions', schema='acceptance')
