"""``db`` and ``keys`` sub-commands."""

from __future__ import annotations

import argparse

from core.settings import load_settings
from storage import migrate
from storage.db import make_engine


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


def _upgrade(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    migrate.upgrade(make_engine(settings.database.url), args.revision)
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
