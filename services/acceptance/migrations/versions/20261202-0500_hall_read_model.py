"""hall read model

Revision ID: a1c0e5d20500
Revises: 5d2a8e9c41b7
Create Date: 2026-12-02 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'a1c0e5d20500'
down_revision: str | None = '5d2a8e9c41b7'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Halls as ticketing publishes them (hall.published): a collection hall must be known and open.
    op.create_table('halls',
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('hall_version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_halls')),
    schema='acceptance'
    )


def downgrade() -> None:
    op.drop_table('halls', schema='acceptance')
