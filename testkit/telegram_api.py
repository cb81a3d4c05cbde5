"""A fake Telegram Bot API server on 127.0.0.1 for tests and the benchmark.

It speaks enough of the Bot API for python-telegram-bot 22 to run a real
``Application`` against it: getMe, deleteWebhook, setWebhook, getUpdates (long poll
honouring ``offset``), sendMessage, sendDocument, sendPhoto, editMessageText,
editMessageReplyMarkup, answerCallbackQuery, getChatMember, getFile and the file
download. It keeps chats and every message the bot sent, so a test reads like a
conversation ("the user sends this, the bot answered that"), and it can misbehave
on purpose: answer 429 with ``retry_after``, hand out an update twice, or hold the
bot's outgoing calls (as if the connection died before Telegram accepted them).

Users act through :meth:`FakeBotAPI.send_text`, :meth:`send_voice`,
:meth:`send_video_note`, :meth:`press` ...; each returns the update it queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_ID = 700_000_001
DOWNLOAD_LIMIT = 20 * 1024 * 1024  # the Bot API refuses getFile above this


@dataclass
class User:
    id: int
    first_name: str
    language_code: str | None = "en"
    username: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.language_code:
            data["language_code"] = self.language_code
        if self.username:
            data["username"] = self.username
        return data


@dataclass
class Group:
    id: int  # negative, like Telegram's group ids
    title: str
    admins: set[int] = field(default_factory=set)
    owner: int | None = None


@dataclass
class Sent:
    """A message the bot sent (or a file), as the fake server stored it."""

    chat_id: int
    message_id: int
    method: str
    text: str
    buttons: list[list[dict[str, Any]]]
    at: float
    filename: str | None = None
    data: bytes | None = None
    edits: list[str] = field(default_factory=list)

    def button_data(self) -> list[str]:
        return [b.get("callback_data", "") for row in self.buttons for b in row]

    def button(self, prefix: str) -> str:
        """The callback data of the first button whose data starts with ``prefix``."""
        for data in self.button_data():
            if data.startswith(prefix):
                return data
        raise KeyError(f"no button {prefix!r} in {self.button_data()} on {self.text[:80]!r}")


@dataclass
class _Failure:
    method: str
    status: int
    description: str
    retry_after: int | None
    count: int
    chat_id: int | None = None


class FakeBotAPI:
    """The fake server. ``await start()``, point the bot at ``base_url``/``base_file_url``."""

    def __init__(
        self,
        token: str = "123456:TEST-token-for-the-fake-server",
        *,
        username: str = "InterviewerTestBot",
    ) -> None:
        self.token = token
        self.username = username
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._update_ids = itertools.count(1000)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._callback_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._pending: list[dict[str, Any]] = []  # updates not yet confirmed by an offset
        self._forced: list[dict[str, Any]] = []  # duplicates handed out whatever the offset
        self._new_update = asyncio.Condition()
        self._failures: list[_Failure] = []
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, bytes)
        self.groups: dict[int, Group] = {}
        self.users: dict[int, User] = {}
        self.sent: list[Sent] = []
        self.by_id: dict[tuple[int, int], Sent] = {}
        self.callback_answers: list[dict[str, Any]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.update_times: dict[int, float] = {}  # update_id -> when the user sent it
        self.served: list[int] = []  # update ids in the order getUpdates returned them
        self.served_updates: list[dict[str, Any]] = []
        self.last_offset: int | None = None
        self.polls = 0  # getUpdates calls so far
        self.webhook: dict[str, Any] | None = None
        self.hold_outgoing = False  # hold send/edit/answer calls unanswered and unrecorded
        self.held: list[str] = []
        self.on_poll: Callable[[int | None], None] | None = None  # called with each offset
        self.on_send: Callable[[Sent], None] | None = None
        self.record_calls = True
        self._closing = False
        self._release = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._api)
        app.router.add_get("/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        self._closing = True  # long polls in progress return at once
        self.release()
        async with self._new_update:
            self._new_update.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ------------------------------------------------------------------ misbehaviour
    def release(self) -> None:
        """Stop holding outgoing calls; the held ones fail with 502."""
        self.hold_outgoing = False
        self._release.set()
        self._release = asyncio.Event()

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        count: int = 1,
        retry_after: int | None = 1,
        description: str | None = None,
        chat_id: int | None = None,
    ) -> None:
        """The next ``count`` calls of ``method`` (to ``chat_id``, if given) fail."""
        text = description or (
            f"Too Many Requests: retry after {retry_after or 0}"
            if status == 429
            else "Internal Server Error"
        )
        self._failures.append(
            _Failure(method, status, text, retry_after if status == 429 else None, count, chat_id)
        )

    async def duplicate(
        self, update: dict[str, Any], *, new_update_id: bool = False
    ) -> dict[str, Any]:
        """Hand an update out again, as Telegram's at-least-once delivery may."""
        copy: dict[str, Any] = json.loads(json.dumps(update))
        if new_update_id:
            copy["update_id"] = next(self._update_ids)
            await self._queue(copy)
        else:
            self._forced.append(copy)
            async with self._new_update:
                self._new_update.notify_all()
        return copy

    # ------------------------------------------------------------------ users act
    def user(
        self,
        user_id: int,
        first_name: str = "",
        *,
        language_code: str | None = "en",
        username: str | None = None,
    ) -> User:
        found = self.users.get(user_id)
        if found is None:
            found = User(user_id, first_name or f"user{user_id}", language_code, username)
            self.users[user_id] = found
        return found

    def group(
        self,
        group_id: int,
        title: str = "HR",
        *,
        admins: set[int] | None = None,
        owner: int | None = None,
    ) -> Group:
        found = self.groups.get(group_id)
        if found is None:
            found = Group(group_id, title, set(admins or ()), owner)
            self.groups[group_id] = found
        return found

    def _chat(self, chat_id: int, user: User) -> dict[str, Any]:
        if chat_id < 0:
            group = self.groups.get(chat_id) or self.group(chat_id)
            return {
                "id": chat_id,
                "type": "supergroup" if chat_id < -1_000_000_000_000 else "group",
                "title": group.title,
            }
        return {"id": chat_id, "type": "private", "first_name": user.first_name}

    def _message(self, user: User, chat_id: int | None, **content: Any) -> dict[str, Any]:
        chat = user.id if chat_id is None else chat_id
        return {
            "message_id": self._next_message_id(chat),
            "date": int(time.time()),
            "chat": self._chat(chat, user),
            "from": user.as_dict(),
            **content,
        }

    async def send_text(
        self, user: User, text: str, *, chat_id: int | None = None
    ) -> dict[str, Any]:
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            length = len(text.split()[0])
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return await self._queue({"message": self._message(user, chat_id, **content)})

    def add_file(self, data: bytes, path: str) -> tuple[str, str]:
        n = next(self._file_ids)
        file_id = f"FILE{n:06d}-{path.replace('/', '_')}"
        self.files[file_id] = (f"{path.split('/')[0]}/file_{n}{_suffix(path)}", data)
        return file_id, f"unique{n}"

    async def send_voice(
        self,
        user: User,
        data: bytes,
        *,
        duration: int,
        size: int | None = None,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        file_id, unique = self.add_file(data, "voice/note.oga")
        voice = {
            "file_id": file_id,
            "file_unique_id": unique,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": len(data) if size is None else size,
        }
        return await self._queue({"message": self._message(user, chat_id, voice=voice)})

    async def send_video_note(
        self, user: User, data: bytes, *, duration: int, length: int = 240, size: int | None = None
    ) -> dict[str, Any]:
        file_id, unique = self.add_file(data, "video_notes/note.mp4")
        note = {
            "file_id": file_id,
            "file_unique_id": unique,
            "length": length,
            "duration": duration,
            "file_size": len(data) if size is None else size,
        }
        return await self._queue({"message": self._message(user, None, video_note=note)})

    async def send_audio(
        self,
        user: User,
        data: bytes,
        *,
        duration: int,
        file_name: str = "answer.mp3",
        mime_type: str = "audio/mpeg",
    ) -> dict[str, Any]:
        file_id, unique = self.add_file(data, f"music/{file_name}")
        audio = {
            "file_id": file_id,
            "file_unique_id": unique,
            "duration": duration,
            "mime_type": mime_type,
            "file_name": file_name,
            "file_size": len(data),
        }
        return await self._queue({"message": self._message(user, None, audio=audio)})

    async def send_document(
        self,
        user: User,
        data: bytes,
        *,
        file_name: str,
        mime_type: str = "text/csv",
        caption: str = "",
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        file_id, unique = self.add_file(data, f"documents/{file_name}")
        document = {
            "file_id": file_id,
            "file_unique_id": unique,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": len(data),
        }
        content: dict[str, Any] = {"document": document}
        if caption:
            content["caption"] = caption
        return await self._queue({"message": self._message(user, chat_id, **content)})

    async def send_sticker(self, user: User) -> dict[str, Any]:
        sticker = {
            "file_id": "STICKER1",
            "file_unique_id": "s1",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
        return await self._queue({"message": self._message(user, None, sticker=sticker)})

    async def send_location(self, user: User) -> dict[str, Any]:
        return await self._queue(
            {
                "message": self._message(
                    user, None, location={"latitude": 31.23, "longitude": 121.47}
                )
            }
        )

    async def press(self, user: User, message: Sent, data: str) -> dict[str, Any]:
        """``user`` presses the button with callback ``data`` under ``message``."""
        if data not in message.button_data():
            raise KeyError(
                f"{data!r} is not a button of {message.text[:60]!r}: {message.button_data()}"
            )
        query = {
            "id": f"{next(self._callback_ids)}{user.id}",
            "from": user.as_dict(),
            "message": self._bot_message_dict(message),
            "chat_instance": f"ci{message.chat_id}",
            "data": data,
        }
        return await self._queue({"callback_query": query})

    async def _queue(self, update: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **update}
        self.update_times[update["update_id"]] = time.perf_counter()
        self._pending.append(update)
        async with self._new_update:
            self._new_update.notify_all()
        return update

    # ------------------------------------------------------------------ what the bot did
    def messages_to(self, chat_id: int) -> list[Sent]:
        return [m for m in self.sent if m.chat_id == chat_id]

    def last_to(self, chat_id: int) -> Sent:
        found = self.messages_to(chat_id)
        if not found:
            raise AssertionError(f"the bot sent nothing to {chat_id}")
        return found[-1]

    async def wait_for(
        self, predicate: Callable[[], Any], *, timeout: float = 10.0, what: str = "condition"
    ) -> Any:
        """Poll until ``predicate()`` is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.01)

    async def wait_sent(self, chat_id: int, count: int, *, timeout: float = 10.0) -> list[Sent]:
        """Wait until the bot has sent ``count`` messages to ``chat_id`` in total."""
        await self.wait_for(
            lambda: len(self.messages_to(chat_id)) >= count,
            timeout=timeout,
            what=f"{count} messages to {chat_id} (have {len(self.messages_to(chat_id))})",
        )
        return self.messages_to(chat_id)

    async def wait_reply(
        self, chat_id: int, before: int, *, containing: str = "", timeout: float = 10.0
    ) -> Sent:
        """The first message to ``chat_id`` after the first ``before`` ones (optionally containing a text)."""

        def found() -> Sent | None:
            for m in self.messages_to(chat_id)[before:]:
                if containing in m.text:
                    return m
            return None

        result: Sent = await self.wait_for(
            found, timeout=timeout, what=f"a reply to {chat_id} containing {containing!r}"
        )
        return result

    async def wait_callback_answered(
        self, callback_id: str, *, timeout: float = 10.0
    ) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next(
                (a for a in self.callback_answers if a["callback_query_id"] == callback_id), None
            )

        result: dict[str, Any] = await self.wait_for(
            found, timeout=timeout, what=f"answer to callback {callback_id}"
        )
        return result

    def pending_count(self) -> int:
        return len(self._pending) + len(self._forced)

    # ------------------------------------------------------------------ HTTP
    async def _api(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await _params(request)
        if self.record_calls:
            self.calls.append(
                (method, {k: v for k, v in params.items() if not isinstance(v, bytes)})
            )
        failure = self._take_failure(method, params.get("chat_id"))
        if failure is not None:
            return _error(failure.status, failure.description, failure.retry_after)
        handler = getattr(self, "_m_" + method, None)
        if handler is None:
            return _error(404, f"Not Found: method {method} not implemented by the fake")
        if self.hold_outgoing and method in _OUTGOING:
            # Not recorded, not answered until released (then a 502): as if the
            # connection died before Telegram accepted the call.
            self.held.append(method)
            await self._release.wait()
            return _error(502, "Bad Gateway")
        result = handler(params) if method != "getUpdates" else await self._m_getUpdates(params)
        if isinstance(result, web.StreamResponse):
            return result
        return web.json_response({"ok": True, "result": result})

    def _take_failure(self, method: str, chat_id: object) -> _Failure | None:
        for failure in self._failures:
            if failure.chat_id is not None and str(failure.chat_id) != str(chat_id):
                continue
            if failure.method == method and failure.count > 0:
                failure.count -= 1
                if failure.count == 0:
                    self._failures.remove(failure)
                return failure
        return None

    async def _download(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        for file_path, data in self.files.values():
            if file_path == path:
                return web.Response(body=data, content_type="application/octet-stream")
        return web.Response(status=404)

    # ------------------------------------------------------------------ methods
    def _me(self) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Interviewer",
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _m_getMe(self, _p: dict[str, Any]) -> dict[str, Any]:
        return self._me()

    def _m_deleteWebhook(self, _p: dict[str, Any]) -> bool:
        self.webhook = None
        return True

    def _m_setWebhook(self, p: dict[str, Any]) -> bool:
        self.webhook = dict(p)
        return True

    def _m_close(self, _p: dict[str, Any]) -> bool:
        return True

    def _m_logOut(self, _p: dict[str, Any]) -> bool:
        return True

    async def _m_getUpdates(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(p["offset"]) if p.get("offset") not in (None, "") else None
        timeout = float(p.get("timeout") or 0)
        limit = int(p.get("limit") or 100)
        allowed = json.loads(p["allowed_updates"]) if p.get("allowed_updates") else None
        self.last_offset = offset
        self.polls += 1
        if self.on_poll is not None:
            self.on_poll(offset)
        if offset is not None:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        deadline = time.monotonic() + timeout
        while True:
            ready = self._forced + self._pending
            if allowed is not None:
                ready = [u for u in ready if any(k in u for k in allowed)]
            if ready or self._closing or time.monotonic() >= deadline:
                break
            async with self._new_update:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._new_update.wait(), timeout=max(0.0, deadline - time.monotonic())
                    )
        batch = ready[:limit]
        self._forced = [u for u in self._forced if u not in batch]
        self.served.extend(u["update_id"] for u in batch)
        self.served_updates.extend(batch)
        return batch

    def _record(
        self,
        chat_id: int,
        method: str,
        text: str,
        markup: Any,
        *,
        filename: str | None = None,
        data: bytes | None = None,
    ) -> Sent:
        sent = Sent(
            chat_id,
            self._next_message_id(chat_id),
            method,
            text,
            _buttons(markup),
            time.perf_counter(),
            filename,
            data,
        )
        self.sent.append(sent)
        self.by_id[(chat_id, sent.message_id)] = sent
        if self.on_send is not None:
            self.on_send(sent)
        return sent

    def _next_message_id(self, chat_id: int) -> int:
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        return next(counter)

    def _bot_message_dict(self, sent: Sent) -> dict[str, Any]:
        chat = (
            {"id": sent.chat_id, "type": "private", "first_name": "x"}
            if sent.chat_id > 0
            else {"id": sent.chat_id, "type": "group", "title": self.group(sent.chat_id).title}
        )
        data: dict[str, Any] = {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Interviewer",
                "username": self.username,
            },
        }
        if sent.method == "sendMessage":
            data["text"] = sent.text
        elif sent.text:
            data["caption"] = sent.text
        if sent.method == "sendDocument":
            data["document"] = {
                "file_id": f"DOC{sent.message_id}",
                "file_unique_id": f"d{sent.message_id}",
                "file_name": sent.filename,
            }
        if sent.method == "sendPhoto":
            data["photo"] = [
                {
                    "file_id": f"PH{sent.message_id}",
                    "file_unique_id": f"p{sent.message_id}",
                    "width": 100,
                    "height": 100,
                }
            ]
        if sent.buttons:
            data["reply_markup"] = {"inline_keyboard": sent.buttons}
        return data

    def _chat_id(self, p: dict[str, Any]) -> int:
        return int(p["chat_id"])

    def _m_sendMessage(self, p: dict[str, Any]) -> dict[str, Any] | web.Response:
        text = str(p.get("text", ""))
        if not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return _error(400, "Bad Request: message is too long")
        sent = self._record(self._chat_id(p), "sendMessage", text, p.get("reply_markup"))
        return self._bot_message_dict(sent)

    def _m_sendDocument(self, p: dict[str, Any]) -> dict[str, Any]:
        blob = p.get("document")
        sent = self._record(
            self._chat_id(p),
            "sendDocument",
            str(p.get("caption", "")),
            p.get("reply_markup"),
            filename=p.get("document__filename"),
            data=blob if isinstance(blob, bytes) else None,
        )
        return self._bot_message_dict(sent)

    def _m_sendPhoto(self, p: dict[str, Any]) -> dict[str, Any]:
        blob = p.get("photo")
        sent = self._record(
            self._chat_id(p),
            "sendPhoto",
            str(p.get("caption", "")),
            p.get("reply_markup"),
            filename=p.get("photo__filename"),
            data=blob if isinstance(blob, bytes) else None,
        )
        return self._bot_message_dict(sent)

    def _edit_target(self, p: dict[str, Any]) -> Sent | web.Response:
        key = (self._chat_id(p), int(p["message_id"]))
        sent = self.by_id.get(key)
        if sent is None:
            return _error(400, "Bad Request: message to edit not found")
        return sent

    def _m_editMessageText(self, p: dict[str, Any]) -> dict[str, Any] | web.Response:
        sent = self._edit_target(p)
        if isinstance(sent, web.Response):
            return sent
        if sent.method != "sendMessage":
            return _error(400, "Bad Request: there is no text in the message to edit")
        text = str(p.get("text", ""))
        buttons = _buttons(p.get("reply_markup"))
        if text == sent.text and buttons == sent.buttons:
            return _error(
                400,
                "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
            )
        sent.edits.append(sent.text)
        sent.text = text
        sent.buttons = buttons
        return self._bot_message_dict(sent)

    def _m_editMessageCaption(self, p: dict[str, Any]) -> dict[str, Any] | web.Response:
        sent = self._edit_target(p)
        if isinstance(sent, web.Response):
            return sent
        if sent.method == "sendMessage":
            return _error(400, "Bad Request: there is no caption in the message to edit")
        caption = str(p.get("caption", ""))
        buttons = _buttons(p.get("reply_markup"))
        if caption == sent.text and buttons == sent.buttons:
            return _error(400, "Bad Request: message is not modified")
        sent.edits.append(sent.text)
        sent.text = caption
        sent.buttons = buttons
        return self._bot_message_dict(sent)

    def _m_editMessageReplyMarkup(self, p: dict[str, Any]) -> dict[str, Any] | web.Response:
        sent = self._edit_target(p)
        if isinstance(sent, web.Response):
            return sent
        buttons = _buttons(p.get("reply_markup"))
        if buttons == sent.buttons:
            return _error(400, "Bad Request: message is not modified")
        sent.buttons = buttons
        return self._bot_message_dict(sent)

    def _m_answerCallbackQuery(self, p: dict[str, Any]) -> bool | web.Response:
        if any(a["callback_query_id"] == p["callback_query_id"] for a in self.callback_answers):
            return _error(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        self.callback_answers.append(
            {
                "callback_query_id": p["callback_query_id"],
                "text": p.get("text", ""),
                "show_alert": p.get("show_alert") in ("true", "True", True),
            }
        )
        return True

    def _m_getChatMember(self, p: dict[str, Any]) -> dict[str, Any] | web.Response:
        chat_id, user_id = self._chat_id(p), int(p["user_id"])
        group = self.groups.get(chat_id)
        if group is None:
            return _error(400, "Bad Request: chat not found")
        user = self.users.get(user_id, User(user_id, f"user{user_id}")).as_dict()
        if user_id == group.owner:
            return {"status": "creator", "user": user, "is_anonymous": False}
        if user_id in group.admins:
            rights = dict.fromkeys(_ADMIN_RIGHTS, False)
            return {"status": "administrator", "user": user, **rights, "can_manage_chat": True}
        return {"status": "member", "user": user}

    def _m_getFile(self, p: dict[str, Any]) -> dict[str, Any] | web.Response:
        found = self.files.get(str(p.get("file_id")))
        if found is None:
            return _error(400, "Bad Request: invalid file_id")
        path, data = found
        if len(data) > DOWNLOAD_LIMIT:
            return _error(400, "Bad Request: file is too big")
        return {
            "file_id": p["file_id"],
            "file_unique_id": "u" + str(p["file_id"]),
            "file_size": len(data),
            "file_path": path,
        }


_OUTGOING = {
    "editMessageCaption",
    "sendMessage",
    "sendDocument",
    "sendPhoto",
    "editMessageText",
    "editMessageReplyMarkup",
    "answerCallbackQuery",
}
_ADMIN_RIGHTS = (
    "can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages", "can_manage_video_chats",
    "can_restrict_members", "can_promote_members", "can_change_info", "can_invite_users",
    "can_post_stories", "can_edit_stories", "can_delete_stories",
)  # fmt: skip


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for the bot's web server in tests)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[-1] if "." in name else ""


def _buttons(markup: Any) -> list[list[dict[str, Any]]]:
    if not markup:
        return []
    data = json.loads(markup) if isinstance(markup, str) else markup
    return [list(row) for row in data.get("inline_keyboard", [])]


def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)


async def _params(request: web.Request) -> dict[str, Any]:
    """Form fields (urlencoded or multipart) or a JSON body; uploads as bytes."""
    params: dict[str, Any] = dict(request.query)
    if request.method != "POST" or not request.can_read_body:
        return params
    if request.content_type == "application/json":
        body = await request.json()
        params.update(
            {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in body.items()}
        )
        return params
    form = await request.post()
    for key, value in form.items():
        if isinstance(value, web.FileField):
            params[key] = value.file.read()
            params[key + "__filename"] = value.filename
        else:
            params[key] = value
    return params


class Conversation:
    """One user in one chat, talking to the bot through the fake; waits for replies.

    Every method sends something and returns the first new message from the bot to
    this chat (containing ``expect`` if given).
    """

    def __init__(self, fake: FakeBotAPI, user: User, chat_id: int | None = None) -> None:
        self.fake = fake
        self.user = user
        self.chat_id = user.id if chat_id is None else chat_id

    def _mark(self) -> int:
        return len(self.fake.messages_to(self.chat_id))

    async def say(self, text: str, *, expect: str = "", timeout: float = 10.0) -> Sent:
        before = self._mark()
        await self.fake.send_text(
            self.user, text, chat_id=None if self.chat_id == self.user.id else self.chat_id
        )
        return await self.fake.wait_reply(self.chat_id, before, containing=expect, timeout=timeout)

    async def press(
        self, message: Sent, prefix: str, *, expect: str = "", timeout: float = 10.0
    ) -> Sent:
        """Press the button whose data starts with ``prefix``; waits for the callback answer too."""
        before = self._mark()
        update = await self.fake.press(self.user, message, message.button(prefix))
        await self.fake.wait_callback_answered(update["callback_query"]["id"], timeout=timeout)
        return await self.fake.wait_reply(self.chat_id, before, containing=expect, timeout=timeout)

    async def voice(
        self,
        data: bytes,
        *,
        duration: int,
        expect: str = "",
        size: int | None = None,
        timeout: float = 10.0,
    ) -> Sent:
        before = self._mark()
        await self.fake.send_voice(self.user, data, duration=duration, size=size)
        return await self.fake.wait_reply(self.chat_id, before, containing=expect, timeout=timeout)

    async def video_note(
        self, data: bytes, *, duration: int, expect: str = "", timeout: float = 10.0
    ) -> Sent:
        before = self._mark()
        await self.fake.send_video_note(self.user, data, duration=duration)
        return await self.fake.wait_reply(self.chat_id, before, containing=expect, timeout=timeout)


JOB_LINES = [
    ("/newjob", ""),
    ("sales", ""),
    ("销售代表", ""),
    ("Sales representative", ""),
    ("customer_focus 40, communication 30, problem_solving 30", ""),
    ("70", ""),
    ("customer_focus-01, communication-01, problem_solving-01", "sales"),
]


async def create_job(admin: Conversation) -> None:
    """The admin creates the job ``sales`` (3 questions) through the guided dialog."""
    for line, expect in JOB_LINES:
        await admin.say(line, expect=expect)


async def invite(hr: Conversation, name: str, job: str = "sales") -> tuple[str, str]:
    """HR invites a candidate; returns (start token, identity code) read from the reply."""
    reply = await hr.say(f"/invite {job} {name}", expect="start=")
    token = re.search(r"start=(\S+)", reply.text)
    code = re.search(r"\b(\d{6})\b", reply.text.split("start=", 1)[1])
    assert token, reply.text
    assert code, reply.text
    return token.group(1), code.group(1)


async def open_interview(
    candidate: Conversation, name: str, token: str, code: str, *, lang: str = "en"
) -> Sent:
    """From the deep link to the first question; returns the first question."""
    prompt = await candidate.say(f"/start {token}", expect="language")
    consent = await candidate.press(
        prompt, f"lang:{lang}", expect="privacy" if lang == "en" else ""
    )
    sensitive = await candidate.press(consent, "consent:yes")
    await candidate.press(sensitive, "sens:yes")
    practice = await candidate.say(f"{name} {code}", expect="practice" if lang == "en" else "")
    return await candidate.press(
        practice, "practice:skip", expect="Question 1" if lang == "en" else ""
    )
