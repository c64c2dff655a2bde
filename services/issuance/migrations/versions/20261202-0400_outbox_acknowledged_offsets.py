"""outbox: where the broker acknowledged each event (re-send after a broker loss); retention indexes

Revision ID: b1a68508c73b
Revises: 20cacd3fa1b2
Create Date: 2026-12-02 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b1a68508c73b"
down_revision: str | None = "20cacd3fa1b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "issuance"


def upgrade() -> None:
    op.add_column("outbox", sa.Column("broker_epoch", sa.String(length=64), nullable=True), schema=SCHEMA)
    op.add_column("outbox", sa.Column("kafka_partition", sa.Integer(), nullable=True), schema=SCHEMA)
    op.add_column("outbox", sa.Column("kafka_offset", sa.BigInteger(), nullable=True), schema=SCHEMA)
    op.add_column(
        "outbox", sa.Column("republished", sa.Integer(), server_default=sa.text("0"), nullable=False), schema=SCHEMA
    )
    op.create_index(
        "ix_outbox_published_at",
        "outbox",
        ["published_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("published_at IS NOT NULL"),
    )
    op.create_index("ix_inbox_handled_at", "inbox", ["handled_at"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_inbox_handled_at", table_name="inbox", schema=SCHEMA)
    op.drop_index("ix_outbox_published_at", table_name="outbox", schema=SCHEMA)
    for column in ("republished", "kafka_offset", "kafka_partition", "broker_epoch"):
        op.drop_column("outbox", column, schema=SCHEMA)
