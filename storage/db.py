"""Database engine, sessions and transactions on SQLite (default) and PostgreSQL."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Insert, Table, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from sqlmodel import Session, SQLModel, create_engine

from core.settings import Settings
from storage.crypto import Keyring, load_keyring
from storage.media import MediaStore
from storage.private import private_file, tighten_sqlite, tighten_tree
from storage.types import bind_rows, install_keyring

log = logging.getLogger(__name__)

# SQLite checkpoints (copying the WAL back into the database file, with an fsync) run in
# a background thread of the process (see :class:`_Checkpointer`), not inside a commit
# where they would hold the write lock for tens of milliseconds. A commit checkpoints
# by itself only if the WAL grows past this many pages (a safety net, ~64 MB).
WAL_AUTOCHECKPOINT_PAGES = 16_000
CHECKPOINT_INTERVAL_S = 0.5


def make_engine(
    url: str,
    *,
    echo: bool = False,
    pool_size: int = 10,
    max_overflow: int = 20,
    synchronous_commit: str = "on",
) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and ``BEGIN IMMEDIATE``.

    Every engine binds encrypted fields to their rows (:func:`storage.types.bind_rows`).
    """
    engine = _make_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=max_overflow,
        synchronous_commit=synchronous_commit,
    )
    event.listen(engine, "before_execute", bind_rows, retval=True)
    return engine


def _make_engine(
    url: str, *, echo: bool, pool_size: int, max_overflow: int, synchronous_commit: str
) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        on_disk: Path | None = None
        if (
            parsed.database
            and parsed.database != ":memory:"
            and not parsed.database.startswith("file:")
        ):
            # Owner-only before SQLite opens it: the -wal and -shm files it makes later
            # take the database file's mode, whatever the umask.
            on_disk = private_file(Path(parsed.database))
            tighten_sqlite(on_disk)
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
            cur.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            cur.close()
            if on_disk is not None:  # the WAL exists now; a loosened one is fixed here
                tighten_sqlite(on_disk)

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            # Take the write lock up front: no deadlock upgrading a read to a write.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if synchronous_commit not in ("on", "off"):
        raise ValueError(f"synchronous_commit: on or off, not {synchronous_commit!r}")
    engine = create_engine(
        url, echo=echo, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow
    )

    @event.listens_for(engine, "connect")
    def _on_pg_connect(dbapi_conn: Any, _record: Any) -> None:
        # Once per connection, not per transaction (and not as a startup option,
        # which PgBouncer refuses).
        with dbapi_conn.cursor() as cur:
            cur.execute(f"SET synchronous_commit = {synchronous_commit}")
        dbapi_conn.commit()

    return engine


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
        self._checkpointer: _Checkpointer | None = None
        path = self.engine.url.database if self.engine.dialect.name == "sqlite" else None
        if path and path != ":memory:" and not path.startswith("file:"):
            checkpointer = _Checkpointer(path, CHECKPOINT_INTERVAL_S)
            # Stops when this Database is garbage collected; the thread holds no reference.
            weakref.finalize(self, checkpointer.stop)
            checkpointer.start()
            self._checkpointer = checkpointer

    def close(self) -> None:
        """Stop the background checkpoints (their connection closed) and close the pool."""
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer.join(timeout=5)
            self._checkpointer = None
        self.engine.dispose()

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


class _Checkpointer(threading.Thread):
    """Checkpoints the WAL every ``interval`` seconds on its own connection.

    ``PASSIVE`` never waits for readers or writers, and the sqlite3 module releases the
    GIL while it copies and fsyncs, so event handling goes on meanwhile. Durability is
    unchanged: a commit is in the WAL before it returns, checkpointed or not.
    """

    def __init__(self, path: str, interval: float) -> None:
        super().__init__(name="sqlite-checkpoint", daemon=True)
        self.path = path
        self.interval = interval
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while not self._stopping.wait(self.interval):
                if conn is None:
                    if not Path(self.path).exists():
                        continue  # not created yet (mode=rw never creates a file)
                    conn = sqlite3.connect(
                        f"file:{self.path}?mode=rw", uri=True, timeout=0, isolation_level=None
                    )
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # file removed, disk trouble: commits checkpoint instead
            log.warning("background WAL checkpoints stopped: %s", type(exc).__name__)
        finally:
            if conn is not None:
                conn.close()


def open_database(
    settings: Settings, *, url: str | None = None, keyring: Keyring | None = None
) -> Database:
    """Open the configured database and install the encryption keyring.

    Raises:
        sqlalchemy.exc.OperationalError: the database cannot be reached (said before a
            data key is generated for a database that is not there).
    """
    # Personal data, media and keys live here: owner-only, also for older installs.
    tighten_tree(settings.app.data_dir, skip=[settings.security.key_file])
    cfg = settings.database
    engine = make_engine(
        url or cfg.url,
        pool_size=cfg.pool_size,
        max_overflow=cfg.max_overflow,
        synchronous_commit=cfg.synchronous_commit,
    )
    with engine.connect():
        pass
    if keyring is None:
        data_key, old_key = settings.security.data_key, settings.security.data_key_old
        keyring = load_keyring(
            settings.security.key_file,
            data_key.get_secret_value() if data_key else None,
            old_key.get_secret_value() if old_key else None,
        )
    install_keyring(keyring)
    blobs = None
    if settings.media.backend == "s3":
        from storage.s3_media import s3_blobs

        blobs = s3_blobs(settings)
    media = MediaStore(settings.app.data_dir / "media", keyring, blobs)
    return Database(engine=engine, keyring=keyring, media=media)


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a model, for prebuilt statements on hot paths.

    Core statements built once at import skip the ORM's per-call statement building,
    cache-key generation and unit of work (about 0.3 ms per statement).
    """
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


def insert_ignoring_duplicates(table: Table, dialect: str, *index: str) -> Insert:
    """``INSERT … ON CONFLICT (index) DO NOTHING RETURNING <primary key>``.

    For SQLite (3.35+) or PostgreSQL. A conflicting row is skipped instead of raising, so
    the transaction stays usable on PostgreSQL and no SELECT is needed first; the
    result has a row only if one was inserted (``rowcount`` is -1 on PostgreSQL here).
    """
    stmt = sqlite_insert(table) if dialect == "sqlite" else pg_insert(table)
    return stmt.on_conflict_do_nothing(index_elements=list(index)).returning(
        *table.primary_key.columns
    )
