"""Telegram channel: Bot API updates -> neutral events, intents -> Bot API calls.

A thin adapter on python-telegram-bot 22: it translates and delivers, and holds no
business rules (the interview, roles and button authorisation live in ``dialogs/``).

Receiving loses nothing. PTB's own ``Updater`` asks Telegram for the next offset
(which acknowledges the previous batch) before its handlers have finished, so a crash
mid-handler would lose updates. This adapter therefore does not use PTB's update
dispatch at all: :meth:`TelegramChannel.poll` calls ``getUpdates`` itself, writes every
update of a batch to the inbox (``engine.receive``; accepted media is downloaded and
stored first) and only then asks for ``offset = last update_id + 1``. In webhook mode
(``web/app.py``) the HTTP 200 is returned only after the same step. Events are then
processed from the inbox, one chat at a time in arrival order; a crash between the two
steps is finished by ``engine.process_pending()`` at the next start.

Duplicates: Telegram delivers at least once. Message updates get the event id
``telegram:u:<update_id>:<chat_id>:<message_id>`` and button presses
``telegram:cb:<callback query id>``; the inbox drops a second copy. The id includes the
message identity because Telegram restarts update ids after a week of silence: an
update id alone (or a high-water mark) would make a new update look like an old one.

The PTB ``Application`` is kept for what it does well: the configured ``ExtBot``
(``base_url``/``base_file_url`` for a self-hosted Bot API server or a test fake), its
HTTP pools and the ``AIORateLimiter`` (30 msg/s overall, 20 msg/min per group,
``RetryAfter`` pauses every request and is retried ``RATE_LIMIT_RETRIES`` times).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal, TypeVar

from telegram import (
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    Update,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder

from app.host import App
from app.runtime import Runtime
from core.errors import ChannelError, ConfigError
from core.settings import TelegramSettings
from dialogs.kernel.channel import learn_telegram_username
from dialogs.kernel.events import (
    ButtonPressed,
    CommandReceived,
    Event,
    FileReceived,
    MediaRef,
    MediaRejected,
    TextReceived,
    UnsupportedReceived,
    VideoReceived,
    VoiceReceived,
)
from dialogs.kernel.intents import AnswerButton, Button, Edit, Intent, Send, SendFile
from dialogs.kernel.roles import GROUP_ADMIN_BUTTONS, highest_role

log = logging.getLogger(__name__)

# Since PTB 22.2 reading ``.duration`` warns unless durations are timedeltas (the
# default from PTB 23 on). The variable is read at access time, so setting it here works.
os.environ.setdefault("PTB_TIMEDELTA", "1")

PLATFORM = "telegram"
# Always asked for explicitly: Telegram otherwise keeps whatever list was used last.
ALLOWED_UPDATES = ("message", "callback_query")
BOT_API_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile refuses bigger files on api.telegram.org
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
PHOTO_LIMIT = 10 * 1024 * 1024
PHOTO_TYPES = ("image/png", "image/jpeg", "image/webp")
GROUP_MESSAGES_PER_MINUTE = 20
OVERALL_MESSAGES_PER_SECOND = 30
RATE_LIMIT_RETRIES = 2
DOWNLOAD_ATTEMPTS = 3
MEMBER_CACHE_SECONDS = 60.0

AnyApplication = Application[Any, Any, Any, Any, Any, Any]
T = TypeVar("T")


# ---------------------------------------------------------------------- building
def build_application(settings: TelegramSettings, *, rate_limiter: bool = True) -> AnyApplication:
    """A PTB Application (no Updater, no JobQueue) pointed at the configured Bot API server.

    Args:
        settings: the ``[telegram]`` section; ``token`` must be set.
        rate_limiter: attach PTB's ``AIORateLimiter`` (off only for the saturation benchmark).
    """
    if settings.token is None:
        raise ConfigError("telegram.token: TELEGRAM_TOKEN is not set")
    builder: Any = (
        ApplicationBuilder()
        .token(settings.token.get_secret_value())
        .base_url(settings.base_url)
        .base_file_url(settings.base_file_url)
        .updater(None)
        .job_queue(None)
        # Small on purpose: httpcore checks every pooled connection on each request, so
        # a big pool costs CPU; 16 connections carry far more than the 30 msg/s allowed.
        .connection_pool_size(16)
        .pool_timeout(30)
        .read_timeout(15)
        .write_timeout(15)
    )
    if rate_limiter:
        builder = builder.rate_limiter(
            AIORateLimiter(
                overall_max_rate=OVERALL_MESSAGES_PER_SECOND,
                overall_time_period=1,
                group_max_rate=GROUP_MESSAGES_PER_MINUTE,
                group_time_period=60,
                max_retries=RATE_LIMIT_RETRIES,
            )
        )
    application: AnyApplication = builder.build()
    return application


# ---------------------------------------------------------------------- translation
@dataclass(frozen=True)
class PendingMedia:
    """A voice/video/document that must be checked (and maybe downloaded) first."""

    kind: Literal["voice", "video", "file"]
    ref: MediaRef
    suffix: str
    caption: str = ""


@dataclass(frozen=True)
class Incoming:
    """One update translated, not stored yet: a ready event or media still to fetch."""

    chat_key: str
    base: dict[str, Any]
    event: Event | None = None
    media: PendingMedia | None = None
    callback_id: str | None = None

    @property
    def event_id(self) -> str:
        return str(self.base["event_id"])


_UNSUPPORTED_KINDS = (
    "sticker", "photo", "animation", "location", "venue", "contact", "poll", "dice", "game", "story",
)  # fmt: skip


def translate(update: Update, *, bot_username: str) -> Incoming | None:
    """Turn a PTB update into what the engine understands (None: nothing to do)."""
    if update.callback_query is not None:
        return _translate_callback(update)
    message = update.message
    if message is None or message.from_user is None:
        return None  # edits, channel posts, membership changes: not asked for or not ours
    chat = message.chat
    user = message.from_user
    is_group = chat.type in (Chat.GROUP, Chat.SUPERGROUP)
    base: dict[str, Any] = {
        "event_id": f"telegram:u:{update.update_id}:{chat.id}:{message.message_id}",
        "platform": PLATFORM,
        "chat_id": str(chat.id),
        "user_id": str(user.id),
        "user_name": user.full_name[:100],
        "language_hint": user.language_code,
        "is_group": is_group,
    }
    key = str(chat.id)
    if message.text is not None:
        command = _command(message.text, bot_username)
        if command is None:
            return Incoming(key, base, event=TextReceived(**base, text=message.text))
        if command is False:
            return None  # a command for another bot in the same group
        name, args = command
        return Incoming(key, base, event=CommandReceived(**base, command=name, args=args))
    media = _media_of(message)
    if media is not None:
        return Incoming(key, base, media=media)
    if is_group:
        return (
            None  # service messages, stickers ... in the HR group: the engine ignores them anyway
        )
    kind = next((k for k in _UNSUPPORTED_KINDS if getattr(message, k, None)), "unknown")
    return Incoming(key, base, event=UnsupportedReceived(**base, kind=kind))


def _translate_callback(update: Update) -> Incoming | None:
    query = update.callback_query
    assert query is not None
    user = query.from_user
    message = query.message
    chat_id = str(message.chat.id) if message is not None else str(user.id)
    is_group = message is not None and message.chat.type in (Chat.GROUP, Chat.SUPERGROUP)
    base: dict[str, Any] = {
        "event_id": f"telegram:cb:{query.id}",
        "platform": PLATFORM,
        "chat_id": chat_id,
        "user_id": str(user.id),
        "user_name": user.full_name[:100],
        "language_hint": user.language_code,
        "is_group": is_group,
    }
    event = ButtonPressed(
        **base,
        data=(query.data or "")[:64],
        callback_id=query.id,
        message_id=str(message.message_id) if message is not None else None,
    )
    return Incoming(chat_id, base, event=event, callback_id=query.id)


def _command(text: str, bot_username: str) -> tuple[str, str] | Literal[False] | None:
    """``/cmd@Bot args`` -> (cmd, args); False if addressed to another bot; None if not a command."""
    if not text.startswith("/") or len(text) < 2:
        return None
    head, _, args = text[1:].partition(" ")
    head, _, newline_args = head.partition("\n")
    args = (newline_args + " " + args).strip() if newline_args else args.strip()
    name, _, target = head.partition("@")
    if not name:
        return None
    if target and bot_username and target.lower() != bot_username.lower():
        return False
    return name.lower(), args


def _seconds(value: int | float | dt.timedelta | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value)


def _suffix(file_name: str | None, mime_type: str | None, default: str) -> str:
    if file_name:
        suffix = PurePosixPath(file_name).suffix.lower()
        if suffix and len(suffix) <= 8 and suffix[1:].isalnum():
            return suffix
    return {
        "audio/ogg": ".ogg",
        "audio/mpeg": ".mp3",
        "audio/mp4": ".m4a",
        "audio/x-wav": ".wav",
        "video/mp4": ".mp4",
    }.get(mime_type or "", default)


def _media_of(message: Message) -> PendingMedia | None:
    if message.voice is not None:
        v = message.voice
        ref = MediaRef(
            platform_file_id=v.file_id,
            size_bytes=v.file_size,
            duration_s=_seconds(v.duration),
            mime_type=v.mime_type or "audio/ogg",
        )
        return PendingMedia("voice", ref, ".ogg")
    if message.audio is not None:
        a = message.audio
        ref = MediaRef(
            platform_file_id=a.file_id,
            size_bytes=a.file_size,
            duration_s=_seconds(a.duration),
            mime_type=a.mime_type,
            file_name=a.file_name,
        )
        return PendingMedia("voice", ref, _suffix(a.file_name, a.mime_type, ".audio"))
    if message.video_note is not None:
        n = message.video_note
        ref = MediaRef(
            platform_file_id=n.file_id,
            size_bytes=n.file_size,
            duration_s=_seconds(n.duration),
            mime_type="video/mp4",
        )
        return PendingMedia("video", ref, ".mp4")
    if message.video is not None:
        w = message.video
        ref = MediaRef(
            platform_file_id=w.file_id,
            size_bytes=w.file_size,
            duration_s=_seconds(w.duration),
            mime_type=w.mime_type or "video/mp4",
            file_name=w.file_name,
        )
        return PendingMedia("video", ref, _suffix(w.file_name, w.mime_type, ".mp4"))
    if message.document is not None:
        d = message.document
        ref = MediaRef(
            platform_file_id=d.file_id,
            size_bytes=d.file_size,
            mime_type=d.mime_type,
            file_name=d.file_name,
        )
        return PendingMedia(
            "file", ref, _suffix(d.file_name, d.mime_type, ".bin"), caption=message.caption or ""
        )
    return None


# ---------------------------------------------------------------------- delivery helpers
def channel_error(exc: TelegramError) -> ChannelError:
    """Map a PTB error to the project's ChannelError (retryable for 429, network, 5xx)."""
    if isinstance(exc, RetryAfter):
        wait = _seconds(exc.retry_after) or 1.0
        return ChannelError(
            f"telegram: flood control, retry in {wait:g} s",
            retryable=True,
            retry_after=wait,
            reason="flood control",
        )
    if isinstance(exc, BadRequest):  # a subclass of NetworkError: check it first
        return ChannelError(
            f"telegram: bad request: {exc.message}", retryable=False, reason="bad request"
        )
    if isinstance(exc, NetworkError):  # includes TimedOut and HTTP 5xx
        return ChannelError(f"telegram: network: {exc.message}", retryable=True, reason="network")
    if isinstance(exc, ChatMigrated):
        return ChannelError(
            f"telegram: the group became supergroup {exc.new_chat_id}; re-bind it there",
            retryable=False,
            reason="group migrated",
        )
    if isinstance(exc, Forbidden):
        return ChannelError(
            f"telegram: forbidden: {exc.message}", retryable=False, reason="forbidden"
        )
    what = f"telegram: {type(exc).__name__}: {exc.message}"
    if isinstance(exc, InvalidToken | Conflict):
        return ChannelError(what, retryable=False, reason=type(exc).__name__)
    return ChannelError(what, retryable=True, reason=type(exc).__name__)


def _not_modified(exc: BadRequest) -> bool:
    return "message is not modified" in exc.message.lower()


def _markup(buttons: list[list[Button]]) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in buttons]
    )


def _chat(chat_id: str) -> int | str:
    try:
        return int(chat_id)
    except ValueError:
        return chat_id  # "@channelname"


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Cut a long text into Telegram-sized parts, at line breaks where possible."""
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        if cut <= limit // 2:
            cut = limit
        parts.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    parts.append(rest)
    return [p for p in parts if p] or [text[:limit]]


class GroupPacer:
    """Keeps each group under 20 messages a minute without making the dispatcher wait.

    The AIORateLimiter would also hold the 21st message, but inside ``deliver``, which
    stalls the dispatcher's whole round (every candidate's reply) for up to a minute.
    Refusing early with a precise ``retry_after`` lets the dispatcher reschedule only
    that group's message, keeping its order.
    """

    def __init__(
        self,
        per_minute: int = GROUP_MESSAGES_PER_MINUTE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._sent: dict[int | str, deque[float]] = {}

    def reserve(self, chat: int | str) -> float:
        """0.0 if a message to ``chat`` may go now (and counts it), else seconds to wait."""
        if isinstance(chat, int) and chat > 0:
            return 0.0
        now = self.clock()
        window = self._sent.setdefault(chat, deque())
        while window and window[0] <= now - 60.0:
            window.popleft()
        if len(window) >= self.per_minute:
            return max(0.05, window[0] + 60.0 - now)
        window.append(now)
        if len(self._sent) > 4096:  # forget idle groups
            for key in [k for k, w in self._sent.items() if not w or w[-1] <= now - 60.0]:
                del self._sent[key]
        return 0.0


# ---------------------------------------------------------------------- the channel
@dataclass
class TelegramChannel:
    """Receives Telegram updates into the engine and delivers the engine's intents.

    Implements ``dialogs.kernel.channel.Messenger`` (``deliver``) for the dispatcher.

    Attributes:
        app: the wired application (engine, database, media store).
        application: the PTB Application whose ``bot`` makes the calls.
        poll_timeout: seconds of one ``getUpdates`` long poll.
        on_outbox: called when processing wrote intents (the runner wakes the dispatcher).
    """

    app: App
    application: AnyApplication
    poll_timeout: int = 30
    on_outbox: Callable[[], None] | None = None
    platform: str = PLATFORM
    pacer: GroupPacer = field(default_factory=GroupPacer)
    _tails: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _locks: weakref.WeakValueDictionary[str, asyncio.Lock] = field(
        default_factory=weakref.WeakValueDictionary
    )
    _members: dict[tuple[str, str], tuple[float, str]] = field(default_factory=dict)
    _loop: asyncio.AbstractEventLoop | None = None
    bot_username: str = ""

    async def start(self, stop: asyncio.Event | None = None) -> bool:
        """Initialise the bot (``getMe``), retrying while the network is down.

        Returns:
            False if ``stop`` was set before it succeeded.
        """
        self._loop = asyncio.get_running_loop()
        stop = stop or asyncio.Event()
        delay = 1.0
        while not stop.is_set():
            try:
                await _until(stop, self.application.initialize())
                self.bot_username = self.application.bot.username
                return True
            except _Stopped:
                break
            except InvalidToken as exc:
                raise ConfigError(
                    "telegram.token: the Bot API refused the token (check TELEGRAM_TOKEN)"
                ) from exc
            except (NetworkError, RetryAfter) as exc:
                log.warning("telegram: getMe failed (%s); retrying in %.0f s", exc, delay)
                await _sleep(stop, delay)
                delay = min(delay * 2, 60.0)
        # Never initialised, so Application.shutdown() would skip it: close the HTTP client.
        with contextlib.suppress(Exception):
            await self.application.bot.request.shutdown()
        return False

    async def close(self, grace: float = 10.0) -> None:
        """Finish events being processed, then shut the PTB Application down."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace)
        with contextlib.suppress(TelegramError, RuntimeError):
            await self.application.shutdown()

    # ------------------------------------------------------------------ receiving
    async def poll(self, stop: asyncio.Event) -> None:
        """Long polling that acknowledges a batch only after it is in the inbox."""
        bot = self.application.bot
        await _retrying(
            stop, lambda: bot.delete_webhook(drop_pending_updates=False), "deleteWebhook"
        )
        offset: int | None = None
        failures = 0
        while not stop.is_set():
            try:
                updates = await _until(
                    stop,
                    bot.get_updates(
                        offset=offset, timeout=self.poll_timeout, allowed_updates=ALLOWED_UPDATES
                    ),
                )
            except _Stopped:
                break
            except InvalidToken as exc:
                raise ConfigError("telegram.token: the Bot API refused the token") from exc
            except TelegramError as exc:
                failures += 1
                wait = (
                    _seconds(exc.retry_after)
                    if isinstance(exc, RetryAfter)
                    else min(30.0, 0.5 * 2**failures)
                )
                level = logging.ERROR if isinstance(exc, Conflict) else logging.WARNING
                log.log(
                    level, "telegram: getUpdates failed (%s); retrying in %.1f s", exc, wait or 1.0
                )
                await _sleep(stop, wait or 1.0)
                continue
            failures = 0
            if not updates:
                continue
            try:
                await self.ingest(updates)
            except Exception:
                # Not acknowledged: Telegram hands the same batch out again (deduplicated).
                log.exception(
                    "telegram: storing %d updates failed; they will be fetched again", len(updates)
                )
                await _sleep(stop, 1.0)
                continue
            offset = updates[-1].update_id + 1
        if offset is not None:  # confirm the last batch so a restart does not fetch it again
            with contextlib.suppress(TelegramError):
                await bot.get_updates(
                    offset=offset, timeout=0, limit=1, allowed_updates=ALLOWED_UPDATES
                )

    async def feed_webhook(self, data: dict[str, Any]) -> None:
        """A webhook POST body: stored in the inbox before the caller answers 200.

        Raises:
            ValueError: the body is not an update Telegram sends (fields of the wrong
                type): answering 400, not storing it.
        """
        try:
            update = Update.de_json(data, self.application.bot)
            translate(update, bot_username=self.bot_username)
        except Exception as exc:
            raise ValueError(f"not a Telegram update ({type(exc).__name__})") from exc
        await self.ingest([update])

    async def ingest(self, updates: Sequence[Update]) -> int:
        """Store updates in the inbox (downloading accepted media first) and schedule them.

        Chats are handled concurrently, each chat's updates in order.

        Returns:
            How many were new (not duplicates).

        Raises:
            Exception: when any update could not be stored; the caller must not
                acknowledge the batch.
        """
        by_chat: dict[str, list[Incoming]] = {}
        for update in updates:
            try:
                incoming = translate(update, bot_username=self.bot_username)
            except Exception:
                # An update we cannot even describe would block the queue forever.
                log.exception("telegram: update %s cannot be translated; skipped", update.update_id)
                continue
            if incoming is not None:
                by_chat.setdefault(incoming.chat_key, []).append(incoming)
        results = await asyncio.gather(
            *(self._ingest_chat(items) for items in by_chat.values()), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return sum(r for r in results if isinstance(r, int))

    def _lock(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    async def _ingest_chat(self, items: list[Incoming]) -> int:
        new = 0
        async with self._lock(items[0].chat_key):
            for incoming in items:
                if incoming.media is not None:
                    if await asyncio.to_thread(self._seen, incoming.event_id):
                        continue  # a duplicate: do not download it again
                    event = await self._media_event(incoming)
                else:
                    assert incoming.event is not None
                    event = await self._vouch_group_admin(incoming.event)
                if await asyncio.to_thread(self.app.engine.receive, event):
                    new += 1
                    self._schedule(incoming.chat_key, event.event_id, incoming.callback_id)
        return new

    async def _vouch_group_admin(self, event: Event) -> Event:
        """Mark a decision press by a group owner/administrator (``group_admins_decide``).

        Asked before the engine's transaction (no network call inside it); fails closed.
        """
        if not (
            self.app.settings.telegram.group_admins_decide
            and isinstance(event, ButtonPressed)
            and event.is_group
            and event.data.startswith(GROUP_ADMIN_BUTTONS)
        ):
            return event
        try:
            admin = await self.is_group_admin(event.chat_id, event.user_id)
        except ChannelError as exc:
            log.warning("telegram: admin check failed, treated as not an admin: %s", exc)
            admin = False
        return event.model_copy(update={"group_admin": True}) if admin else event

    def _seen(self, event_id: str) -> bool:
        return self.app.engine.seen(event_id)

    async def _media_event(self, incoming: Incoming) -> Event:
        media = incoming.media
        assert media is not None
        base = incoming.base
        # The limits depend on the state earlier events of this chat lead to.
        await self.settled(incoming.chat_key)
        if media.kind == "file":
            return await self._file_event(incoming, media)
        cls = VoiceReceived if media.kind == "voice" else VideoReceived
        limits = await asyncio.to_thread(
            self.app.engine.answer_limits, PLATFORM, str(base["user_id"])
        )
        if limits is None or media.kind not in limits.modes:
            return cls(
                **base, media=media.ref
            )  # not wanted now: the engine explains, nothing is fetched
        cap = min(limits.max_bytes, BOT_API_DOWNLOAD_LIMIT)
        if media.ref.size_bytes is not None and media.ref.size_bytes > cap:
            return MediaRejected(**base, reason="too_large", media=media.ref)
        if media.ref.duration_s is not None and media.ref.duration_s > limits.max_seconds + 1:
            return MediaRejected(**base, reason="too_long", media=media.ref)
        data = await self._download(media.ref.platform_file_id, cap)
        if isinstance(data, str):
            return MediaRejected(**base, reason=data, media=media.ref)
        return cls(**base, media=await self._store(media, data))

    async def _file_event(self, incoming: Incoming, media: PendingMedia) -> Event:
        base = incoming.base
        # Documents are imports (questions, calendars) from staff, or a candidate's code
        # for the coding question being asked; anyone else's files are not fetched.
        cap = min(self.app.settings.interview.max_media_bytes, BOT_API_DOWNLOAD_LIMIT)
        if not await asyncio.to_thread(self._is_staff, str(base["user_id"])):
            limits = await asyncio.to_thread(
                self.app.engine.answer_limits, PLATFORM, str(base["user_id"])
            )
            if limits is None or "code" not in limits.modes:
                return FileReceived(**base, media=media.ref, caption=media.caption)
            cap = min(limits.max_bytes, BOT_API_DOWNLOAD_LIMIT)
        if media.ref.size_bytes is not None and media.ref.size_bytes > cap:
            return FileReceived(**base, media=media.ref, caption=media.caption)
        data = await self._download(media.ref.platform_file_id, cap)
        if isinstance(data, str):
            return FileReceived(**base, media=media.ref, caption=media.caption)
        return FileReceived(**base, media=await self._store(media, data), caption=media.caption)

    def _is_staff(self, user_id: str) -> bool:
        with self.app.db.session() as session:
            return highest_role(session, self.app.settings, PLATFORM, user_id) is not None

    async def _store(self, media: PendingMedia, data: bytes) -> MediaRef:
        rel, digest = await asyncio.to_thread(self.app.db.media.put, data, media.suffix)
        return media.ref.model_copy(update={"path": rel, "sha256": digest, "size_bytes": len(data)})

    async def _download(
        self, file_id: str, cap: int
    ) -> bytes | Literal["too_large", "download_failed"]:
        """The file's bytes, or why not. Network errors are retried a few times."""
        bot = self.application.bot
        for attempt in range(DOWNLOAD_ATTEMPTS):
            try:
                tg_file = await bot.get_file(file_id)
                if tg_file.file_size is not None and tg_file.file_size > cap:
                    return "too_large"
                data = bytes(await tg_file.download_as_bytearray(read_timeout=120))
            except BadRequest as exc:
                if "too big" in exc.message.lower():
                    return "too_large"
                log.warning("telegram: cannot fetch file: %s", exc.message)
                return "download_failed"
            except RetryAfter as exc:
                await asyncio.sleep(_seconds(exc.retry_after) or 1.0)
                continue
            except NetworkError as exc:
                log.warning("telegram: download attempt %d failed: %s", attempt + 1, exc.message)
                await asyncio.sleep(0.5 * 2**attempt)
                continue
            except TelegramError as exc:
                log.warning("telegram: cannot fetch file: %s", exc)
                return "download_failed"
            return "too_large" if len(data) > cap else data
        return "download_failed"

    # ------------------------------------------------------------------ processing
    def _schedule(self, chat_key: str, event_id: str, callback_id: str | None) -> None:
        previous = self._tails.get(chat_key)
        task = asyncio.create_task(self._process(previous, event_id, callback_id))
        self._tails[chat_key] = task
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._finished, chat_key))

    def _finished(self, chat_key: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._tails.get(chat_key) is task:
            del self._tails[chat_key]

    async def settled(self, chat_key: str) -> None:
        """Wait until every event of this chat received so far has been processed."""
        tail = self._tails.get(chat_key)
        if tail is not None:
            await asyncio.wait([tail])

    async def idle(self) -> None:
        """Wait until nothing is being processed (tests, shutdown)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def _process(
        self, previous: asyncio.Task[None] | None, event_id: str, callback_id: str | None
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        try:
            intents = await asyncio.to_thread(self.app.engine.process, event_id)
        except Exception:
            # Still "received" in the inbox: the next start's process_pending() retries it.
            log.exception("telegram: processing %s failed", event_id)
            intents = []
        if intents and self.on_outbox is not None:
            self.on_outbox()
        if callback_id and not any(
            isinstance(i, AnswerButton) and i.callback_id == callback_id for i in intents
        ):
            # Every press gets an answer, or the user's client shows a spinner.
            await self._answer_quietly(callback_id)

    async def _answer_quietly(self, callback_id: str) -> None:
        try:
            await self.application.bot.answer_callback_query(callback_id)
        except TelegramError as exc:
            log.info("telegram: could not answer callback: %s", exc)

    # ------------------------------------------------------------------ delivering
    async def deliver(
        self,
        intent: Intent,
        *,
        file_data: bytes | None = None,
        target_message_id: str | None = None,
    ) -> str | None:
        """Send one intent; returns the Telegram message id (None for button answers).

        Raises:
            ChannelError: retryable for 429, network errors and 5xx.
        """
        try:
            if isinstance(intent, AnswerButton):
                await self.application.bot.answer_callback_query(
                    intent.callback_id, text=intent.text[:200] or None, show_alert=intent.alert
                )
                return None
            chat = _chat(intent.chat_id)
            wait = self.pacer.reserve(chat)
            if wait > 0:
                raise ChannelError(
                    f"telegram: group {chat} is at {GROUP_MESSAGES_PER_MINUTE} messages/min",
                    retryable=True,
                    retry_after=wait,
                )
            if isinstance(intent, Send):
                return await self._send(chat, intent)
            if isinstance(intent, SendFile):
                return await self._send_file(chat, intent, file_data)
            if isinstance(intent, Edit):
                return await self._edit(chat, intent, target_message_id)
        except TelegramError as exc:
            raise channel_error(exc) from exc
        raise ChannelError(f"telegram: cannot deliver {type(intent).__name__}", retryable=False)

    async def _send(self, chat: int | str, intent: Send) -> str:
        parts = split_text(intent.text)
        message: Message | None = None
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            message = await self.application.bot.send_message(
                chat, part, reply_markup=_markup(intent.buttons) if last else None
            )
        assert message is not None
        return str(message.message_id)

    async def _send_file(self, chat: int | str, intent: SendFile, data: bytes | None) -> str:
        if data is None:
            raise ChannelError(f"telegram: no data for file {intent.filename}", retryable=False)
        bot = self.application.bot
        caption = intent.caption if len(intent.caption) <= CAPTION_LIMIT else ""
        upload = InputFile(data, filename=intent.filename)
        markup = _markup(intent.buttons)
        if intent.mime_type in PHOTO_TYPES and len(data) <= PHOTO_LIMIT:
            message = await bot.send_photo(
                chat, upload, caption=caption or None, reply_markup=markup
            )
        else:
            message = await bot.send_document(
                chat, upload, caption=caption or None, reply_markup=markup
            )
        if intent.caption and not caption:
            for part in split_text(intent.caption):
                await bot.send_message(chat, part)
        return str(message.message_id)

    async def _edit(self, chat: int | str, intent: Edit, target: str | None) -> str:
        if target is None:
            raise ChannelError(
                f"telegram: no message id to edit for {intent.ref!r}", retryable=False
            )
        bot = self.application.bot
        markup = _markup(intent.buttons)
        try:
            try:
                await bot.edit_message_text(
                    intent.text[:TEXT_LIMIT],
                    chat_id=chat,
                    message_id=int(target),
                    reply_markup=markup,
                )
            except BadRequest as exc:
                if "no text in the message" not in exc.message.lower():
                    raise
                # A photo or document: its caption is the text.
                await bot.edit_message_caption(
                    chat_id=chat,
                    message_id=int(target),
                    caption=intent.text[:CAPTION_LIMIT],
                    reply_markup=markup,
                )
        except BadRequest as exc:
            if not _not_modified(exc):  # identical text is what we wanted anyway
                raise
        return target

    # ------------------------------------------------------------------ group admins
    async def chat_member_status(self, chat_id: str, user_id: str) -> str:
        """The user's status in a group ("creator", "administrator", "member", "left" ...).

        Cached for a minute. Raises ``ChannelError`` if Telegram cannot tell.
        """
        key = (chat_id, user_id)
        cached = self._members.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[0] < MEMBER_CACHE_SECONDS:
            return cached[1]
        try:
            member = await self.application.bot.get_chat_member(_chat(chat_id), int(user_id))
        except TelegramError as exc:
            raise channel_error(exc) from exc
        status = str(member.status)
        self._members[key] = (now, status)
        return status

    async def is_group_admin(self, chat_id: str, user_id: str) -> bool:
        """True if the user owns or administers the group (``telegram.group_admins_decide``)."""
        return await self.chat_member_status(chat_id, user_id) in ("creator", "administrator")

    def group_admin_check(self) -> Callable[[str, str], bool]:
        """A blocking ``(chat_id, user_id) -> bool`` for engine code in worker threads.

        The engine runs in ``asyncio.to_thread``; this bridges to the bot's event loop.
        It fails closed: any error (network, timeout) means "not an admin". Calling it
        on the event loop's own thread would deadlock, so that raises RuntimeError.
        """
        loop = self._loop or asyncio.get_running_loop()

        def check(chat_id: str, user_id: str) -> bool:
            if threading.get_ident() == getattr(loop, "_thread_id", None):
                raise RuntimeError("group_admin_check must be called from a worker thread")
            future = asyncio.run_coroutine_threadsafe(self.is_group_admin(chat_id, user_id), loop)
            try:
                return future.result(timeout=10)
            except Exception as exc:
                log.warning("telegram: admin check for %s in %s failed: %s", user_id, chat_id, exc)
                return False

        return check


# ---------------------------------------------------------------------- small helpers
class _Stopped(Exception):
    pass


async def _until(stop: asyncio.Event, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` unless ``stop`` is set first (then cancel it, raise _Stopped)."""
    task = asyncio.ensure_future(awaitable)
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise _Stopped()
    return task.result()


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _retrying(stop: asyncio.Event, call: Callable[[], Awaitable[Any]], what: str) -> None:
    delay = 1.0
    while not stop.is_set():
        try:
            await _until(stop, call())
            return
        except _Stopped:
            return
        except InvalidToken as exc:
            raise ConfigError("telegram.token: the Bot API refused the token") from exc
        except TelegramError as exc:
            log.warning("telegram: %s failed (%s); retrying in %.0f s", what, exc, delay)
            await _sleep(stop, delay)
            delay = min(delay * 2, 60.0)


async def start_telegram(rt: Runtime) -> None:
    """Telegram: long polling by default, or a webhook behind the web app."""
    from web.app import TELEGRAM_WEBHOOK_PATH

    settings = rt.app.settings.telegram
    if settings.mode == "webhook" and settings.webhook_secret is None:
        raise ConfigError("telegram.webhook_secret: webhook mode needs TELEGRAM_WEBHOOK_SECRET")
    application = build_application(settings, rate_limiter=settings.rate_limiter)
    channel = TelegramChannel(rt.app, application, on_outbox=rt.wake_dispatcher)
    if not await channel.start(rt.stop):
        return  # stopped while the Bot API was unreachable
    # Invitation links name the bot as getMe does, before any event is handled.
    await asyncio.to_thread(
        learn_telegram_username,
        rt.app.db,
        rt.app.settings,
        rt.app.services.channels,
        channel.bot_username,
    )
    rt.app.channels[channel.platform] = channel
    rt.on_close(channel.close)
    if settings.mode == "polling":
        rt.add_loop("telegram polling", channel.poll)
        log.info("telegram: @%s polling %s", channel.bot_username, settings.base_url)
        return
    assert settings.webhook_secret is not None
    url = rt.app.settings.app.public_base_url.rstrip("/") + TELEGRAM_WEBHOOK_PATH
    await application.bot.set_webhook(
        url,
        secret_token=settings.webhook_secret.get_secret_value(),
        allowed_updates=list(ALLOWED_UPDATES),
    )
    rt.wants_web = True
    log.info("telegram: @%s webhook at %s", channel.bot_username, url)
