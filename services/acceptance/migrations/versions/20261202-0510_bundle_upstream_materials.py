"""bundle upstream materials

Revision ID: a1c0e5d20510
Revises: a1c0e5d20500
Create Date: 2026-12-02 05:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = 'a1c0e5d20510'
down_revision: str | None = 'a1c0e5d20500'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A bundle's members as forms derives them (what each needs from an earlier member, parallel or not);
    # rows stored before this have none and acceptance derives the needs from its matter read model.
    op.add_column(
        'bundles',
        sa.Column('members', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
        schema='acceptance',
    )


def downgrade() -> None:
    op.drop_column('bundles', 'members', schema='acceptance')
