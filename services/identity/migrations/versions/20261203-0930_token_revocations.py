"""token revocations: a subject's tokens issued up to a time are void (logout, admin revoke)

Revision ID: b144e16b0600
Revises: b144e16b0537
Create Date: 2026-12-03 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b144e16b0600"
down_revision: str | None = "b144e16b0537"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "token_revocations",
        sa.Column("subject_hash", sa.String(length=64), nullable=False),
        sa.Column("revoked_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("subject_hash", name=op.f("pk_token_revocations")),
        schema="identity",
    )


def downgrade() -> None:
    op.drop_table("token_revocations", schema="identity")
