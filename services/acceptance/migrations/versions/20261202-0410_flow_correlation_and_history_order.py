"""flow correlation and history order

Revision ID: 5d2a8e9c41b7
Revises: b10b31bfeb30
Create Date: 2026-12-02 04:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '5d2a8e9c41b7'
down_revision: str | None = 'b10b31bfeb30'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # correlation ids as long as the request middleware accepts them (100), so a caller's own fits
    op.alter_column('applications', 'correlation_id', existing_type=sa.String(length=64),
                    type_=sa.String(length=100), existing_nullable=False, schema='acceptance')
    op.alter_column('called_tickets', 'correlation_id', existing_type=sa.String(length=64),
                    type_=sa.String(length=100), existing_nullable=True, schema='acceptance')
    op.add_column('application_items', sa.Column('status_at', sa.DateTime(timezone=True), nullable=True),
                  schema='acceptance')
    # the history is read by application in the order things happened
    op.create_index('ix_status_history_application_at', 'status_history', ['application_id', 'at', 'id'],
                    unique=False, schema='acceptance')
    op.drop_index(op.f('ix_acceptance_status_history_application_id'), table_name='status_history',
                  schema='acceptance')


def downgrade() -> None:
    op.create_index(op.f('ix_acceptance_status_history_application_id'), 'status_history', ['application_id'],
                    unique=False, schema='acceptance')
    op.drop_index('ix_status_history_application_at', table_name='status_history', schema='acceptance')
    op.drop_column('application_items', 'status_at', schema='acceptance')
    op.alter_column('called_tickets', 'correlation_id', existing_type=sa.String(length=100),
                    type_=sa.String(length=64), existing_nullable=True, schema='acceptance')
    op.alter_column('applications', 'correlation_id', existing_type=sa.String(length=100),
                    type_=sa.String(length=64), existing_nullable=False, schema='acceptance')
