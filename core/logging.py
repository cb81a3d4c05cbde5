"""Logging set-up that keeps secrets and personal fields out of every log record.

Three layers, so that no single one has to be perfect:

1. **Library loggers stay at INFO or above** (python-telegram-bot logs every
   ``sendMessage`` body at DEBUG; httpx logs request URLs that carry the bot token;
   uvicorn, wechatpy, apscheduler, SQLAlchemy ...), even when the bot runs at DEBUG:
   only the project's packages get the configured level, the root logger (which every
   library inherits from, listed or not) never goes below INFO, and the chattiest
   libraries are pinned higher (:data:`LIBRARY_LEVELS`). An operator who needs one of
   them asks explicitly: ``LOG_LIBRARIES=telegram`` (or ``telegram=DEBUG,httpx``, or
   ``all``).
2. **Library DEBUG records keep their shape, not their data**: when a library is let
   down to DEBUG, the arguments of its DEBUG records are replaced by their shape
   (``<mapping: chat_id, text>``, ``<text, 42 chars>``), so a request body, an update
   or a message text never reaches a line.
3. **Every record is redacted when it is made** (a log-record factory), by pattern
   (phones, ID numbers, e-mail addresses, bot tokens, one-time link tokens, bearer keys)
   and by known value (every configured secret, :func:`register_secret`): its message,
   its exception traceback and its stack. Being done at creation, this also covers
   handlers that do not go through the root logger (uvicorn installs its own) and
   tracebacks. A filter on the root handlers does the same for records made before
   :func:`setup_logging` ran.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

# Long digit runs (phones, ID numbers), e-mail addresses, bot tokens, bearer keys.
_PATTERNS = [
    (re.compile(r"\b\d{6}(?:19|20)\d{2}\d{4}\d{3}[\dXx]\b"), "[id-number]"),
    (re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)"), "[phone]"),
    (re.compile(r"\+?\d[\d -]{9,}\d"), "[number]"),
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"), "[email]"),
    (re.compile(r"\b\d{6,12}:[A-Za-z0-9_-]{30,}\b"), "[bot-token]"),
    # One-time links: contract signing pages and invitation deep links carry their token.
    (re.compile(r"(/sign/)[A-Za-z0-9_-]{16,}"), r"\1[token]"),
    (re.compile(r"([?&]start=)[A-Za-z0-9_-]{16,}"), r"\1[token]"),
    (
        re.compile(r"(?i)(bearer\s+|api[_-]?key[=:]\s*|access_token=|token=|secret=)[^\s&\"']+"),
        r"\1[secret]",
    ),
]
_extra_secrets: set[str] = set()

# Loggers of this project: everything else is a library.
PROJECT_PACKAGES = frozenset(
    {
        "app",
        "bench",
        "bot",
        "contracts",
        "core",
        "dialogs",
        "scoring",
        "storage",
        "testkit",
        "web",
        "main",
        "__main__",
        "root",
    }
)
# Library loggers and the least severe level they may log at unless the operator asks.
LIBRARY_LEVELS: dict[str, int] = {
    "telegram": logging.INFO,  # DEBUG: every Bot API call with its parameters and result
    "httpx": logging.WARNING,  # INFO: every request URL (the bot token is in it)
    "httpx2": logging.WARNING,
    "httpcore": logging.WARNING,
    "hpack": logging.WARNING,
    "h11": logging.WARNING,
    "aiohttp": logging.INFO,
    "urllib3": logging.INFO,
    "uvicorn": logging.INFO,
    "uvicorn.error": logging.INFO,
    "uvicorn.access": logging.WARNING,  # request lines: signing-page paths
    "starlette": logging.INFO,
    "multipart": logging.INFO,
    "python_multipart": logging.INFO,
    "wechatpy": logging.INFO,
    "apscheduler": logging.INFO,
    "apscheduler.executors.default": logging.WARNING,
    "sqlalchemy": logging.WARNING,  # echo: statements with their bound parameters
    "alembic": logging.INFO,
    "asyncio": logging.INFO,
    "faster_whisper": logging.WARNING,
    "ctranslate2": logging.WARNING,
    "llama_cpp": logging.WARNING,
    "pyhanko": logging.INFO,
    "pyhanko_certvalidator": logging.INFO,
    "fpdf": logging.INFO,
    "fontTools": logging.WARNING,
    "PIL": logging.INFO,
    "matplotlib": logging.WARNING,
    "redis": logging.INFO,
}
LIBRARIES_ENV = "LOG_LIBRARIES"

_SAFE_WORD = re.compile(r"[a-z_][A-Za-z0-9_.]{0,40}")  # method and module names: sendMessage


def register_secret(value: str | None) -> None:
    """Any log line containing this exact value gets it masked."""
    if value and len(value) >= 6:
        _extra_secrets.add(value)


def redact(text: str) -> str:
    for secret in _extra_secrets:
        if secret in text:
            text = text.replace(secret, "[secret]")
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def is_library(name: str) -> bool:
    """True for a logger that is not this project's (``telegram.ext.Updater``, ``httpx``)."""
    return name.split(".", 1)[0] not in PROJECT_PACKAGES


def shape(value: object) -> object:
    """What a value is, without what it holds (for library DEBUG arguments)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if _SAFE_WORD.fullmatch(value) else f"<text, {len(value)} chars>"
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, Mapping):
        keys = [str(k) for k in list(value)[:12] if isinstance(k, str) and _SAFE_WORD.fullmatch(k)]
        return f"<mapping: {', '.join(keys)}>"
    if isinstance(value, list | tuple | set | frozenset):
        return f"<{type(value).__name__} of {len(value)}>"
    return f"<{type(value).__name__}>"


def scrub(record: logging.LogRecord) -> None:
    """Redact a record in place: message, exception text, stack. Idempotent."""
    if getattr(record, "_interviewer_redacted", False):
        return
    record._interviewer_redacted = True
    if record.levelno < logging.INFO and record.args and is_library(record.name):
        if isinstance(record.args, Mapping):
            record.args = {key: shape(value) for key, value in record.args.items()}
        else:
            record.args = tuple(shape(value) for value in record.args)
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a malformed call; logging reports it when emitting
        message = redact(str(record.msg))
        record.msg, record.args = message, None
    else:
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        # Formatters use this cached text instead of formatting the exception again.
        record.exc_text = redact(_FORMATTER.formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


_FORMATTER = logging.Formatter()


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        scrub(record)
        return True


class _RedactingFactory:
    """Wraps the log-record factory so that every record is redacted when it is made."""

    def __init__(self, inner: Callable[..., logging.LogRecord]) -> None:
        self.inner = inner

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.inner(*args, **kwargs)
        scrub(record)
        return record


def install_record_redaction() -> None:
    """Redact every log record at creation, whoever handles it (idempotent)."""
    current = logging.getLogRecordFactory()
    if not isinstance(current, _RedactingFactory):
        logging.setLogRecordFactory(_RedactingFactory(current))


def library_overrides(spec: str | None) -> dict[str, int | None]:
    """``telegram,httpx=DEBUG`` -> {"telegram": None (the root level), "httpx": 10}."""
    wanted: dict[str, int | None] = {}
    for item in (spec or "").split(","):
        name, _, level = item.strip().partition("=")
        if not name:
            continue
        wanted[name.strip()] = logging.getLevelName(level.strip().upper()) if level else None
    return {name: lvl if isinstance(lvl, int) else None for name, lvl in wanted.items()}


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of the record, not the stream it
    was when logging was set up (a test's captured stream may be closed by then)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def setup_logging(
    level: str = "INFO", file: str | None = None, *, libraries: str | None = None
) -> None:
    """Log to stderr (and ``file``) at ``level``, libraries pinned, everything redacted.

    Args:
        level: the project's level (DEBUG, INFO ...).
        file: also append to this file.
        libraries: library loggers the operator wants at ``level`` (or at their own
            ``name=LEVEL``), comma-separated, ``all`` for every one; default: the
            ``LOG_LIBRARIES`` environment variable.
    """
    install_record_redaction()
    handlers: list[logging.Handler] = [StderrHandler()]
    if file:
        handlers.append(logging.FileHandler(file, encoding="utf-8"))
    for handler in handlers:
        handler.addFilter(RedactingFilter())
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = handlers
    # The project's packages log at ``level``; everything else (every library, listed
    # or not) inherits the root's level, never below INFO.
    root.setLevel(max(logging.INFO, _level(level)))
    for package in PROJECT_PACKAGES - {"root"}:
        logging.getLogger(package).setLevel(level)
    wanted = library_overrides(os.environ.get(LIBRARIES_ENV) if libraries is None else libraries)
    for name, floor in LIBRARY_LEVELS.items():
        asked = _asked_for(name, wanted)
        if asked == _PINNED:  # pinned: never below its floor, nor below the project's level
            logging.getLogger(name).setLevel(max(floor, root.level))
        else:
            logging.getLogger(name).setLevel(_level(level) if asked is None else asked)
    for name, lvl in wanted.items():
        if name == "all":
            root.setLevel(_level(level) if lvl is None else lvl)
        elif name not in LIBRARY_LEVELS:
            logging.getLogger(name).setLevel(_level(level) if lvl is None else lvl)


def _level(name: str | int) -> int:
    value = logging.getLevelName(name.upper()) if isinstance(name, str) else name
    if not isinstance(value, int):
        raise ValueError(f"unknown log level {name!r}")
    return value


_PINNED = -1


def _asked_for(name: str, wanted: Mapping[str, int | None]) -> int | None:
    """The level asked for ``name`` (None: the project's), or ``_PINNED`` when not asked."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in wanted:
            return wanted[prefix]
    return wanted.get("all", _PINNED)
