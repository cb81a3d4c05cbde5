"""indexes for the hot paths several front processes share

``ix_session_platform_user``: every candidate message looks up the sender's latest
interview by (platform, user_id) -- without it PostgreSQL read the whole
``interviewsession`` table per event (found by ``bench scale --fronts``).
``ix_job_status_locked``: the Celery relay's republish pass finds queued jobs whose
publish is stale by (status, locked_at), beside the due-jobs index.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 20:05:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_session_platform_user",
        "interviewsession",
        ["platform", "user_id", "id"],
        unique=False,
    )
    op.create_index(
        "ix_job_status_locked", "backgroundjob", ["status", "locked_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_job_status_locked", table_name="backgroundjob")
    op.drop_index("ix_session_platform_user", table_name="interviewsession")
