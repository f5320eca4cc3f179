"""mailbox providers: a message's own id at its provider (Graph id, POP3 UIDL), positions as
big integers, and each mailbox's cursor (a Graph delta link); runs indexed by finish time

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ingested_messages") as batch:
        batch.alter_column("uid", type_=sa.BigInteger(), existing_nullable=False)
        batch.add_column(sa.Column("item_id", sa.String(), nullable=False, server_default=""))
        batch.create_index("ix_ingested_messages_item_id", ["item_id"])
    with op.batch_alter_table("mailbox_state") as batch:
        batch.add_column(sa.Column("cursor", sa.Text(), nullable=False, server_default=""))
    op.create_index("ix_runs_updated_at", "runs", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_updated_at", table_name="runs")
    with op.batch_alter_table("mailbox_state") as batch:
        batch.drop_column("cursor")
    with op.batch_alter_table("ingested_messages") as batch:
        batch.drop_index("ix_ingested_messages_item_id")
        batch.drop_column("item_id")
        batch.alter_column("uid", type_=sa.Integer(), existing_nullable=False)
