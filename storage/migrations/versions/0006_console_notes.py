"""console notes; the candidates table's sort index

``candidatenote``: notes HR writes about a candidate in the web console (author, time,
the text encrypted like every personal field). ``ix_candidatescore_job_total``: the
console's candidates table pages a job's candidates sorted by AI total.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 18:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from storage.types import EncryptedText, UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "candidatenote",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("author", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("text", EncryptedText(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["candidate_id"], ["candidate.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_candidatenote_candidate_created",
        "candidatenote",
        ["candidate_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_candidatescore_job_total", "candidatescore", ["job_id", "total"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_candidatescore_job_total", table_name="candidatescore")
    op.drop_index("ix_candidatenote_candidate_created", table_name="candidatenote")
    op.drop_table("candidatenote")
