"""profile reads: outcome (read | refused), hall, department and service of reads other services report,
and the reader index for a clerk's budget

Revision ID: b1de6ba4e8a0
Revises: b1de6ba4e89b
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b1de6ba4e8a0"
down_revision: str | None = "b1de6ba4e89b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "profile_reads",
        sa.Column("outcome", sa.String(length=10), server_default="read", nullable=False),
        schema="forms",
    )
    op.add_column("profile_reads", sa.Column("hall", sa.String(length=40), nullable=True), schema="forms")
    op.add_column("profile_reads", sa.Column("department", sa.String(length=40), nullable=True), schema="forms")
    op.add_column(
        "profile_reads",
        sa.Column("service", sa.String(length=20), server_default="forms", nullable=False),
        schema="forms",
    )
    op.create_index("ix_profile_reads_reader_at", "profile_reads", ["reader", "at"], schema="forms")


def downgrade() -> None:
    op.drop_index("ix_profile_reads_reader_at", table_name="profile_reads", schema="forms")
    for column in ("service", "department", "hall", "outcome"):
        op.drop_column("profile_reads", column, schema="forms")
