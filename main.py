"""Command-line entry: run, demo, chat, db, models, bench and admin tools.

Each area registers its own sub-commands (``register(subparsers)`` in its ``cli``
module); the wiring of real services happens here and in ``core/wiring.py``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib import import_module

from core.errors import ConfigError, InterviewerError

# Modules with a ``register(subparsers)`` function, in the order they appear in --help.
CLI_MODULES = [
    "storage.cli",
    "dialogs.cli",
    "scoring.cli",
    "scoring.score_cli",
    "contracts.cli",
    "bot.cli",
    "bot.wechat",
    "dialogs.retention",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="main.py", description="AI job interviewer for chat apps")
    parser.add_argument("--config", default=None, help="path to config.toml")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in CLI_MODULES:
        register: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]
        register = import_module(name).register
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except InterviewerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    sys.exit(main())
