"""One error tree for the project.

Vendor exceptions are wrapped at the boundary (``raise ChannelError(...) from exc``);
each adapter has one handler that logs the traceback and tells the user something
useful in their language.
"""

from __future__ import annotations


class InterviewerError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(InterviewerError):
    """A setting is missing or wrong; the message names the key."""


class StorageError(InterviewerError):
    """The database or media store could not do what was asked."""


class CryptoError(StorageError):
    """Encrypted data could not be decrypted (wrong key, tampering)."""


class ChannelError(InterviewerError):
    """A chat platform call failed.

    Attributes:
        retryable: True when trying again later may succeed (429, network).
        retry_after: seconds the platform asked us to wait, if it said.
    """

    def __init__(self, message: str, *, retryable: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class MediaError(InterviewerError):
    """A media file is empty, corrupt, too large, too long or of the wrong type.

    Attributes:
        reason: a short machine-readable reason (``too_large``, ``corrupt`` ...).
    """

    def __init__(self, reason: str, message: str = ""):
        super().__init__(message or reason)
        self.reason = reason


class TranscriptionError(MediaError):
    """Speech could not be turned into text."""


class ModelNotInstalledError(InterviewerError):
    """Model weights are missing; the message says how to install them."""


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
