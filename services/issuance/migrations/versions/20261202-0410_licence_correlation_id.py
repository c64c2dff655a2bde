"""licence correlation id

Revision ID: 4e7b2c9f1a06
Revises: b1a68508c73b
Create Date: 2026-12-02 04:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4e7b2c9f1a06"
down_revision: str | None = "b1a68508c73b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("licences", sa.Column("correlation_id", sa.String(length=200), nullable=True), schema="issuance")
    # licences issued before this show their application's flow id
    op.execute(
        """
        UPDATE issuance.licences l SET correlation_id = a.correlation_id
        FROM issuance.applications a
        WHERE a.application_id = l.application_id AND l.correlation_id IS NULL
        """
    )


def downgrade() -> None:
    op.drop_column("licences", "correlation_id", schema="issuance")
