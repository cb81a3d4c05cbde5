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


# ------------------------------------------------------ encrypted field binding
# The encrypted columns as of this revision: table -> (primary key, row key, columns).
# The row key is what storage/types.py binds a table's fields to (written out here,
# like the binding's format, so this step never changes with the models).
_ENCRYPTED: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "candidate": ("id", "id", ("name", "phone", "email", "id_number", "address", "resume_text")),
    "invitation": ("id", "id", ("code",)),
    "answer": ("id", "id", ("text",)),
    "inboxevent": ("id", "event_id", ("payload",)),
    "outboxmessage": ("id", "id", ("payload",)),
    "keyvalue": ("key", "key", ("value",)),
    "contract": ("id", "id", ("terms_json", "decline_reason")),
    "contract_signing_event": ("id", "id", ("detail",)),
    "employee": ("id", "id", ("name",)),
    "schedule_reminder": ("id", "id", ("payload",)),
}
_BATCH = 500


def _binding(table: str, column: str, row_key: object) -> bytes:
    return f"{table}|{column}|{row_key}".encode()


def _rewrap(*, bind_rows: bool) -> None:
    """Re-encrypt every field from ``e1`` (no associated data) to ``e2`` (bound to its
    table, column and row), or back. Batches of rows, conditional on the old value."""
    from storage.types import current_keyring  # the keyring of `python main.py db upgrade`

    old, new = ("e1:", "e2:") if bind_rows else ("e2:", "e1:")
    conn = op.get_bind()
    present = set(sa.inspect(conn).get_table_names())
    for name, (pk_name, key_name, names) in _ENCRYPTED.items():
        if name not in present:
            continue
        keys = [pk_name] if key_name == pk_name else [pk_name, key_name]
        table = sa.table(
            name, *(sa.column(c) for c in keys), *(sa.column(c, sa.Text) for c in names)
        )
        pk, key = table.c[pk_name], table.c[key_name]
        cols = [table.c[c] for c in names]
        last: object = None
        while True:
            query = (
                sa.select(pk, key, *cols)
                .select_from(table)
                .where(sa.or_(*(c.startswith(old) for c in cols)))
                .order_by(pk)
                .limit(_BATCH)
            )
            if last is not None:
                query = query.where(pk > last)
            rows = conn.execute(query).all()
            if not rows:
                break
            ring = current_keyring()
            last = rows[-1][0]
            for row in rows:
                for column, token in zip(names, row[2:], strict=True):
                    if token is None or not token.startswith(old):
                        continue
                    binding = _binding(name, column, row[1])
                    if bind_rows:
                        value = ring.encrypt_text(ring.decrypt_text(token), binding)
                    else:
                        value = ring.encrypt_text(ring.decrypt_text(token, binding))
                    conn.execute(
                        sa.update(table)
                        .where(pk == row[0], table.c[column] == token)
                        .values({column: value})
                    )


def bind_encrypted_fields() -> None:
    """Encrypted fields are bound to their table, column and row (AES-GCM associated
    data, see storage/types.py): every ``e1`` field is rewrapped as ``e2``.

    Needs the data key: run it with ``python main.py db upgrade`` (or the app's start),
    which load it. Fields an old process writes meanwhile stay readable (``e1`` is still
    read) and ``keys rotate`` rewraps them.
    """
    _rewrap(bind_rows=True)


def unbind_encrypted_fields() -> None:
    """Back to ``e1`` fields, which the code before this revision reads."""
    _rewrap(bind_rows=False)


UPGRADE_STEPS: list[Callable[[], None]] = [
    hash_invitation_tokens,
    bind_encrypted_fields,
]
DOWNGRADE_STEPS: list[Callable[[], None]] = [
    unhash_invitation_tokens,
    unbind_encrypted_fields,
]


def upgrade() -> None:
    for step in UPGRADE_STEPS:
        step()


def downgrade() -> None:
    for step in reversed(DOWNGRADE_STEPS):
        step()
