"""One error tree for the project.

Vendor exceptions are wrapped at the boundary (``raise ChannelError(...) from exc``);
each adapter has one handler that logs the traceback and tells the user something
useful in their language.

What is stored about a failure (``inboxevent.error``, ``backgroundjob.error``,
``outboxmessage.last_error``) is :func:`describe_error`: the exception type and a safe
message (:meth:`InterviewerError.safe_message`), else the code location. Messages can
carry user input (a YAML line, a file name, a name in a vendor's reply), so only the
classes below that say so vouch for theirs.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent


class InterviewerError(Exception):
    """Root of every error this project raises on purpose."""

    def safe_message(self) -> str:
        """What may be stored and shown to admins: never user input ("" if nothing)."""
        return ""


class ConfigError(InterviewerError):
    """A setting is missing or wrong; the message names the key (never its value)."""

    def safe_message(self) -> str:
        return str(self)


class StorageError(InterviewerError):
    """The database or media store could not do what was asked."""


class CryptoError(StorageError):
    """Encrypted data could not be decrypted (wrong key, tampering).

    The message names key ids, tables, columns and row ids, never data.
    """

    def safe_message(self) -> str:
        return str(self)


class ChannelError(InterviewerError):
    """A chat platform call failed.

    Attributes:
        retryable: True when trying again later may succeed (429, network).
        retry_after: seconds the platform asked us to wait, if it said.
        reason: a short fixed reason for admins (``forbidden``, ``errcode 43004``), kept
            where the message is not: that can quote a file name or the platform's reply.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        reason: str = "",
    ):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.reason = reason

    def safe_message(self) -> str:
        if not self.retryable:
            how = "not retryable"
        elif self.retry_after is None:
            how = "retryable"
        else:
            how = f"retry after {self.retry_after:g} s"
        return f"{self.reason} ({how})" if self.reason else how


class MediaError(InterviewerError):
    """A media file is empty, corrupt, too large, too long or of the wrong type.

    Attributes:
        reason: a short machine-readable reason (``too_large``, ``corrupt`` ...).
    """

    def __init__(self, reason: str, message: str = ""):
        super().__init__(message or reason)
        self.reason = reason

    def safe_message(self) -> str:
        return self.reason


class TranscriptionError(MediaError):
    """Speech could not be turned into text."""


class ModelNotInstalledError(InterviewerError):
    """Model weights are missing; the message says how to install them."""

    def safe_message(self) -> str:
        return str(self)


class EvaluationError(InterviewerError):
    """The evaluator could not produce a valid evaluation."""


class ContractError(InterviewerError):
    """A contract could not be rendered, checked or signed."""


class SigningError(ContractError):
    """Sealing or signing a PDF failed (fails closed)."""


class ImportRowError(InterviewerError):
    """A row of an imported file is invalid; carries the row number."""

    def __init__(self, row: int, message: str):
        super().__init__(f"row {row}: {message}")
        self.row = row
        self.detail = message

    def safe_message(self) -> str:
        return f"row {self.row}"


def describe_error(exc: BaseException) -> str:
    """``Type: safe message`` for storing, or ``Type at <module>:<line>`` when the error
    vouches for no message (any exception not of this tree: its text is never kept).

    The location is the innermost frame of this project's code, and the innermost frame
    of all if that is elsewhere (a library): enough to find the bug, no user input.
    """
    name = type(exc).__name__
    safe = exc.safe_message() if isinstance(exc, InterviewerError) else ""
    if safe:
        return f"{name}: {safe}"
    return f"{name} at {_location(exc)}"


def _location(exc: BaseException) -> str:
    ours: str | None = None
    last: str | None = None
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        here = f"{frame.f_globals.get('__name__', '?')}:{tb.tb_lineno}"
        path = Path(frame.f_code.co_filename)
        if path.is_relative_to(_ROOT) and not path.is_relative_to(sys.prefix):
            ours = here
        last = here
        tb = tb.tb_next
    if last is None:
        return "an unknown place"
    if ours is None or ours == last:
        return last
    return f"{ours} (in {last})"
