"""pickup identity checks (one-time pickup codes, the checks' audit trail) and the halls read model

Revision ID: 4e7b2c9f1a13
Revises: 4e7b2c9f1a06
Create Date: 2026-12-02 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4e7b2c9f1a13"
down_revision: str | None = "4e7b2c9f1a06"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "halls",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("hall_version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_halls")),
        schema="issuance",
    )
    op.create_table(
        "pickup_codes",
        sa.Column("application_id", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("salt", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("application_id", name=op.f("pk_pickup_codes")),
        schema="issuance",
    )
    op.create_table(
        "pickup_checks",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("application_id", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("hall", sa.String(length=32), nullable=False),
        sa.Column("clerk", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pickup_checks")),
        schema="issuance",
    )
    op.create_index(
        "ix_pickup_checks_application_at", "pickup_checks", ["application_id", "at"], schema="issuance"
    )


def downgrade() -> None:
    op.drop_index("ix_pickup_checks_application_at", "pickup_checks", schema="issuance")
    op.drop_table("pickup_checks", schema="issuance")
    op.drop_table("pickup_codes", schema="issuance")
    op.drop_table("halls", schema="issuance")
