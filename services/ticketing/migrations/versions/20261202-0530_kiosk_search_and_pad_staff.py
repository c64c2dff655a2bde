"""kiosk search and pad staff

Revision ID: c3d0e5d20530
Revises: c3d0e5d20500
Create Date: 2026-12-02 05:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = 'c3d0e5d20530'
down_revision: str | None = 'c3d0e5d20500'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The window pad shows the signed-in clerk's staff number (工号) and unit besides the name.
    op.add_column('windows', sa.Column('staff_no', sa.String(length=20), nullable=True), schema='ticketing')
    op.add_column('windows', sa.Column('staff_unit', sa.String(length=100), nullable=True), schema='ticketing')

    # Kiosk search keys of the matter read model, computed when a matter is recorded.
    for column in ('pinyin_initials', 'pinyin_full'):
        op.add_column('matters', sa.Column(column, postgresql.JSONB(astext_type=sa.Text()),
                                           server_default='[]', nullable=False), schema='ticketing')
    # Matters recorded before this revision get their keys now (the next catalogue version would too).
    from services.ticketing.search import pinyin_keys

    bind = op.get_bind()
    matters = sa.table('matters', sa.column('code', sa.String), sa.column('name', sa.String),
                       sa.column('pinyin_initials', postgresql.JSONB), sa.column('pinyin_full', postgresql.JSONB),
                       schema='ticketing')
    for code, name in bind.execute(sa.select(matters.c.code, matters.c.name)).all():
        initials, full = pinyin_keys(name)
        bind.execute(matters.update().where(matters.c.code == code)
                     .values(pinyin_initials=initials, pinyin_full=full))


def downgrade() -> None:
    op.drop_column('matters', 'pinyin_full', schema='ticketing')
    op.drop_column('matters', 'pinyin_initials', schema='ticketing')
    op.drop_column('windows', 'staff_unit', schema='ticketing')
    op.drop_column('windows', 'staff_no', schema='ticketing')
