"""coding questions

A question may be a coding question: ``question.coding`` holds its language, limits,
starter code, examples, hidden tests and reference solution as JSON (``{}`` for the
spoken and written questions). ``codinglink``: the phone coding pages' tokens (hashed)
and drafts (encrypted).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 15:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.types import EncryptedText, UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("question") as batch:
        batch.add_column(sa.Column("coding", sa.JSON(), nullable=False, server_default="{}"))
    op.create_table(
        "codinglink",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("draft", EncryptedText(), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["question_id"], ["question.id"]),
        sa.ForeignKeyConstraint(["session_id"], ["interviewsession.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_codinglink_token_hash", "codinglink", ["token_hash"], unique=True)
    op.create_index("ix_codinglink_session_id", "codinglink", ["session_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_codinglink_session_id", table_name="codinglink")
    op.drop_index("ix_codinglink_token_hash", table_name="codinglink")
    op.drop_table("codinglink")
    with op.batch_alter_table("question") as batch:
        batch.drop_column("coding")
