"""``db`` and ``keys`` sub-commands."""

from __future__ import annotations

import argparse

from core.errors import ConfigError, StorageError
from core.settings import Settings, load_settings
from storage import migrate
from storage.db import Database, make_engine, open_database

NOT_INITIALISED = "database not initialised: run `python main.py db upgrade`"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="database schema (Alembic)")
    dbsub = db.add_subparsers(dest="db_command", required=True)
    up = dbsub.add_parser("upgrade", help="apply migrations up to head")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=_upgrade)
    cur = dbsub.add_parser("current", help="show the current revision")
    cur.set_defaults(func=_current)
    rev = dbsub.add_parser("revision", help="autogenerate a migration (developers)")
    rev.add_argument("-m", "--message", required=True)
    rev.set_defaults(func=_revision)
    keys = sub.add_parser("keys", help="data encryption keys: rotate, status, generate")
    keysub = keys.add_subparsers(dest="keys_command", required=True)
    rot = keysub.add_parser("rotate", help="re-encrypt everything under a new key, online")
    rot.add_argument("--batch", type=int, default=500, help="rows per transaction")
    rot.add_argument(
        "--grace", type=float, default=None, help="seconds to let running processes see the key"
    )
    rot.set_defaults(func=_keys_rotate)
    keysub.add_parser("status", help="key ids and what each encrypts").set_defaults(
        func=_keys_status
    )
    keysub.add_parser("generate", help="print a new random key for DATA_KEY").set_defaults(
        func=_keys_generate
    )


def open_migrated_database(settings: Settings) -> Database:
    """The configured database, for a command that reads it.

    Raises:
        StorageError: the database has no tables yet (before a data key is made for it).
    """
    from sqlalchemy import inspect

    engine = make_engine(settings.database.url)
    try:
        empty = not inspect(engine).get_table_names()
    finally:
        engine.dispose()
    if empty:
        raise StorageError(NOT_INITIALISED)
    return open_database(settings)


def _upgrade(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    # With the keyring: migration 0002 rewraps encrypted fields (bound to their rows).
    db = open_database(settings)
    try:
        migrate.upgrade(db.engine, args.revision)
    finally:
        db.engine.dispose()
    print(f"database at {args.revision}")
    return 0


def _current(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    migrate.current(make_engine(settings.database.url))
    return 0


def _revision(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    migrate.revision(make_engine(settings.database.url), args.message)
    return 0


def _keys_rotate(args: argparse.Namespace) -> int:
    from storage import rotate

    settings = load_settings(args.config)
    try:
        report = rotate.rotate(settings, batch_size=args.batch, grace_seconds=args.grace)
    except ConfigError as exc:
        if settings.security.data_key is not None and settings.security.data_key_old is None:
            print(exc)
            return 1
        raise
    what = "resumed" if report.resumed and report.mode == "key_file" else "done"
    print(
        f"keys rotate {what}: primary key {report.primary}; re-encrypted {report.fields} "
        f"fields and {report.files} files; {report.hashes} lookup hashes recomputed"
    )
    if report.mode == "env":
        print("Nothing is left under DATA_KEY_OLD: remove it and restart the processes.")
    else:
        print(f"old key(s) {', '.join(report.dropped) or '-'} dropped from the key file")
    return 0


def _keys_status(args: argparse.Namespace) -> int:
    from storage import rotate

    settings = load_settings(args.config)
    ring, counts = rotate.status(settings)
    mode = "DATA_KEY" if settings.security.data_key else f"key file {settings.security.key_file}"
    print(f"keys from {mode}; primary {ring.primary}; in the ring: {', '.join(ring.keys)}")
    for part, by_key in counts.items():
        line = ", ".join(f"{kid}: {n}" for kid, n in sorted(by_key.items())) or "none"
        print(f"{part}: {line}")
    return 0


def _keys_generate(_args: argparse.Namespace) -> int:
    import base64
    import os

    print(base64.b64encode(os.urandom(32)).decode("ascii"))
    return 0
