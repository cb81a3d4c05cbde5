"""security

Each change is one step function; :func:`upgrade` runs them in order.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 08:30:00
"""

import hashlib
import re
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HEX64 = re.compile(r"[0-9a-f]{64}")
_JOBS = sa.table(
    "backgroundjob",
    sa.column("id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("payload", sa.JSON),
)


# ------------------------------------------------------------ invitation tokens
def hash_invitation_tokens() -> None:
    """Invitations keep only the SHA-256 of their link's token (``token`` -> ``token_hash``).

    Links handed out before keep working: ``/start`` looks up the hash of the token it
    is given. The plaintext token in WeChat QR job payloads is dropped; such a job still
    waiting gives its invitation a new token when it runs (if it is not opened yet).
    The hash is written out here rather than imported, so this step never changes.
    """
    bind = op.get_bind()
    op.drop_index("ix_invitation_token", table_name="invitation")
    op.execute(sa.text("ALTER TABLE invitation RENAME COLUMN token TO token_hash"))
    rows = bind.execute(sa.text("SELECT id, token_hash FROM invitation")).all()
    hashed = [
        {"row_id": row_id, "digest": hashlib.sha256(token.encode("utf-8")).hexdigest()}
        for row_id, token in rows
        if not _HEX64.fullmatch(token)
    ]
    if hashed:
        bind.execute(
            sa.text("UPDATE invitation SET token_hash = :digest WHERE id = :row_id"), hashed
        )
    op.create_index("ix_invitation_token_hash", "invitation", ["token_hash"], unique=True)
    for job_id, payload in bind.execute(
        sa.select(_JOBS.c.id, _JOBS.c.payload).where(_JOBS.c.kind == "wechat_invite_qr")
    ).all():
        if isinstance(payload, dict) and "token" in payload:
            clean = {k: v for k, v in payload.items() if k != "token"}
            bind.execute(sa.update(_JOBS).where(_JOBS.c.id == job_id).values(payload=clean))


def unhash_invitation_tokens() -> None:
    """Back to ``token``; the hashes stay, so links issued before no longer open."""
    op.drop_index("ix_invitation_token_hash", table_name="invitation")
    op.execute(sa.text("ALTER TABLE invitation RENAME COLUMN token_hash TO token"))
    op.create_index("ix_invitation_token", "invitation", ["token"], unique=True)


UPGRADE_STEPS: list[Callable[[], None]] = [
    hash_invitation_tokens,
]
DOWNGRADE_STEPS: list[Callable[[], None]] = [
    unhash_invitation_tokens,
]


def upgrade() -> None:
    for step in UPGRADE_STEPS:
        step()


def downgrade() -> None:
    for step in reversed(DOWNGRADE_STEPS):
        step()
