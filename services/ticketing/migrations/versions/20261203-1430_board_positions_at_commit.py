"""call-board positions handed out at commit (board_pending and a deferred trigger)

Revision ID: c3d0e5d21430
Revises: c3d0e5d21400
Create Date: 2026-12-03 14:30:00

A call is written to ``board_pending``; a constraint trigger deferred to COMMIT takes the hall's next
position and moves the row to ``board_calls``. The hall's counter row is locked from there to the end
of the commit, inside PostgreSQL: positions stay in commit order (a board that showed n has seen every
call committed before it), but no call of the hall waits any longer for another one's request to finish
its Python and send COMMIT (30 windows calling queued on that lock).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'c3d0e5d21430'
down_revision: str | None = 'c3d0e5d21400'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'board_pending',
        sa.Column('id', sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column('hall', sa.String(length=40), nullable=False),
        sa.Column('ticket_id', sa.UUID(), nullable=False),
        sa.Column('number', sa.String(length=12), nullable=False),
        sa.Column('zone', sa.String(length=8), nullable=False),
        sa.Column('window', sa.String(length=40), nullable=False),
        sa.Column('matter_code', sa.String(length=40), nullable=False),
        sa.Column('called_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('recall', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_board_pending')),
        schema='ticketing',
    )
    op.execute("""
        CREATE FUNCTION ticketing.post_board_call() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            position bigint;
        BEGIN
            INSERT INTO ticketing.board_counters AS c (hall, last) VALUES (NEW.hall, 1)
                ON CONFLICT (hall) DO UPDATE SET last = c.last + 1
                RETURNING c.last INTO position;
            INSERT INTO ticketing.board_calls (hall, seq, ticket_id, number, zone, "window", matter_code, called_at,
                                               recall)
                VALUES (NEW.hall, position, NEW.ticket_id, NEW.number, NEW.zone, NEW."window", NEW.matter_code,
                        NEW.called_at, NEW.recall);
            DELETE FROM ticketing.board_pending WHERE id = NEW.id;
            RETURN NULL;
        END $$
    """)
    op.execute("""
        CREATE CONSTRAINT TRIGGER board_pending_post AFTER INSERT ON ticketing.board_pending
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ticketing.post_board_call()
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER board_pending_post ON ticketing.board_pending")
    op.execute("DROP FUNCTION ticketing.post_board_call()")
    op.drop_table('board_pending', schema='ticketing')
