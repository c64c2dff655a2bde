"""ticket channels, rating secret, web proofs

Revision ID: c3d0e5d20613
Revises: c3d0e5d20530
Create Date: 2026-12-02 06:13:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'c3d0e5d20613'
down_revision: str | None = 'c3d0e5d20530'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Web tickets of logged-in applicants carry who took them (a cap of waiting tickets per applicant).
    op.add_column('tickets', sa.Column('applicant_id', sa.String(length=40), nullable=True), schema='ticketing')
    op.create_index('ix_tickets_applicant_waiting', 'tickets', ['applicant_id', 'business_day'], schema='ticketing',
                    postgresql_where=sa.text("applicant_id IS NOT NULL AND status = 'waiting'"))
    # Only the hash of the rating secret handed out with the ticket; older tickets have none (not ratable).
    op.add_column('tickets', sa.Column('rating_secret_hash', sa.String(length=64), nullable=True),
                  schema='ticketing')
    # Captcha proofs already used for anonymous web tickets, until they expire.
    op.create_table(
        'web_proofs',
        sa.Column('nonce', sa.String(length=64), nullable=False),
        sa.Column('hall', sa.String(length=40), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('nonce', name=op.f('pk_web_proofs')),
        schema='ticketing',
    )
    op.create_index('ix_web_proofs_expires', 'web_proofs', ['expires_at'], schema='ticketing')


def downgrade() -> None:
    op.drop_index('ix_web_proofs_expires', table_name='web_proofs', schema='ticketing')
    op.drop_table('web_proofs', schema='ticketing')
    op.drop_column('tickets', 'rating_secret_hash', schema='ticketing')
    op.drop_index('ix_tickets_applicant_waiting', table_name='tickets', schema='ticketing')
    op.drop_column('tickets', 'applicant_id', schema='ticketing')
