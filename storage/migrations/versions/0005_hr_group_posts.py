"""hr group posts: a per-group budget, digests and /notify

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 15:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "grouppost",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("chat_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("klass", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("ref", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column("payload", storage.types.EncryptedText(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("released_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("grouppost", schema=None) as batch_op:
        batch_op.create_index(
            "ix_grouppost_chat_status", ["platform", "chat_id", "status"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_grouppost_job_id"), ["job_id"], unique=False)
        batch_op.create_index("ix_grouppost_job_created", ["job_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_grouppost_ref"), ["ref"], unique=False)
    with op.batch_alter_table("outboxmessage", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_chat_created", ["chat_id", "created_at"], unique=False)
    with op.batch_alter_table("groupbinding", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "notify",
                sqlmodel.sql.sqltypes.AutoString(length=10),
                nullable=False,
                server_default="auto",
            )
        )
        batch_op.add_column(
            sa.Column("digest_cursor", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("digest_at", storage.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("status_sent", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("groupbinding", schema=None) as batch_op:
        batch_op.drop_column("status_sent")
        batch_op.drop_column("digest_at")
        batch_op.drop_column("digest_cursor")
        batch_op.drop_column("notify")
    with op.batch_alter_table("outboxmessage", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_chat_created")
    with op.batch_alter_table("grouppost", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grouppost_ref"))
        batch_op.drop_index("ix_grouppost_job_created")
        batch_op.drop_index(batch_op.f("ix_grouppost_job_id"))
        batch_op.drop_index("ix_grouppost_chat_status")
    op.drop_table("grouppost")
