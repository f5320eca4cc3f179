"""ordered contracts are claimed at the order guard and settled at finalize, by workflow id

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_ordered_contracts_workflow_id", "ordered_contracts", ["workflow_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_ordered_contracts_workflow_id", table_name="ordered_contracts")
