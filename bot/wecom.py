"""WeCom (企业微信) adapter for HR: progress posts, decision cards, card callbacks.

Chats on the ``wecom`` platform:

* ``robot`` -- the HR group's **group robot** (``wechat.robot_webhook``), and
  ``robot:<key>`` for another group's robot (``{work_api_base_url}webhook/send?key=<key>``).
  Bind one to a job with a ``GroupBinding(platform="wecom", chat_id="robot", job_id=...)``.
  Robot webhooks are push-only, so a message **with buttons** to a robot chat goes out
  as a ``template_card`` (button_interaction) **app message** to the job's HR users:
  WeCom users with the ``hr_manager`` or ``admin`` role (``Staff`` rows on platform
  ``wecom`` for the job or for all jobs, and ``wecom:<userid>`` entries of
  ``[roles]``). Plain messages are posted through the webhook.
* ``<userid>`` -- a private conversation with the WeCom application (staff commands).

A click on a card arrives as ``template_card_event`` (EventKey = the button's data,
TaskId, ResponseCode) and becomes ``ButtonPressed(platform="wecom", user_id=<userid>,
chat_id=<the card's chat>, message_id=<TaskId>)``. The decision itself (first press
wins, HR list check) is the engine's; when it emits an ``Edit`` of the card, the card
is updated for **every recipient** with ``message/update_template_card`` using the
newest response code (from the click, else from the send; single use, about 72 h).
Card state lives in ``KeyValue`` rows ``wecom:card:<task_id>``.

App messages are limited per member (30 a minute, 1,000 an hour; WeCom drops the rest
without an error) and per app (seats x 200 person-times a day). The messenger says what
each member receives for an intent (:func:`app_messages`, the ``MemberFanout`` protocol)
and the group scheduler plans HR-group posts within ``[groups.member_limits.wecom]``
(dialogs/kernel/memberbudget.py).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import functools
import hashlib
import json
import logging
import ssl
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import certifi
import httpx
import requests
from sqlmodel import Session
from wechatpy.enterprise import WeChatClient as _EnterpriseClient
from wechatpy.exceptions import WeChatClientException

from app.host import App
from bot.wechat import (
    channel_error,
    check_fields,
    command_or_text,
    parse_xml,
    split_text,
)
from bot.wechat_tokens import (
    AccessTokens,
    SharedTokenClient,
    TokenStore,
    token_store,
    work_fetcher,
)
from core.clock import Clock
from core.errors import ChannelError
from core.settings import Settings
from dialogs.kernel.events import ButtonPressed, Event, UnsupportedReceived
from dialogs.kernel.intents import AnswerButton, Button, Edit, Intent, Send, SendFile
from dialogs.kernel.roles import deciders_of_chat
from storage.db import Database
from storage.kv import kv_get, kv_put

log = logging.getLogger(__name__)

PLATFORM = "wecom"
ROBOT = "robot"
CARD_TTL = dt.timedelta(hours=72)
TEXT_LIMIT_BYTES = 2000  # app and robot text messages stop at 2048 bytes
TITLE_CHARS = 36
SUBTITLE_CHARS = 160
BUTTON_CHARS = 10
RETRYABLE_ERRCODES = frozenset({-1, 45009, 45033})
RECIPIENTS_TTL_S = 10.0  # how long planning trusts a robot chat's HR users


# ------------------------------------------------------------------ client
class WorkClient(SharedTokenClient, _EnterpriseClient):  # type: ignore[misc]
    """wechatpy's WeCom client with the shared token cache and a configurable base URL."""

    def __init__(
        self,
        corp_id: str,
        secret: str,
        tokens: AccessTokens,
        *,
        api_base_url: str,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(corp_id, secret, timeout=timeout, auto_retry=False)
        self.use_shared_tokens(tokens, api_base_url)


def make_work_client(settings: Settings, store: TokenStore, clock: Clock) -> WorkClient:
    wc = settings.wechat
    if not (wc.corp_id and wc.corp_secret and wc.agent_id):
        raise ChannelError("WECOM_CORP_ID, WECOM_SECRET and WECOM_AGENT_ID are needed for WeCom")
    secret = wc.corp_secret.get_secret_value()
    tokens = AccessTokens(
        store,
        f"wecom:token:{wc.corp_id}:{wc.agent_id}",
        work_fetcher(wc.work_api_base_url, wc.corp_id, secret),
        clock,
    )
    return WorkClient(wc.corp_id, secret, tokens, api_base_url=wc.work_api_base_url)


# ------------------------------------------------------------------ cards
class CardStore:
    """What was sent as each card: its chat, recipients, buttons and unused response codes."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    @staticmethod
    def key(task_id: str) -> str:
        return f"wecom:card:{task_id}"[:120]

    def load(self, task_id: str) -> dict[str, Any] | None:
        raw = kv_get(self.db, self.key(task_id), self.clock.now())
        return json.loads(raw) if raw else None

    def save(self, task_id: str, record: dict[str, Any]) -> None:
        kv_put(
            self.db,
            self.key(task_id),
            json.dumps(record, ensure_ascii=False),
            self.clock.now() + CARD_TTL,
        )

    def add_code(self, task_id: str, code: str) -> dict[str, Any] | None:
        """Keep a click's response code (newest first); returns the card record."""
        record = self.load(task_id)
        if record is None:
            return None
        if code and code not in record["codes"]:
            record["codes"].insert(0, code)
            self.save(task_id, record)
        return record


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for the robot's short-lived HTTP clients (each would otherwise
    load the CA bundle again: ~70 ms of CPU a post)."""
    return ssl.create_default_context(cafile=certifi.where())


def is_robot(chat_id: str) -> bool:
    return chat_id == ROBOT or chat_id.startswith(ROBOT + ":")


def robot_url(settings: Settings, chat_id: str) -> str | None:
    """The webhook URL of a robot chat (None if not configured)."""
    if chat_id == ROBOT:
        hook = settings.wechat.robot_webhook
        return hook.get_secret_value() if hook else None
    key = chat_id.removeprefix(ROBOT + ":")
    base = settings.wechat.work_api_base_url
    base = base if base.endswith("/") else base + "/"
    return f"{base}webhook/send?key={urllib.parse.quote(key)}"


def upload_url(send_url: str) -> str:
    """``.../webhook/send?key=K`` -> ``.../webhook/upload_media?key=K&type=file``."""
    parts = urllib.parse.urlsplit(send_url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    query["type"] = "file"
    path = parts.path.rsplit("/", 1)[0] + "/upload_media"
    return urllib.parse.urlunsplit(
        (parts.scheme, parts.netloc, path, urllib.parse.urlencode(query), "")
    )


def hr_recipients(db: Database, settings: Settings, chat_id: str) -> list[str]:
    """Who gets a card sent to ``chat_id``: the deciding HR users of the bound jobs."""
    if not is_robot(chat_id):
        return [chat_id]
    with db.transaction() as session:  # the in-process writer queue: no SQLite busy-wait
        return recipients_in(session, settings, chat_id)


def recipients_in(session: Session, settings: Settings, chat_id: str) -> list[str]:
    """:func:`hr_recipients` in the caller's session."""
    if not is_robot(chat_id):
        return [chat_id]
    users: set[str] = set()
    for entry in (*settings.roles.hr_managers, *settings.roles.admins):
        platform, _, user = entry.partition(":")
        if platform == PLATFORM and user:
            users.add(user)
    users.update(deciders_of_chat(session, PLATFORM, chat_id))
    return sorted(users)


Recipients = Callable[[Session, Settings, str], list[str]]


def app_messages(
    session: Session, settings: Settings, intent: Intent, recipients: Recipients | None = None
) -> Counter[str]:
    """What each member receives as application messages (``message/send``) when the
    messenger delivers ``intent``; robot webhook posts and card updates cost none. Each
    costs the member one of WeCom's 30 a minute (the group scheduler plans within them)."""
    chat = intent.chat_id
    if isinstance(intent, AnswerButton):
        user = intent.callback_id.split("|", 1)[1] if "|" in intent.callback_id else ""
        return Counter({user: 1}) if intent.text and user else Counter()
    if isinstance(intent, SendFile):
        cost: Counter[str] = Counter()
        if not is_robot(chat):
            cost[chat] += (1 if intent.caption else 0) + 1
        if intent.buttons:
            text = intent.caption or intent.filename
            cost.update(_card_cost(session, settings, chat, text, recipients))
        return cost
    assert isinstance(intent, Send | Edit)
    if isinstance(intent, Edit) and is_robot(chat):
        return Counter()  # a card's update (or the robot's post of it again): no app message
    if intent.buttons:
        return _card_cost(session, settings, chat, intent.text, recipients)
    if is_robot(chat):
        return Counter()
    return Counter({chat: len(split_text(intent.text, TEXT_LIMIT_BYTES))})


def _card_cost(
    session: Session, settings: Settings, chat: str, text: str, recipients: Recipients | None
) -> Counter[str]:
    each = 1 if fits_card(text) else 1 + len(split_text(text, TEXT_LIMIT_BYTES))
    users = (recipients or recipients_in)(session, settings, chat)
    return Counter({user: each for user in users})


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def card_body(
    text: str, buttons: Sequence[Sequence[Button]], task_id: str, *, replace_text: str | None = None
) -> dict[str, Any]:
    """A ``button_interaction`` template card (title = first line, the rest below)."""
    lines = [line for line in text.splitlines() if line.strip()] or [" "]
    flat = [b for row in buttons for b in row][:6]
    card: dict[str, Any] = {
        "card_type": "button_interaction",
        "main_title": {"title": _cut(lines[0].strip(), TITLE_CHARS)},
        "task_id": task_id,
        "button_list": [
            {"text": _cut(b.label, BUTTON_CHARS), "style": 1 if i == 0 else 2, "key": b.data}
            for i, b in enumerate(flat)
        ],
    }
    rest = "\n".join(lines[1:]).strip()
    if rest:
        card["sub_title_text"] = _cut(rest, SUBTITLE_CHARS)
    if replace_text:
        card["replace_text"] = _cut(replace_text, BUTTON_CHARS)
    return card


def fits_card(text: str) -> bool:
    lines = [line for line in text.splitlines() if line.strip()] or [""]
    return len(lines[0]) <= TITLE_CHARS and len("\n".join(lines[1:]).strip()) <= SUBTITLE_CHARS


# ------------------------------------------------------------------ the channel
@dataclass
class WeComChannel:
    app: App
    client: WorkClient
    cards: CardStore
    messenger: WeComMessenger = field(init=False)

    def __post_init__(self) -> None:
        self.messenger = WeComMessenger(self)

    @property
    def settings(self) -> Settings:
        return self.app.settings

    @property
    def agent_id(self) -> int:
        return int(self.settings.wechat.agent_id or 0)

    def incoming(self, xml: str | bytes) -> Event | None:
        """A decrypted WeCom callback -> event (sync: it records card response codes)."""
        fields = parse_xml(xml)
        check_fields(fields)
        user = str(fields.get("FromUserName") or "")
        if not user:
            return None
        msg_type = str(fields.get("MsgType") or "").lower()
        created = str(fields.get("CreateTime") or "")
        if msg_type == "event":
            name = str(fields.get("Event") or "").lower()
            if name != "template_card_event":
                return None
            task_id = str(fields.get("TaskId") or "")
            key = str(fields.get("EventKey") or "")
            record = (
                self.cards.add_code(task_id, str(fields.get("ResponseCode") or ""))
                if task_id
                else None
            )
            chat_id = str(record["chat_id"]) if record else user
            event_id = f"{PLATFORM}:ev:{user}:{created}:card:{task_id}:{key}"[:200]
            return ButtonPressed(
                event_id=event_id,
                platform=PLATFORM,
                chat_id=chat_id,
                user_id=user,
                is_group=chat_id != user,
                data=key[:64],
                callback_id=f"{task_id}|{user}",
                message_id=task_id or None,
            )
        msg_id = str(fields.get("MsgId") or "")
        event_id = (
            f"{PLATFORM}:msg:{msg_id}" if msg_id else f"{PLATFORM}:ev:{user}:{created}:{msg_type}"
        )
        base = {
            "event_id": event_id,
            "platform": PLATFORM,
            "chat_id": user,
            "user_id": user,
            "is_group": False,
        }
        if msg_type == "text":
            return command_or_text(base, str(fields.get("Content") or ""))
        return UnsupportedReceived(**base, kind=msg_type or "unknown")


class WeComMessenger:
    """Delivers intents on WeCom: robot posts, app messages, template cards and their updates."""

    platform = PLATFORM

    def __init__(self, channel: WeComChannel, *, http: httpx.AsyncClient | None = None) -> None:
        self.channel = channel
        self.http = http
        self._recipients_of: dict[str, tuple[float, list[str]]] = {}  # planning's look-ups

    def app_messages(self, session: Session, intent: Intent) -> Counter[str]:
        """:class:`~dialogs.kernel.channel.MemberFanout`: see :func:`app_messages` (a
        robot chat's recipients looked up at most every ``RECIPIENTS_TTL_S``)."""
        return app_messages(session, self.channel.settings, intent, self._recipients)

    def _recipients(self, session: Session, settings: Settings, chat: str) -> list[str]:
        now = time.monotonic()
        known = self._recipients_of.get(chat)
        if known is None or now - known[0] > RECIPIENTS_TTL_S:
            known = (now, recipients_in(session, settings, chat))
            self._recipients_of[chat] = known
        return known[1]

    async def deliver(
        self,
        intent: Intent,
        *,
        file_data: bytes | None = None,
        target_message_id: str | None = None,
    ) -> str | None:
        chat = intent.chat_id
        if isinstance(intent, AnswerButton):
            user = intent.callback_id.split("|", 1)[1] if "|" in intent.callback_id else ""
            if intent.text and user:
                return await asyncio.to_thread(self._app_text, [user], intent.text)
            return None
        if isinstance(intent, Edit):
            record = self.channel.cards.load(target_message_id) if target_message_id else None
            if record is not None:
                return await asyncio.to_thread(
                    self._update_card, target_message_id or "", record, intent
                )
            # Robot posts and app texts cannot be edited: say it again.
            return await self._send(chat, intent.text, intent.buttons, ref=intent.ref)
        if isinstance(intent, Send):
            return await self._send(chat, intent.text, intent.buttons, ref=intent.ref)
        assert isinstance(intent, SendFile)
        if file_data is None:
            raise ChannelError("no file data to send")
        message_id = await self._send_file(chat, intent, file_data)
        if intent.buttons:
            await self._send(
                chat, intent.caption or intent.filename, intent.buttons, ref=intent.ref
            )
        return message_id

    async def _send(
        self, chat: str, text: str, buttons: list[list[Button]], *, ref: str | None
    ) -> str | None:
        if buttons:
            return await asyncio.to_thread(self._send_card, chat, text, buttons, ref)
        if is_robot(chat):
            return await self._robot_text(chat, text)
        return await asyncio.to_thread(self._app_text, [chat], text)

    # -- group robot -------------------------------------------------------
    async def _robot_post(self, url: str, payload: dict[str, Any]) -> None:
        client = self.http or httpx.AsyncClient(timeout=10.0, verify=_tls())
        try:
            response = await client.post(url, json=payload)
            response.raise_for_status()
            data = response.json()
        except httpx.HTTPStatusError as exc:
            raise ChannelError(
                f"robot webhook: HTTP {exc.response.status_code}",
                retryable=exc.response.status_code >= 500 or exc.response.status_code == 429,
            ) from exc
        except (httpx.HTTPError, ValueError) as exc:
            raise ChannelError(f"robot webhook: {type(exc).__name__}", retryable=True) from exc
        finally:
            if self.http is None:
                await client.aclose()
        code = int(data.get("errcode", 0) or 0)
        if code:
            raise ChannelError(
                f"robot webhook: errcode {code} {data.get('errmsg', '')}",
                retryable=code in RETRYABLE_ERRCODES,
                retry_after=60.0 if code == 45009 else None,
            )

    def _robot(self, chat: str) -> str:
        url = robot_url(self.channel.settings, chat)
        if not url:
            raise ChannelError(
                f"no group robot webhook configured for WeCom chat {chat!r}", retryable=False
            )
        return url

    async def _robot_text(self, chat: str, text: str) -> str:
        url = self._robot(chat)
        for piece in split_text(text, TEXT_LIMIT_BYTES):
            await self._robot_post(url, {"msgtype": "text", "text": {"content": piece}})
        return f"robot-{uuid.uuid4().hex[:16]}"

    async def _send_file(self, chat: str, intent: SendFile, data: bytes) -> str | None:
        if not is_robot(chat):
            return await asyncio.to_thread(self._app_file, chat, intent, data)
        url = self._robot(chat)
        if intent.caption:
            await self._robot_text(chat, intent.caption)
        if intent.mime_type in ("image/png", "image/jpeg") and len(data) <= 2_000_000:
            image = {
                "base64": base64.b64encode(data).decode(),
                "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
            }
            await self._robot_post(url, {"msgtype": "image", "image": image})
            return f"robot-{uuid.uuid4().hex[:16]}"
        client = self.http or httpx.AsyncClient(timeout=30.0, verify=_tls())
        try:
            response = await client.post(
                upload_url(url), files={"media": (intent.filename, data, intent.mime_type)}
            )
            response.raise_for_status()
            uploaded = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ChannelError(f"robot upload: {type(exc).__name__}", retryable=True) from exc
        finally:
            if self.http is None:
                await client.aclose()
        if "media_id" not in uploaded:
            raise ChannelError(
                f"robot upload refused: {uploaded.get('errcode')} {uploaded.get('errmsg', '')}"
            )
        await self._robot_post(url, {"msgtype": "file", "file": {"media_id": uploaded["media_id"]}})
        return f"robot-{uuid.uuid4().hex[:16]}"

    # -- application messages (sync: wechatpy) -----------------------------
    def _call(self, what: str, fn: Any) -> dict[str, Any]:
        tokens = self.channel.client.tokens
        try:
            result = tokens.call(fn)
        except (WeChatClientException, requests.RequestException) as exc:
            raise channel_error(exc, what, RETRYABLE_ERRCODES) from exc
        if result.get("invaliduser"):
            log.warning("%s: WeCom users not reached: %s", what, result["invaliduser"])
        return dict(result)

    def _app_text(self, users: list[str], text: str) -> str | None:
        client = self.channel.client
        result: dict[str, Any] = {}
        for piece in split_text(text, TEXT_LIMIT_BYTES):
            result = self._call(
                "message/send",
                lambda p=piece: client.message.send_text(self.channel.agent_id, users, p),
            )
        return str(result.get("msgid") or "") or None

    def _app_file(self, user: str, intent: SendFile, data: bytes) -> str | None:
        client = self.channel.client
        kind = "image" if intent.mime_type in ("image/png", "image/jpeg") else "file"
        if intent.caption:
            self._app_text([user], intent.caption)
        uploaded = self._call(
            "media/upload", lambda: client.media.upload(kind, (intent.filename, data))
        )
        msg = {"msgtype": kind, kind: {"media_id": uploaded["media_id"]}}
        result = self._call(
            "message/send", lambda: client.message.send(self.channel.agent_id, [user], msg=msg)
        )
        return str(result.get("msgid") or "") or None

    def _send_card(self, chat: str, text: str, buttons: list[list[Button]], ref: str | None) -> str:
        users = hr_recipients(self.channel.app.db, self.channel.settings, chat)
        if not users:
            raise ChannelError(
                f"no WeCom HR users to send the card for {chat!r} to", retryable=False
            )
        if not fits_card(text):
            self._app_text(users, text)  # the whole text first; the card carries the buttons
        task_id = f"{(ref or 'card').replace(':', '-')[:40]}-{uuid.uuid4().hex[:20]}"
        client = self.channel.client
        msg = {"msgtype": "template_card", "template_card": card_body(text, buttons, task_id)}
        result = self._call(
            "message/send template_card",
            lambda: client.message.send(self.channel.agent_id, users, msg=msg),
        )
        record = {
            "chat_id": chat,
            "users": users,
            "codes": [str(result["response_code"])] if result.get("response_code") else [],
            "ref": ref,
            "buttons": [[b.model_dump() for b in row] for row in buttons],
        }
        self.channel.cards.save(task_id, record)
        return task_id

    def _update_card(self, task_id: str, record: dict[str, Any], intent: Edit) -> str:
        """Replace the card for every recipient, spending one response code."""
        client = self.channel.client
        buttons = intent.buttons or [
            [Button.model_validate(b) for b in row] for row in record.get("buttons", [])
        ]
        first = next((line.strip() for line in intent.text.splitlines() if line.strip()), "")
        card = card_body(
            intent.text, buttons, task_id, replace_text=None if intent.buttons else first
        )
        codes = list(record.get("codes", []))
        if not codes:
            raise ChannelError(
                f"card {task_id}: no response code left to update it", retryable=False
            )
        last: ChannelError | None = None
        for code in list(codes):
            payload = {
                "userids": record["users"],
                "agentid": self.channel.agent_id,
                "response_code": code,
                "template_card": card,
            }
            codes.remove(code)  # a code is single use, whatever the answer
            try:
                self._call(
                    "message/update_template_card",
                    lambda p=payload: client.post("message/update_template_card", data=p),
                )
            except ChannelError as exc:
                if exc.retryable:
                    codes.insert(0, code)
                    record["codes"] = codes
                    self.channel.cards.save(task_id, record)
                    raise
                last = exc
                continue
            record["codes"] = codes
            self.channel.cards.save(task_id, record)
            return task_id
        record["codes"] = codes
        self.channel.cards.save(task_id, record)
        assert last is not None
        raise last


def build_wecom(app: App, *, store: TokenStore | None = None) -> WeComChannel:
    """The WeCom channel from settings; registers its messenger in ``app.channels``."""
    settings = app.settings
    redis_url = settings.app.redis_url.get_secret_value() if settings.app.redis_url else None
    store = store or token_store(app.db, redis_url)
    client = make_work_client(settings, store, app.services.clock)
    channel = WeComChannel(app=app, client=client, cards=CardStore(app.db, app.services.clock))
    app.channels[PLATFORM] = channel.messenger
    return channel
