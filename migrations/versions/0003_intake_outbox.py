"""intake outbox (and ingested messages findable by workflow id)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "intake_outbox",
        sa.Column("workflow_id", sa.String(), nullable=False),
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("task_queue", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("event", sa.String(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workflow_id"),
    )
    with op.batch_alter_table("intake_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_intake_outbox_status"), ["status"], unique=False)
    with op.batch_alter_table("ingested_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ingested_messages_workflow_id"), ["workflow_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ingested_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingested_messages_workflow_id"))
    with op.batch_alter_table("intake_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_intake_outbox_status"))
    op.drop_table("intake_outbox")
