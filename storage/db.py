"""Database engine, sessions and transactions on SQLite (default) and PostgreSQL."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from sqlmodel import Session, create_engine

from core.settings import Settings
from storage.crypto import Keyring, load_keyring
from storage.media import MediaStore
from storage.types import install_keyring

log = logging.getLogger(__name__)


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and ``BEGIN IMMEDIATE``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=NullPool if parsed.database in (None, "", ":memory:") else None,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's is too late).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            # Take the write lock up front: no deadlock upgrading a read to a write.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)


@dataclass
class Database:
    """The wired storage: engine, keyring and media store."""

    engine: Engine
    keyring: Keyring
    media: MediaStore

    def __post_init__(self) -> None:
        # SQLite has one writer at a time. Queueing writers on a lock in this process
        # avoids SQLite's busy handler, whose sleeps (up to 100 ms) make the tail slow.
        self._write_lock: contextlib.AbstractContextManager[object] = (
            threading.RLock() if self.engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commit on success, roll back on any exception."""
        with self._write_lock, Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"


def open_database(
    settings: Settings, *, url: str | None = None, keyring: Keyring | None = None
) -> Database:
    """Open the configured database and install the encryption keyring."""
    if keyring is None:
        data_key, old_key = settings.security.data_key, settings.security.data_key_old
        keyring = load_keyring(
            settings.security.key_file,
            data_key.get_secret_value() if data_key else None,
            old_key.get_secret_value() if old_key else None,
        )
    install_keyring(keyring)
    engine = make_engine(url or settings.database.url)
    media = MediaStore(settings.app.data_dir / "media", keyring)
    return Database(engine=engine, keyring=keyring, media=media)
