"""stamps for the in-process read models of windows and matters; the zone queue index; waiting-ticket
notifications

Revision ID: c3d0e5d21400
Revises: c3d0e5d20613
Create Date: 2026-12-03 14:00:00

Every change of a hall's windows bumps ``halls.windows_stamp``, every change of the matter read model
bumps the ``matters`` row of ``read_model_stamps``, in the same transaction, by trigger: no code path
(admin route, sign-in, consumer, a hand-written UPDATE) can change them without the stamp moving, so a
process that holds a copy of them (read_models.py) knows it is stale with one indexed read.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'c3d0e5d21400'
down_revision: str | None = 'c3d0e5d20613'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # a zone's queue in calling order (pick_next walks it instead of sorting every waiting ticket)
    op.create_index('ix_tickets_zone_queue', 'tickets', ['hall', 'zone', sa.text('priority DESC'), 'queue_at', 'id'],
                    schema='ticketing', postgresql_where=sa.text("status = 'waiting'"))
    op.add_column('halls', sa.Column('windows_stamp', sa.BigInteger(), nullable=False, server_default='0'),
                  schema='ticketing')
    op.create_table(
        'read_model_stamps',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('stamp', sa.BigInteger(), nullable=False, server_default='0'),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_read_model_stamps')),
        schema='ticketing',
    )
    op.execute("INSERT INTO ticketing.read_model_stamps (name, stamp) VALUES ('matters', 0)")
    op.execute("""
        CREATE FUNCTION ticketing.bump_windows_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                UPDATE ticketing.halls SET windows_stamp = windows_stamp + 1 WHERE code = OLD.hall;
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') AND (TG_OP = 'INSERT' OR NEW.hall IS DISTINCT FROM OLD.hall) THEN
                UPDATE ticketing.halls SET windows_stamp = windows_stamp + 1 WHERE code = NEW.hall;
            END IF;
            RETURN NULL;
        END $$
    """)
    op.execute("""
        CREATE TRIGGER windows_stamp AFTER INSERT OR UPDATE OR DELETE ON ticketing.windows
        FOR EACH ROW EXECUTE FUNCTION ticketing.bump_windows_stamp()
    """)
    op.execute("""
        CREATE FUNCTION ticketing.bump_matters_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE ticketing.read_model_stamps SET stamp = stamp + 1 WHERE name = 'matters';
            RETURN NULL;
        END $$
    """)
    op.execute("""
        CREATE TRIGGER matters_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ticketing.matters
        FOR EACH STATEMENT EXECUTE FUNCTION ticketing.bump_matters_stamp()
    """)


    # A ticket that starts or resumes waiting wakes an idle window (wakeups.py): a notification sent at the
    # commit of that change, whichever code path made it.
    op.execute("""
        CREATE FUNCTION ticketing.announce_waiting() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('ticketing_waiting', concat_ws(chr(31), NEW.hall, NEW.zone, NEW.matter_code,
                                                              NEW.category));
            RETURN NULL;
        END $$
    """)
    op.execute("""
        CREATE TRIGGER tickets_waiting AFTER INSERT OR UPDATE OF status, zone, matter_code ON ticketing.tickets
        FOR EACH ROW WHEN (NEW.status = 'waiting') EXECUTE FUNCTION ticketing.announce_waiting()
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER tickets_waiting ON ticketing.tickets")
    op.execute("DROP FUNCTION ticketing.announce_waiting()")
    op.execute("DROP TRIGGER matters_stamp ON ticketing.matters")
    op.execute("DROP FUNCTION ticketing.bump_matters_stamp()")
    op.execute("DROP TRIGGER windows_stamp ON ticketing.windows")
    op.execute("DROP FUNCTION ticketing.bump_windows_stamp()")
    op.drop_table('read_model_stamps', schema='ticketing')
    op.drop_column('halls', 'windows_stamp', schema='ticketing')
    op.drop_index('ix_tickets_zone_queue', table_name='tickets', schema='ticketing')
