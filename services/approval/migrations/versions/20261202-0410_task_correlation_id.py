"""task correlation id

Revision ID: 9a41f6c3d2e8
Revises: b13644aece89
Create Date: 2026-12-02 04:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '9a41f6c3d2e8'
down_revision: str | None = 'b13644aece89'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('tasks', sa.Column('correlation_id', sa.String(length=100), nullable=True), schema='approval')
    # tasks opened before this show their application's flow id
    op.execute(
        """
        UPDATE approval.tasks t SET correlation_id = a.correlation_id
        FROM approval.applications a
        WHERE a.application_id = t.application_id AND t.correlation_id IS NULL
        """
    )


def downgrade() -> None:
    op.drop_column('tasks', 'correlation_id', schema='approval')
