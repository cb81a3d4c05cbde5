"""WeChat Official Account adapter: candidates take the interview in the account's chat.

Incoming: the callback XML (decrypted and checked in ``web/wechat_routes.py``) becomes
a neutral event. Text -> ``TextReceived`` (or ``CommandReceived`` for ``/cmd``, or
``ButtonPressed`` when it answers a numbered menu); voice (AMR/speex) and
video/short video are downloaded at once -- temporary media expire after 3 days --
into the media store and become ``VoiceReceived``/``VideoReceived`` (or
``MediaRejected`` over a limit); ``subscribe``/``SCAN`` with a scene become
``SubscribeReceived(scene=<invitation token>)``; image, location, link ... become
``UnsupportedReceived``. Event ids are ``wechat:msg:<MsgId>`` or, for events (MsgId 0),
``wechat:ev:<FromUserName>:<CreateTime>:<Event>``: the engine inbox drops WeChat's
retries.

Outgoing: customer-service messages (allowed for 48 hours after the user's last
message). Buttons cannot be attached to them, so **buttons become a numbered text
menu**: the data of the last buttons sent to a user is kept in the ``KeyValue`` table
(``wechat:menu:<openid>``, 48 hours), and a reply of just "1", "2" ... (or the exact
button label) comes back as ``ButtonPressed(data=...)``; a menu answers once, so a
later short answer to a question is not taken for an old button. A text-only menu works on every
account type and client; a ``msgmenu`` click (``bizmsgmenuid``) is mapped the same way.
Outside the 48-hour window (errcode 45015/45047) the message goes out as a template
message when ``wechat.template_id`` is set; otherwise it is undeliverable: HR groups of
the candidate's job are told once a day and the dispatcher records the failure.

wechatpy is synchronous: everything here that calls the platform is meant to run in a
thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
import subprocess
import tempfile
import threading
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import requests
import xmltodict  # type: ignore[import-untyped]
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from app.host import App
from bot.wechat_tokens import (
    AccessTokens,
    SharedTokenClient,
    TokenStore,
    official_fetcher,
    token_store,
)
from core.clock import Clock
from core.errors import ChannelError
from core.settings import Settings
from dialogs.kernel.events import (
    ButtonPressed,
    CommandReceived,
    Event,
    MediaRef,
    MediaRejected,
    SubscribeReceived,
    TextReceived,
    UnsupportedReceived,
    VideoReceived,
    VoiceReceived,
)
from dialogs.kernel.intents import AnswerButton, Button, Edit, Intent, Send, SendFile
from dialogs.kernel.notify import group_tag
from dialogs.kernel.outbox import write_intents
from storage.db import Database
from storage.kv import kv_add, kv_delete, kv_live, kv_peek, kv_purge_expired, kv_put

log = logging.getLogger(__name__)

PLATFORM = "wechat"
MENU_TTL = dt.timedelta(hours=48)
MEDIA_TTL = dt.timedelta(days=3)  # temporary media expire after 3 days
HR_NOTICE_TTL = dt.timedelta(hours=24)
# Platform facts: a WeChat voice message is at most 60 s and 2 MB.
VOICE_MAX_SECONDS = 60
VOICE_MAX_BYTES = 2_000_000
TEXT_CHUNK_BYTES = 1800
# 45015: more than 48 h since the user's last message; 45047: too many messages since.
WINDOW_ERRCODES = frozenset({45015, 45047})
RETRYABLE_ERRCODES = frozenset({-1, 45009, 45011})
_AMR_FRAME_BYTES = (13, 14, 16, 18, 20, 21, 27, 32, 6, 1, 1, 1, 1, 1, 1, 1)

# User-facing strings of this adapter (to move into dialogs/kernel/locales later).
TEXTS: dict[str, dict[str, str]] = {
    "zh": {
        "menu_hint": "请回复对应数字选择：",
        "template_action": "请回到公众号回复继续",
        "hr_undeliverable": "⚠️ 候选人 #{id} 已超过 48 小时未在公众号发消息，微信不允许再主动发送，消息未送达。请通过电话或短信联系候选人。",
        "file_unsupported": "（文件无法通过公众号发送，请联系 HR 获取。）",
    },
    "en": {
        "menu_hint": "Reply with a number to choose:",
        "template_action": "Reply in the account to go on",
        "hr_undeliverable": "⚠️ Candidate #{id} has not written to the Official Account for 48 hours; WeChat no longer lets us message them, so a message was not delivered. Please reach them by phone or SMS.",
        "file_unsupported": "(This file cannot be sent through the Official Account; please ask HR for it.)",
    },
}


def text_for(lang: str, key: str, **kwargs: Any) -> str:
    table = TEXTS.get(lang) or TEXTS["zh"]
    return table[key].format(**kwargs) if kwargs else table[key]


def guess_language(text: str) -> str:
    """Messages come from the engine already localised: CJK characters mean Chinese."""
    return "zh" if re.search(r"[\u3400-\u9fff]", text) else "en"


# ------------------------------------------------------------------ client
class OfficialClient(SharedTokenClient, WeChatClient):  # type: ignore[misc]
    """wechatpy's client with the shared token cache and a configurable base URL."""

    def __init__(
        self,
        app_id: str,
        secret: str,
        tokens: AccessTokens,
        *,
        api_base_url: str,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(app_id, secret, timeout=timeout, auto_retry=False)
        self.use_shared_tokens(tokens, api_base_url)


def make_client(settings: Settings, store: TokenStore, clock: Clock) -> OfficialClient:
    wc = settings.wechat
    if not (wc.app_id and wc.app_secret):
        raise ChannelError(
            "wechat.app_id and WECHAT_APP_SECRET are needed for the Official Account"
        )
    secret = wc.app_secret.get_secret_value()
    tokens = AccessTokens(
        store,
        f"wechat:token:{wc.app_id}",
        official_fetcher(wc.api_base_url, wc.app_id, secret),
        clock,
    )
    return OfficialClient(wc.app_id, secret, tokens, api_base_url=wc.api_base_url)


def channel_error(
    exc: Exception, what: str, retryable_codes: frozenset[int] = RETRYABLE_ERRCODES
) -> ChannelError:
    """Map a wechatpy/requests failure to the project's error (retryable or not).

    ``retryable_codes``: the errcodes worth retrying (the Official Account's by default;
    WeCom passes its own).
    """
    if isinstance(exc, WeChatClientException):
        code = exc.errcode
        if code is None:  # HTTP error status
            return ChannelError(f"{what}: HTTP error", retryable=True, reason="HTTP error")
        retry_after = 60.0 if code == 45009 else None  # 45009: the daily API quota
        return ChannelError(
            f"{what}: errcode {code} {exc.errmsg}",
            retryable=code in retryable_codes,
            retry_after=retry_after,
            reason=f"errcode {code}",
        )
    if isinstance(exc, requests.RequestException | httpx.HTTPError):
        return ChannelError(
            f"{what}: network error {type(exc).__name__}", retryable=True, reason="network"
        )
    return ChannelError(
        f"{what}: {type(exc).__name__}: {exc}", retryable=True, reason=type(exc).__name__
    )


# ------------------------------------------------------------------ menus
class ButtonMenus:
    """The buttons last sent to each user, so "1"/"2" replies map back to their data."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    @staticmethod
    def key(openid: str) -> str:
        return f"wechat:menu:{openid}"[:120]

    def remember(self, openid: str, buttons: Sequence[Sequence[Button]]) -> None:
        flat = [[b.label, b.data] for row in buttons for b in row]
        expires = self.clock.now() + MENU_TTL
        value = json.dumps({"exp": expires.isoformat(), "items": flat}, ensure_ascii=False)
        kv_put(self.db, self.key(openid), value, expires)

    def _menu(self, openid: str) -> list[list[str]]:
        # Read on every short text a user sends: a lock-free read keeps the callback fast.
        raw = kv_peek(self.db, self.key(openid))
        if not raw:
            return []
        data = json.loads(raw)
        if dt.datetime.fromisoformat(data["exp"]) <= self.clock.now():
            return []
        return [list(item) for item in data["items"]]

    def resolve(self, openid: str, text: str) -> str | None:
        """The button data a reply selects, or None for an ordinary message."""
        reply = unicodedata.normalize("NFKC", text).strip().rstrip(".。").strip()
        if not reply or len(reply) > 40:
            return None
        menu = self._menu(openid)
        if not menu:
            return None
        if reply.isdigit():
            index = int(reply)
            return menu[index - 1][1] if 1 <= index <= len(menu) else None
        folded = reply.casefold()
        for label, data in menu:
            if unicodedata.normalize("NFKC", label).strip().casefold() == folded:
                return data
        return None

    def resolve_id(self, openid: str, menu_id: str) -> str | None:
        """A ``msgmenu`` click: ids are the 1-based positions we sent."""
        return self.resolve(openid, menu_id) if menu_id.isdigit() else None

    def consume(self, openid: str) -> None:
        """A menu answers once: a later short reply ("1", "yes") to a question is an
        answer, not a press of an old button. The next message with buttons sets a new one."""
        kv_delete(self.db, self.key(openid))


def render_menu(text: str, buttons: Sequence[Sequence[Button]]) -> str:
    """The message text followed by a numbered list of its buttons."""
    flat = [b for row in buttons for b in row]
    if not flat:
        return text
    lines = [text, "", text_for(guess_language(text), "menu_hint")]
    lines += [f"{i}. {b.label}" for i, b in enumerate(flat, 1)]
    return "\n".join(lines)


# ------------------------------------------------------------------ incoming
@dataclass(frozen=True)
class Incoming:
    """A parsed callback: a ready event, or media to download first."""

    event_id: str
    openid: str
    kind: str  # "event" | "voice" | "video"
    event: Event | None = None
    media_id: str = ""
    media_format: str = ""

    def to_json(self) -> str:
        return json.dumps(
            {
                "event_id": self.event_id,
                "openid": self.openid,
                "kind": self.kind,
                "media_id": self.media_id,
                "media_format": self.media_format,
            }
        )

    @classmethod
    def from_json(cls, raw: str) -> Incoming:
        data = json.loads(raw)
        return cls(
            event_id=data["event_id"],
            openid=data["openid"],
            kind=data["kind"],
            media_id=data["media_id"],
            media_format=data["media_format"],
        )


def parse_xml(xml: str | bytes) -> dict[str, Any]:
    """The fields of a callback's XML (after decryption)."""
    if isinstance(xml, bytes):
        xml = xml.decode("utf-8")
    if "<!DOCTYPE" in xml or "<!ENTITY" in xml:
        raise ValueError("XML with a DTD is not accepted")
    try:
        data = xmltodict.parse(xml).get("xml")
    except Exception as exc:  # expat errors are not ValueErrors
        raise ValueError(f"malformed XML: {type(exc).__name__}") from exc
    if not isinstance(data, dict):
        raise ValueError("not a WeChat callback")
    if _depth(data) > MAX_XML_DEPTH:
        # Python's own printing and comparing recurse: a field nested thousands deep
        # would be a RecursionError (a 500) wherever it is turned into text.
        raise ValueError("XML nested too deep")
    return dict(data)


MAX_XML_DEPTH = 8  # WeChat's deepest callbacks (a menu's SendPicsInfo) nest 5 levels


def _depth(value: Any) -> int:
    """How deep dicts and lists nest in ``value`` (iterative: no recursion to exhaust)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > MAX_XML_DEPTH:
            break
        if isinstance(item, dict):
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
    return deepest


_OPENID = re.compile(r"[A-Za-z0-9_\-@.]{1,128}")


def check_fields(fields: dict[str, Any]) -> None:
    """Refuse a callback that no WeChat server sends: a sender id, a numeric CreateTime
    and a message type are always there (the signature vouches for the sender, not for
    the content being well formed).

    Raises:
        ValueError: when a field is missing or malformed.
    """
    sender, created = fields.get("FromUserName"), fields.get("CreateTime")
    if not isinstance(sender, str) or not _OPENID.fullmatch(sender):
        raise ValueError("no valid FromUserName")
    if not isinstance(created, str) or not (created.isascii() and created.isdigit()):
        raise ValueError("no valid CreateTime")
    if len(created) > 12:
        raise ValueError("CreateTime out of range")
    if not isinstance(fields.get("MsgType"), str):
        raise ValueError("no MsgType")


def event_id_for(fields: dict[str, Any], platform: str = PLATFORM) -> str:
    msg_id = str(fields.get("MsgId") or "0").strip()
    if msg_id not in ("", "0"):
        return f"{platform}:msg:{msg_id}"
    event = str(fields.get("Event") or fields.get("MsgType") or "").strip()
    return f"{platform}:ev:{fields.get('FromUserName', '')}:{fields.get('CreateTime', '')}:{event}"[
        :200
    ]


def _base(event_id: str, openid: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "platform": PLATFORM,
        "chat_id": openid,
        "user_id": openid,
        "is_group": False,
    }


def command_or_text(base: dict[str, Any], text: str) -> Event:
    """``/cmd args`` -> CommandReceived, anything else -> TextReceived."""
    stripped = text.strip()
    if stripped.startswith("/") and len(stripped) > 1 and not stripped[1].isspace():
        name, _, args = stripped[1:].partition(" ")
        return CommandReceived(**base, command=name.lower()[:40], args=args.strip())
    return TextReceived(**base, text=text)


def to_incoming(fields: dict[str, Any], menus: ButtonMenus | None) -> Incoming | None:
    """Map callback fields to an event (None: nothing the engine needs, e.g. unsubscribe)."""
    openid = str(fields.get("FromUserName") or "")
    if not openid:
        return None
    event_id = event_id_for(fields)
    base = _base(event_id, openid)
    msg_type = str(fields.get("MsgType") or "").lower()
    if msg_type == "text":
        content = str(fields.get("Content") or "")
        data: str | None = None
        if menus is not None:
            menu_id = str(fields.get("bizmsgmenuid") or "")
            data = menus.resolve_id(openid, menu_id) if menu_id else menus.resolve(openid, content)
            if data is not None:
                menus.consume(openid)
        if data is not None:
            return Incoming(
                event_id, openid, "event", ButtonPressed(**base, data=data, callback_id=event_id)
            )
        return Incoming(event_id, openid, "event", command_or_text(base, content))
    if msg_type == "voice":
        fmt = str(fields.get("Format") or "amr").lower()
        return Incoming(
            event_id, openid, "voice", media_id=str(fields.get("MediaId") or ""), media_format=fmt
        )
    if msg_type in ("video", "shortvideo"):
        return Incoming(
            event_id, openid, "video", media_id=str(fields.get("MediaId") or ""), media_format="mp4"
        )
    if msg_type == "event":
        name = str(fields.get("Event") or "").lower()
        key = str(fields.get("EventKey") or "")
        if name == "subscribe":
            scene = key.removeprefix("qrscene_") if key.startswith("qrscene_") else ""
            return Incoming(event_id, openid, "event", SubscribeReceived(**base, scene=scene[:64]))
        if name == "scan":
            return Incoming(event_id, openid, "event", SubscribeReceived(**base, scene=key[:64]))
        if name == "click" and key.startswith("/"):
            return Incoming(event_id, openid, "event", command_or_text(base, key))
        return None
    return Incoming(
        event_id, openid, "event", UnsupportedReceived(**base, kind=msg_type or "unknown")
    )


def amr_duration(data: bytes) -> float | None:
    """Seconds of an AMR-NB file from its 20 ms frames (None if it is not AMR-NB)."""
    if not data.startswith(b"#!AMR\n"):
        return None
    pos, frames = 6, 0
    while pos < len(data):
        pos += _AMR_FRAME_BYTES[(data[pos] >> 3) & 0x0F]
        frames += 1
    return frames * 0.02


def probe_duration(data: bytes, suffix: str) -> float | None:
    """Duration through ffprobe (speex, video); None when it cannot tell."""
    from bot.console import media_duration

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"media{suffix}"
        path.write_bytes(data)
        try:
            return media_duration(path)
        except (OSError, subprocess.SubprocessError):
            return None


# ------------------------------------------------------------------ the channel
@dataclass
class WeChatChannel:
    """Everything the Official Account needs: client, menus, inbound mapping, messenger."""

    app: App
    client: OfficialClient
    menus: ButtonMenus
    http_timeout: float = 20.0
    messenger: WeChatMessenger = field(init=False)

    def __post_init__(self) -> None:
        self.messenger = WeChatMessenger(self)

    @property
    def settings(self) -> Settings:
        return self.app.settings

    @property
    def clock(self) -> Clock:
        return self.app.services.clock

    # -- inbound (sync; run in a thread) -------------------------------------
    def incoming(self, xml: str | bytes) -> Incoming | None:
        """A decrypted callback -> what to store (``ValueError``: not a callback)."""
        fields = parse_xml(xml)
        check_fields(fields)
        return to_incoming(fields, self.menus)

    @staticmethod
    def pending_key(event_id: str) -> str:
        return f"wechat:pending:{event_id}"[:120]

    def claim_media(self, inc: Incoming) -> bool:
        """Persist a media message before answering WeChat; False for a retry we already hold."""
        if self.app.engine.seen(inc.event_id):
            return False
        now = self.clock.now()
        return kv_add(
            self.app.db, self.pending_key(inc.event_id), inc.to_json(), now + MEDIA_TTL, now
        )

    def pending_media(self) -> list[Incoming]:
        """Media messages claimed but not handed to the engine (after a crash)."""
        live = kv_live(self.app.db, "wechat:pending:", self.clock.now())
        return [Incoming.from_json(value) for value in live]

    def purge_expired(self) -> int:
        """Delete this adapter's expired ``KeyValue`` rows (menus, claims, cards, notices)."""
        return kv_purge_expired(self.app.db, ("wechat:", "wecom:card:"), self.clock.now())

    def finish_media(self, inc: Incoming) -> None:
        kv_delete(self.app.db, self.pending_key(inc.event_id))

    def media_event(self, inc: Incoming) -> Event:
        """Download the media now (it expires in 3 days) and build the event.

        Checks ``engine.answer_limits`` first: a user who is not answering a question,
        or a question that takes no voice/video, gets the event without a download
        (the engine answers it); over-limit media become ``MediaRejected``.
        """
        base = _base(inc.event_id, inc.openid)
        voice = inc.kind == "voice"
        mime = (
            {"amr": "audio/amr", "speex": "audio/speex"}.get(inc.media_format, "audio/amr")
            if voice
            else "video/mp4"
        )
        suffix = {"audio/amr": ".amr", "audio/speex": ".spx"}.get(mime, ".mp4")
        ref = MediaRef(platform_file_id=inc.media_id, mime_type=mime)
        limits = self.app.engine.answer_limits(PLATFORM, inc.openid)
        if limits is None or inc.kind not in limits.modes:
            return VoiceReceived(**base, media=ref) if voice else VideoReceived(**base, media=ref)
        max_bytes = min(limits.max_bytes, VOICE_MAX_BYTES) if voice else limits.max_bytes
        try:
            data = self._download(inc.media_id, max_bytes)
        except _TooLarge as exc:
            return MediaRejected(
                **base, reason="too_large", media=ref.model_copy(update={"size_bytes": exc.size})
            )
        except ChannelError as exc:
            if exc.retryable:
                raise
            log.warning("media %s could not be downloaded: %s", inc.event_id, exc)
            return MediaRejected(**base, reason="download_failed", media=ref)
        if len(data) > max_bytes:
            return MediaRejected(
                **base, reason="too_large", media=ref.model_copy(update={"size_bytes": len(data)})
            )
        duration = amr_duration(data) if mime == "audio/amr" else None
        if duration is None:
            duration = probe_duration(data, suffix)
        ref = ref.model_copy(update={"size_bytes": len(data), "duration_s": duration})
        if duration is not None and duration > limits.max_seconds + 1:
            return MediaRejected(**base, reason="too_long", media=ref)
        path, digest = self.app.db.media.put(data, suffix)
        ref = ref.model_copy(update={"path": path, "sha256": digest})
        return VoiceReceived(**base, media=ref) if voice else VideoReceived(**base, media=ref)

    def _download(self, media_id: str, max_bytes: int) -> bytes:
        tokens = self.client.tokens
        try:
            result = tokens.call(lambda: self.client.media.download(media_id))
        except (WeChatClientException, requests.RequestException) as exc:
            raise channel_error(exc, "media/get") from exc
        if isinstance(result, dict):
            url = result.get("video_url") or result.get("down_url")
            if not url:
                raise ChannelError(f"media/get gave no content for {media_id}")
            return self._fetch_url(str(url), max_bytes)
        content = bytes(result.content)
        return content

    def _fetch_url(self, url: str, max_bytes: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            with httpx.stream(
                "GET", url, timeout=self.http_timeout, follow_redirects=True
            ) as response:
                response.raise_for_status()
                declared = int(response.headers.get("content-length") or 0)
                if declared > max_bytes:
                    raise _TooLarge(declared)
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise _TooLarge(size)
                    chunks.append(chunk)
        except httpx.HTTPStatusError as exc:
            raise ChannelError(
                f"video download: HTTP {exc.response.status_code}",
                retryable=exc.response.status_code >= 500,
            ) from exc
        except httpx.HTTPError as exc:
            raise ChannelError(f"video download: {type(exc).__name__}", retryable=True) from exc
        return b"".join(chunks)

    # -- HR notice when a candidate cannot be reached ----------------------
    def tell_hr_undeliverable(self, openid: str) -> int:
        """Post one notice (per candidate and day) to the HR groups of the candidate's job.

        Returns how many group messages were queued. Groups on the Official Account
        itself are skipped (it has none).
        """
        now = self.clock.now()
        if not kv_add(
            self.app.db, f"wechat:undeliverable:{openid}"[:120], "1", now + HR_NOTICE_TTL, now
        ):
            return 0
        lang = self.settings.app.default_language
        found = self.app.engine.candidate_hr_chats(PLATFORM, openid)
        if found is None:
            return 0
        candidate_id, job_id, groups = found
        # A result-class post: the group scheduler sends it first, within the group's budget.
        tag = group_tag(job_id, "wechat.hr_undeliverable", candidate_id=candidate_id)
        intents: list[Intent] = [
            Send(
                platform=g.platform,
                chat_id=g.chat_id,
                text=text_for(g.lang or lang, "hr_undeliverable", id=candidate_id),
                post=tag,
            )
            for g in groups
            if g.platform != PLATFORM
        ]
        with self.app.db.transaction() as session:
            write_intents(
                session, intents, source_event=f"wechat:undeliverable:{openid}"[:200], now=now
            )
            return len(intents)


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class WeChatMessenger:
    """Delivers intents as customer-service messages (template message outside 48 h)."""

    platform = PLATFORM

    def __init__(self, channel: WeChatChannel) -> None:
        self.channel = channel

    async def deliver(
        self,
        intent: Intent,
        *,
        file_data: bytes | None = None,
        target_message_id: str | None = None,
    ) -> str | None:
        return await asyncio.to_thread(self.deliver_sync, intent, file_data)

    def deliver_sync(self, intent: Intent, file_data: bytes | None = None) -> str | None:
        openid = intent.chat_id
        if isinstance(intent, AnswerButton):
            # A typed menu choice has nothing to acknowledge; a hint is worth a message.
            return self._send_text(openid, intent.text) if intent.text else None
        if isinstance(intent, Send | Edit):
            # Messages cannot be edited on WeChat: an Edit arrives as a new message.
            if intent.buttons:
                self.channel.menus.remember(openid, intent.buttons)
            return self._send_text(openid, render_menu(intent.text, intent.buttons))
        assert isinstance(intent, SendFile)
        if intent.buttons:
            self.channel.menus.remember(openid, intent.buttons)
        if intent.mime_type.startswith("image/") and file_data:
            if intent.caption:
                self._send_text(openid, render_menu(intent.caption, intent.buttons))
            return self._send_image(openid, intent.filename, file_data)
        note = text_for(guess_language(intent.caption or intent.filename), "file_unsupported")
        self._send_text(openid, f"{intent.caption}\n{note}".strip())
        raise ChannelError(
            f"the Official Account cannot send {intent.mime_type} files", retryable=False
        )

    # -- platform calls ----------------------------------------------------
    def _send_text(self, openid: str, text: str) -> str | None:
        client = self.channel.client
        result: dict[str, Any] = {}
        try:
            for chunk in split_text(text, TEXT_CHUNK_BYTES):
                result = client.tokens.call(partial(client.message.send_text, openid, chunk))
        except WeChatClientException as exc:
            if exc.errcode in WINDOW_ERRCODES:
                return self._outside_window(openid, text)
            raise channel_error(exc, "message/custom/send") from exc
        except requests.RequestException as exc:
            raise channel_error(exc, "message/custom/send") from exc
        return str(result.get("msgid") or f"cs-{uuid.uuid4().hex[:16]}")

    def _send_image(self, openid: str, filename: str, data: bytes) -> str | None:
        client = self.channel.client
        try:
            uploaded = client.tokens.call(lambda: client.media.upload("image", (filename, data)))
            result = client.tokens.call(
                lambda: client.message.send_image(openid, uploaded["media_id"])
            )
        except WeChatClientException as exc:
            if exc.errcode in WINDOW_ERRCODES:
                self._outside_window(openid, filename)
                return None
            raise channel_error(exc, "send image") from exc
        except requests.RequestException as exc:
            raise channel_error(exc, "send image") from exc
        return str(result.get("msgid") or f"cs-{uuid.uuid4().hex[:16]}")

    def _outside_window(self, openid: str, text: str) -> str:
        """The 48-hour window is closed: template message, or undeliverable (HR told)."""
        template_id = self.channel.settings.wechat.template_id
        client = self.channel.client
        if template_id:
            try:
                result = client.tokens.call(
                    lambda: client.message.send_template(openid, template_id, template_data(text))
                )
            except (WeChatClientException, requests.RequestException) as exc:
                raise channel_error(exc, "message/template/send") from exc
            return str(result.get("msgid") or f"tpl-{uuid.uuid4().hex[:16]}")
        self.channel.tell_hr_undeliverable(openid)
        raise ChannelError(
            "outside WeChat's 48-hour window and no template message is configured", retryable=False
        )


def template_data(text: str) -> dict[str, dict[str, str]]:
    """Fields for the configured template: ``thing1`` the notice, ``thing2`` what to do.

    Template fields of type ``thing`` are cut at 20 characters by WeChat, so the
    first line of the message is used.
    """
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    lang = guess_language(text)
    return {
        "thing1": {"value": _cut(first, 20)},
        "thing2": {"value": _cut(text_for(lang, "template_action"), 20)},
    }


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def split_text(text: str, max_bytes: int) -> list[str]:
    """Pieces of at most ``max_bytes`` UTF-8 bytes, split at line ends where possible."""
    if len(text.encode()) <= max_bytes:
        return [text]
    pieces: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line.encode()) > max_bytes:
            cut = len(line)
            while len(line[:cut].encode()) > max_bytes:
                cut -= 1
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:cut])
            line = line[cut:]
        if len((current + line).encode()) > max_bytes:
            pieces.append(current)
            current = ""
        current += line
    if current:
        pieces.append(current)
    return [p.rstrip("\n") for p in pieces if p.strip()]


# ------------------------------------------------------------------ invitations
def showqrcode_url(api_base_url: str) -> str:
    """``showqrcode`` lives on mp.weixin.qq.com, beside the API host (or on a fake server)."""
    base = api_base_url if api_base_url.endswith("/") else api_base_url + "/"
    return base.replace("://api.weixin.qq.com/", "://mp.weixin.qq.com/") + "showqrcode"


def wechat_invite_qr(
    client: OfficialClient, token: str, *, expire_seconds: int = 30 * 86400, timeout: float = 10.0
) -> bytes:
    """A temporary QR code (PNG/JPEG bytes) whose scan starts the interview for ``token``.

    Scanning it sends ``subscribe`` (EventKey ``qrscene_<token>``) to new followers or
    ``SCAN`` (EventKey ``<token>``) to followers; both become ``SubscribeReceived``.
    Synchronous: call it through ``asyncio.to_thread`` from async code. In a running
    app the client is ``app.channels["wechat"].channel.client`` (a ``WeChatMessenger``).

    Raises:
        ChannelError: the platform refused or could not be reached.
    """
    if not 1 <= len(token) <= 64:
        raise ValueError("scene_str must be 1-64 characters")
    body = {
        "expire_seconds": min(expire_seconds, 30 * 86400),
        "action_name": "QR_STR_SCENE",
        "action_info": {"scene": {"scene_str": token}},
    }
    try:
        created = client.tokens.call(lambda: client.qrcode.create(body))
        response = httpx.get(
            showqrcode_url(client.API_BASE_URL),
            params={"ticket": created["ticket"]},
            timeout=timeout,
        )
        response.raise_for_status()
    except (WeChatClientException, requests.RequestException, httpx.HTTPError) as exc:
        raise channel_error(exc, "qrcode") from exc
    except KeyError as exc:
        raise ChannelError("qrcode/create answered without a ticket") from exc
    return response.content


def scene_qr_maker(settings: Settings, db: Database, clock: Clock) -> Callable[[str], bytes]:
    """Token -> :func:`wechat_invite_qr` (``Services.channels.wechat_qr``, wired at build).

    The client is made on the first call (no network before); it shares the access
    token with every other client of the account through the token store.
    """
    clients: list[OfficialClient] = []
    lock = threading.Lock()

    def make(token: str) -> bytes:
        with lock:
            if not clients:
                url = settings.app.redis_url
                store = token_store(db, url.get_secret_value() if url else None)
                clients.append(make_client(settings, store, clock))
        return wechat_invite_qr(clients[0], token)

    return make


def build_wechat(app: App, *, store: TokenStore | None = None) -> WeChatChannel:
    """The Official Account channel from settings; registers its messenger in ``app.channels``."""
    settings = app.settings
    redis_url = settings.app.redis_url.get_secret_value() if settings.app.redis_url else None
    store = store or token_store(app.db, redis_url)
    client = make_client(settings, store, app.services.clock)
    channel = WeChatChannel(app=app, client=client, menus=ButtonMenus(app.db, app.services.clock))
    app.channels[PLATFORM] = channel.messenger
    return channel
