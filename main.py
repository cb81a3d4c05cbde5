"""Command-line entry: run, demo, chat, db, models, bench and admin tools.

Each area registers its own sub-commands (``register(subparsers)`` in its ``cli``
module); the list of areas is ``app/cli.py``, the wiring of real services ``app/wiring.py``.

Whatever a sub-command raises ends here as one line on stderr and a non-zero exit:
the project's own errors, and the usual operator mistakes (a folder where a file was
expected, a missing folder, unreadable or too deeply nested input, a database that was
never migrated or cannot be reached). ``--debug`` (or ``INTERVIEWER_DEBUG=1``) shows
the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib
from collections.abc import Callable, Sequence
from importlib import import_module
from pathlib import Path
from typing import NoReturn, cast

from app.cli import CLI_MODULES
from core.errors import ConfigError, InterviewerError
from storage.cli import NOT_INITIALISED

EXIT_ERROR = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130
DEBUG_ENV = "INTERVIEWER_DEBUG"
DEBUG_HINT = "run with --debug for the traceback"


class OneLineParser(argparse.ArgumentParser):
    """Usage mistakes in one line, like every other error here (sub-commands inherit it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} -h)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="main.py", description="AI job interviewer for chat apps")
    parser.add_argument("--config", default=None, help="path to config.toml")
    parser.add_argument(
        "--debug",
        action="store_true",
        help=f"show the traceback of an error instead of one line (or set {DEBUG_ENV}=1)",
    )
    sub = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", required=True),
    )
    for name in CLI_MODULES:
        register: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]
        register = import_module(name).register
        register(sub)
    from app.features import FEATURES  # the features' own sub-commands, in list order

    for feature in FEATURES:
        if feature.cli is not None:
            feature.cli(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0"):
            raise
        message, code = explain(exc, config=args.config)
        print(message, file=sys.stderr)
        return code
    return result


def explain(exc: BaseException, *, config: str | None = None) -> tuple[str, int]:
    """One line for the operator and the exit code, for any error a sub-command raised.

    Args:
        exc: the exception.
        config: the ``--config`` path, to name the database a connection error is about.
    """
    if isinstance(exc, ConfigError):
        return f"configuration error: {one_line(str(exc))}", EXIT_CONFIG
    if isinstance(exc, InterviewerError):
        return f"error: {one_line(str(exc))}", EXIT_ERROR
    database = _database_problem(exc, config)
    if database is not None:
        return f"error: {database}", EXIT_ERROR
    if isinstance(exc, OSError):
        return f"error: {_path_problem(exc)}", EXIT_ERROR
    if isinstance(exc, RecursionError):
        return "error: the input is nested too deeply to read", EXIT_ERROR
    if isinstance(exc, json.JSONDecodeError):
        return f"error: not valid JSON: {one_line(str(exc))}", EXIT_ERROR
    if isinstance(exc, tomllib.TOMLDecodeError):
        return f"error: not valid TOML: {one_line(str(exc))}", EXIT_ERROR
    if isinstance(exc, UnicodeDecodeError):
        return f"error: the input is not UTF-8 text ({exc.reason})", EXIT_ERROR
    if _is_validation_error(exc):
        return f"error: invalid input: {_validation_summary(exc)}", EXIT_ERROR
    detail = one_line(str(exc))
    what = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return f"error: unexpected {what} ({DEBUG_HINT})", EXIT_ERROR


def one_line(text: str) -> str:
    """Multi-line messages (a config error lists every wrong key) joined into one line."""
    parts = [part.strip() for part in text.strip().splitlines() if part.strip()]
    joined = ""
    for part in parts:
        if joined:
            joined += " " if joined.endswith(":") else "; "
        joined += part
    return joined


def _path_problem(exc: OSError) -> str:
    name = exc.filename
    if name is None:
        return one_line(str(exc))
    path = Path(os.fsdecode(name))
    if isinstance(exc, IsADirectoryError):
        return f"{path}: is a folder, not a file"
    if isinstance(exc, NotADirectoryError):
        return f"{path}: part of this path is a file, not a folder"
    if isinstance(exc, FileNotFoundError):
        if not path.parent.is_dir():
            return f"{path}: the folder {path.parent} does not exist"
        return f"{path}: no such file"
    if isinstance(exc, PermissionError):
        return f"{path}: permission denied"
    return f"{path}: {exc.strerror or one_line(str(exc))}"


# Driver messages, lower-cased, that mean "the server is not there" rather than "bad SQL".
_UNREACHABLE = (
    "connection refused",
    "could not connect",
    "connection failed",
    "could not translate host name",
    "name or service not known",
    "timeout expired",
    "no route to host",
    "network is unreachable",
    "server closed the connection",
)
_NOT_MIGRATED = ("no such table", "undefinedtable")


def _database_problem(exc: BaseException, config: str | None) -> str | None:
    """What is wrong with the database, if ``exc`` comes from SQLAlchemy or its driver."""
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    if not isinstance(exc, SQLAlchemyError):
        return None
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    text = f"{type(orig).__name__} {orig}".lower() if orig is not None else str(exc).lower()
    if any(marker in text for marker in _NOT_MIGRATED):
        return NOT_INITIALISED
    where = _database_location(config)
    if "database" in text and "does not exist" in text:
        return f"the database at {where} does not exist: create it, then run `python main.py db upgrade`"
    if any(marker in text for marker in _UNREACHABLE):
        return f"cannot reach the database at {where}"
    if "unable to open database file" in text:
        return f"cannot open the database file {where}"
    detail = one_line(str(orig if orig is not None else exc)).split(" [SQL:")[0]
    return f"database error at {where}: {detail}"


def _database_location(config: str | None) -> str:
    """``host:port/name`` (or the SQLite file) of the configured database, never a password."""
    from sqlalchemy.engine import make_url

    from core.settings import load_settings

    try:
        url = make_url(load_settings(config).database.url)
    except Exception:  # noqa: BLE001 - the location is a courtesy; the error is what matters
        return "the configured URL"
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    port = url.port or {"postgresql": 5432, "mysql": 3306}.get(url.get_backend_name())
    host = url.host or "localhost"
    return f"{host}:{port}/{url.database or ''}" if port else f"{host}/{url.database or ''}"


def _is_validation_error(exc: BaseException) -> bool:
    from pydantic import ValidationError

    return isinstance(exc, ValidationError)


def _validation_summary(exc: BaseException) -> str:
    from pydantic import ValidationError

    assert isinstance(exc, ValidationError)
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg']}" for err in exc.errors()
    )


if __name__ == "__main__":
    sys.exit(main())
