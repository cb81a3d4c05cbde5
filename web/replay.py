"""Callback replay guard: each signed (timestamp, nonce, signature) is accepted once.

WeChat and WeCom sign a callback's query with a timestamp and a nonce; a signature is
valid for the whole freshness window (5 minutes either side), so anyone who saw one
callback URL (a proxy log, plain HTTP) could post it again. The guard remembers every
triple it accepted for the whole window, shared by every process (the database's
``KeyValue`` table, or Redis when ``[app] redis_url`` is set):

* a new triple is recorded with a digest of its body, and the callback goes on;
* the same triple with the same body is WeChat retrying: it is answered ``success``
  and goes through the store step again, where the inbox and the media claim drop it
  as a duplicate, so nothing is processed twice, and a retry after a 503 whose first
  store failed is still not lost;
* the same triple with another body is a forgery riding on a seen signature: 403.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import logging
import threading
from typing import Any, Protocol

from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from storage.db import Database, table_of
from storage.models import KeyValue

log = logging.getLogger(__name__)

PREFIX = "replay:"
PURGE_EVERY = 200  # records between two purges of expired triples (database store)


class Seen(enum.Enum):
    NEW = "new"  # first time: go on
    RETRY = "retry"  # same triple, same body: success; the inbox drops the duplicate
    FORGED = "forged"  # same triple, another body: 403


def triple_key(channel: str, timestamp: str, nonce: str, signature: str) -> str:
    raw = f"{channel}\x00{timestamp}\x00{nonce}\x00{signature}".encode()
    return PREFIX + hashlib.sha256(raw).hexdigest()[:48]


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class ReplayStore(Protocol):
    def record(self, key: str, digest: str, expires_at: dt.datetime, now: dt.datetime) -> Seen:
        """Record ``key`` with ``digest`` unless it is there already; say which case."""
        ...


class DatabaseReplayStore:
    """Triples in ``KeyValue`` (primary key: one insert decides, across processes)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._count = 0
        self._lock = threading.Lock()
        self._table = table_of(KeyValue)

    def record(self, key: str, digest: str, expires_at: dt.datetime, now: dt.datetime) -> Seen:
        table = self._table
        row = {"key": key, "value": digest, "expires_at": expires_at}
        with self.db.transaction() as session:
            # INSERT … ON CONFLICT DO NOTHING: a racer's uncommitted insert makes this one
            # wait, then do nothing; exactly one of them inserts.
            inserted = session.execute(self._insert, row).first()
            if inserted is not None:
                found = None
            else:
                # A record past its window (not purged yet) is taken over by one
                # conditional UPDATE: a racer's UPDATE waits for the row lock, then finds
                # the window renewed and matches nothing.
                taken = session.execute(
                    update(table)
                    .where(table.c.key == key, table.c.expires_at <= now)
                    .returning(table.c.key),
                    {"value": digest, "expires_at": expires_at},
                ).first()
                if taken is not None:
                    found = None
                else:
                    existing = session.get(KeyValue, key, populate_existing=True)
                    found = existing.value if existing is not None else ""
        self._maybe_purge(now)
        if found is None:
            return Seen.NEW
        return Seen.RETRY if found == digest else Seen.FORGED

    @property
    def _insert(self) -> Any:
        dialect = self.db.engine.dialect.name
        if dialect == "postgresql":
            stmt: Any = postgresql.insert(self._table)
        elif dialect == "sqlite":
            stmt = sqlite.insert(self._table)
        else:
            raise NotImplementedError(f"no replay store for {dialect}")  # settings allow only these
        # RETURNING says whether this statement inserted (rowcount is -1 on some drivers).
        return stmt.on_conflict_do_nothing(index_elements=["key"]).returning(self._table.c.key)

    def _maybe_purge(self, now: dt.datetime) -> None:
        with self._lock:
            self._count += 1
            if self._count % PURGE_EVERY:
                return
        with self.db.transaction() as session:
            session.execute(
                delete(self._table).where(
                    col(KeyValue.key).startswith(PREFIX), col(KeyValue.expires_at) < now
                )
            )


class RedisLike(Protocol):
    def set(self, name: str, value: str, *, nx: bool = ..., ex: int | None = ...) -> object: ...

    def get(self, name: str) -> bytes | str | None: ...


class RedisReplayStore:
    """Triples in Redis: ``SET NX EX`` decides, the key expires with the window."""

    def __init__(self, redis: RedisLike) -> None:
        self.redis = redis

    def record(self, key: str, digest: str, expires_at: dt.datetime, now: dt.datetime) -> Seen:
        ttl = max(1, int((expires_at - now).total_seconds()))
        if self.redis.set(key, digest, nx=True, ex=ttl):
            return Seen.NEW
        found = self.redis.get(key)
        text = found.decode() if isinstance(found, bytes) else (found or "")
        return Seen.RETRY if text == digest else Seen.FORGED


def replay_store(db: Database, redis_url: str | None) -> ReplayStore:
    """Redis when configured (several front processes share it), else the database."""
    if redis_url:
        import redis

        return RedisReplayStore(redis.Redis.from_url(redis_url))
    return DatabaseReplayStore(db)
