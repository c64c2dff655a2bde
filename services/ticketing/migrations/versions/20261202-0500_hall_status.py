"""hall status

Revision ID: c3d0e5d20500
Revises: 3c9e51d0a7f2
Create Date: 2026-12-02 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'c3d0e5d20500'
down_revision: str | None = '3c9e51d0a7f2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A hall may be closed down (撤并); its changes are counted and published as hall.published.
    op.add_column('halls', sa.Column('status', sa.String(length=10), server_default='open', nullable=False),
                  schema='ticketing')
    op.add_column('halls', sa.Column('version', sa.Integer(), server_default='1', nullable=False),
                  schema='ticketing')
    # Halls from before this revision were never published: version 1 > published 0, so the service
    # publishes each once at start-up (one replica wins the row, the others find nothing left).
    op.add_column('halls', sa.Column('published_version', sa.Integer(), server_default='0', nullable=False),
                  schema='ticketing')


def downgrade() -> None:
    op.drop_column('halls', 'published_version', schema='ticketing')
    op.drop_column('halls', 'version', schema='ticketing')
    op.drop_column('halls', 'status', schema='ticketing')
