"""The protocol every chat channel adapter implements for delivery, and what the process
learns about the channels candidates use (the Telegram username, the WeChat QR maker)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from sqlmodel import Session

from core.settings import Settings
from dialogs.kernel.intents import Intent
from storage.db import Database
from storage.models import KeyValue

log = logging.getLogger(__name__)

# Where the last username getMe answered is kept (value encrypted like all KeyValue).
TELEGRAM_USERNAME_KEY = "telegram:bot_username"

SceneQr = Callable[[str], bytes]
"""Token -> the Official Account's scene QR code (an image) that starts that invitation."""


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


@runtime_checkable
class MemberFanout(Protocol):
    """A messenger some of whose messages reach members one by one as app messages
    (WeCom: a card to each HR user of a robot chat), limited per member by the platform:
    what each member receives for an intent, so the group scheduler plans within
    ``[groups] member_limits`` (dialogs/kernel/memberbudget.py)."""

    def app_messages(self, session: Session, intent: Intent) -> Counter[str]:
        """Member -> app messages that member receives when ``intent`` is delivered."""
        ...


@dataclass
class AnswerLimits:
    """What the current question accepts, so adapters can refuse media before download."""

    max_seconds: int
    max_bytes: int
    modes: tuple[str, ...]


@dataclass
class CandidateChannels:
    """What this process knows about the channels candidates use (``Services.channels``).

    Attributes:
        telegram_username: the bot's username (from ``getMe``, or as an earlier run
            stored it, or ``app.bot_username``); None while unknown.
        wechat_qr: makes scene QR codes; set when the Official Account is enabled.
    """

    telegram_username: str | None = None
    wechat_qr: SceneQr | None = None


def stored_telegram_username(db: Database) -> str | None:
    """The username ``getMe`` answered when the bot last started (None if never)."""
    with db.session() as session:
        row = session.get(KeyValue, TELEGRAM_USERNAME_KEY)
        return row.value if row is not None and row.value else None


def learn_telegram_username(
    db: Database, settings: Settings, channels: CandidateChannels, username: str
) -> None:
    """The bot's username as ``getMe`` answered it: links use it from now on.

    It is stored, so a later process that does not ask Telegram (the console chat, a
    restart before ``getMe`` answers) builds the same links. An ``app.bot_username``
    set in config.toml that names another bot gets a warning: ``getMe`` wins.
    """
    if not username:
        return
    configured = settings.app.bot_username
    if configured and configured.removeprefix("@").lower() != username.lower():
        log.warning(
            "app.bot_username is %r in config.toml, but the Telegram token belongs to @%s: "
            "invitation links use @%s (correct or remove app.bot_username)",
            configured,
            username,
            username,
        )
    channels.telegram_username = username
    with db.transaction() as session:
        row = session.get(KeyValue, TELEGRAM_USERNAME_KEY)
        if row is None:
            session.add(KeyValue(key=TELEGRAM_USERNAME_KEY, value=username))
        elif row.value != username:
            row.value = username
            session.add(row)
