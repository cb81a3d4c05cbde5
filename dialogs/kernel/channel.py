"""The protocol every chat channel adapter implements for delivery."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from dialogs.kernel.intents import Intent


class Messenger(Protocol):
    """Delivers intents on one platform.

    Raises ``core.errors.ChannelError`` (``retryable`` for 429 and network errors).
    """

    platform: str

    async def deliver(
        self,
        intent: Intent,
        *,
        file_data: bytes | None = None,
        target_message_id: str | None = None,
    ) -> str | None:
        """Send the intent; return the platform's message id when there is one."""
        ...


@dataclass
class AnswerLimits:
    """What the current question accepts, so adapters can refuse media before download."""

    max_seconds: int
    max_bytes: int
    modes: tuple[str, ...]
