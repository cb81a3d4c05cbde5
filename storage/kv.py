"""A small key-value store in the database (``KeyValue``, values encrypted like every
field): adapters keep short-lived state here (pending media, button menus, delivery
claims) with an optional expiry, without knowing the table."""

from __future__ import annotations

import datetime as dt

from sqlmodel import col, select

from core.clock import as_utc
from storage.crypto import field_binding
from storage.db import Database
from storage.models import KeyValue


def kv_get(db: Database, key: str, now: dt.datetime) -> str | None:
    with db.transaction() as session:  # the in-process writer queue: no SQLite busy-wait
        row = session.get(KeyValue, key)
        if row is None or (row.expires_at is not None and as_utc(row.expires_at) <= now):
            return None
        return row.value


def kv_peek(db: Database, key: str) -> str | None:
    """The value of ``key`` without taking the writer lock (expiry not checked).

    On SQLite every ORM transaction starts with ``BEGIN IMMEDIATE`` (one writer at a
    time); a plain autocommit ``SELECT`` on the DBAPI connection reads the last
    committed state under WAL without waiting for that writer.
    """
    if not db.is_sqlite:
        with db.session() as session:
            row = session.get(KeyValue, key)
            return row.value if row is not None else None
    conn = db.engine.raw_connection()
    try:
        cursor = conn.cursor()
        cursor.execute(f"SELECT value FROM {KeyValue.__table__.name} WHERE key = ?", (key,))  # type: ignore[attr-defined]  # noqa: S608 - table name is ours
        found = cursor.fetchone()
        cursor.close()
    finally:
        conn.close()
    if not found or found[0] is None:
        return None
    binding = field_binding(KeyValue.__table__.name, "value", key)  # type: ignore[attr-defined]
    return db.keyring.decrypt_text(str(found[0]), binding)


def kv_put(db: Database, key: str, value: str, expires_at: dt.datetime | None) -> None:
    with db.transaction() as session:
        row = session.get(KeyValue, key)
        if row is None:
            row = KeyValue(key=key, value=value, expires_at=expires_at)
        row.value = value
        row.expires_at = expires_at
        session.add(row)


def kv_add(
    db: Database, key: str, value: str, expires_at: dt.datetime | None, now: dt.datetime
) -> bool:
    """Insert unless a live row exists; True if this call inserted it (a claim)."""
    with db.transaction() as session:
        row = session.get(KeyValue, key)
        if row is not None:
            if row.expires_at is None or as_utc(row.expires_at) > now:
                return False
            row.value = value
            row.expires_at = expires_at
        else:
            row = KeyValue(key=key, value=value, expires_at=expires_at)
        session.add(row)
        return True


def kv_delete(db: Database, key: str) -> None:
    with db.transaction() as session:
        row = session.get(KeyValue, key)
        if row is not None:
            session.delete(row)


def kv_live(db: Database, prefix: str, now: dt.datetime) -> list[str]:
    """The values of the keys starting with ``prefix`` that have not expired."""
    with db.transaction() as session:
        rows = session.exec(select(KeyValue).where(col(KeyValue.key).startswith(prefix))).all()
        return [r.value for r in rows if r.expires_at is None or as_utc(r.expires_at) > now]


def kv_purge_expired(db: Database, prefixes: tuple[str, ...], now: dt.datetime) -> int:
    """Delete the expired rows whose key starts with one of ``prefixes``; how many."""
    if not prefixes:
        return 0
    matches = col(KeyValue.key).startswith(prefixes[0])
    for prefix in prefixes[1:]:
        matches = matches | col(KeyValue.key).startswith(prefix)
    with db.transaction() as session:
        rows = session.exec(
            select(KeyValue).where(
                matches,
                col(KeyValue.expires_at).is_not(None),
                col(KeyValue.expires_at) <= now,
            )
        ).all()
        for row in rows:
            session.delete(row)
        return len(rows)
