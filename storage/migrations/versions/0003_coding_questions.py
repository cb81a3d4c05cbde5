"""coding questions

A question may be a coding question: ``question.coding`` holds its language, limits,
starter code, examples, hidden tests and reference solution as JSON (``{}`` for the
spoken and written questions).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 15:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("question") as batch:
        batch.add_column(sa.Column("coding", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("question") as batch:
        batch.drop_column("coding")
