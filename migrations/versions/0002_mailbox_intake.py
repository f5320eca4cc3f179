"""mailbox intake

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ingested_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox", sa.String(), nullable=False),
        sa.Column("folder", sa.String(), nullable=False),
        sa.Column("uidvalidity", sa.Integer(), nullable=False),
        sa.Column("uid", sa.Integer(), nullable=False),
        sa.Column("content_sha256", sa.String(), nullable=False),
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("workflow_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("mailbox", "folder", "uidvalidity", "uid", name="uq_ingested_position"),
    )
    with op.batch_alter_table("ingested_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ingested_messages_content_sha256"), ["content_sha256"], unique=True
        )
        batch_op.create_index(
            batch_op.f("ix_ingested_messages_message_id"), ["message_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_ingested_messages_status"), ["status"], unique=False)

    op.create_table(
        "mailbox_state",
        sa.Column("mailbox", sa.String(), nullable=False),
        sa.Column("folder", sa.String(), nullable=False),
        sa.Column("uidvalidity", sa.Integer(), nullable=False),
        sa.Column("last_uid", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("mailbox", "folder"),
    )


def downgrade() -> None:
    op.drop_table("mailbox_state")
    with op.batch_alter_table("ingested_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingested_messages_status"))
        batch_op.drop_index(batch_op.f("ix_ingested_messages_message_id"))
        batch_op.drop_index(batch_op.f("ix_ingested_messages_content_sha256"))

    op.drop_table("ingested_messages")
