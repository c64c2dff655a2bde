"""ticket correlation id and call board

Revision ID: 3c9e51d0a7f2
Revises: b11aa8c9fc11
Create Date: 2026-12-02 04:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '3c9e51d0a7f2'
down_revision: str | None = 'b11aa8c9fc11'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A ticket owns its flow's correlation id; tickets issued before this are named after themselves.
    op.add_column('tickets', sa.Column('correlation_id', sa.String(length=100), nullable=True), schema='ticketing')
    op.execute("UPDATE ticketing.tickets SET correlation_id = id::text WHERE correlation_id IS NULL")
    op.alter_column('tickets', 'correlation_id', nullable=False, schema='ticketing')

    # The call board follows commit-ordered positions instead of call times.
    op.create_table('board_counters',
    sa.Column('hall', sa.String(length=40), nullable=False),
    sa.Column('last', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('hall', name=op.f('pk_board_counters')),
    schema='ticketing'
    )
    op.create_table('board_calls',
    sa.Column('hall', sa.String(length=40), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('ticket_id', sa.UUID(), nullable=False),
    sa.Column('number', sa.String(length=12), nullable=False),
    sa.Column('zone', sa.String(length=8), nullable=False),
    sa.Column('window', sa.String(length=40), nullable=False),
    sa.Column('matter_code', sa.String(length=40), nullable=False),
    sa.Column('called_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recall', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('hall', 'seq', name=op.f('pk_board_calls')),
    schema='ticketing'
    )
    # Boards that connect right after the upgrade still get a backlog: the last day's calls, in call order.
    op.execute(
        """
        INSERT INTO ticketing.board_calls (hall, seq, ticket_id, number, zone, "window", matter_code, called_at, recall)
        SELECT hall, row_number() OVER (PARTITION BY hall ORDER BY last_called_at, id), id, number, zone,
               "window", matter_code, last_called_at, call_count > 1
        FROM ticketing.tickets
        WHERE last_called_at > now() - interval '1 day' AND "window" IS NOT NULL
        """
    )
    op.execute(
        """
        INSERT INTO ticketing.board_counters (hall, last)
        SELECT hall, max(seq) FROM ticketing.board_calls GROUP BY hall
        """
    )
    op.drop_index('ix_tickets_called', table_name='tickets', schema='ticketing')


def downgrade() -> None:
    op.create_index('ix_tickets_called', 'tickets', ['hall', 'last_called_at'], unique=False, schema='ticketing')
    op.drop_table('board_calls', schema='ticketing')
    op.drop_table('board_counters', schema='ticketing')
    op.drop_column('tickets', 'correlation_id', schema='ticketing')
