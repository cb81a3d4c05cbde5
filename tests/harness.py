"""A conversation harness: send as a user, read what the bot answered.

Tests read like conversations::

    replies = chat.send("alice", "/start TOKEN")
    assert "choose your language" in replies[-1].text
"""

from __future__ import annotations

import asyncio
import itertools
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import select

from app.wiring import App
from dialogs.kernel.events import (
    ButtonPressed,
    CommandReceived,
    Event,
    FileReceived,
    MediaRef,
    TextReceived,
    VideoReceived,
    VoiceReceived,
)
from dialogs.kernel.intents import AnswerButton, Button, Edit, Intent, Send, SendFile
from storage.crypto import token_hash
from storage.models import Invitation, Job


@dataclass
class Delivered:
    chat_id: str
    kind: str
    text: str
    buttons: list[list[Button]] = field(default_factory=list)
    message_id: str | None = None
    target: str | None = None
    alert: bool = False
    file_data: bytes | None = None
    filename: str | None = None

    @property
    def button_data(self) -> list[str]:
        return [b.data for row in self.buttons for b in row]


class RecordingMessenger:
    """A console-platform messenger that records every delivery."""

    platform = "console"

    def __init__(self) -> None:
        self.delivered: list[Delivered] = []
        self._ids = itertools.count(1)
        self.fail_next: list[Exception] = []

    async def deliver(
        self,
        intent: Intent,
        *,
        file_data: bytes | None = None,
        target_message_id: str | None = None,
    ) -> str | None:
        if self.fail_next:
            raise self.fail_next.pop(0)
        message_id = str(next(self._ids))
        if isinstance(intent, Send):
            self.delivered.append(
                Delivered(intent.chat_id, "send", intent.text, list(intent.buttons), message_id)
            )
        elif isinstance(intent, SendFile):
            self.delivered.append(
                Delivered(
                    intent.chat_id,
                    "file",
                    intent.caption,
                    list(intent.buttons),
                    message_id,
                    file_data=file_data,
                    filename=intent.filename,
                )
            )
        elif isinstance(intent, Edit):
            self.delivered.append(
                Delivered(
                    intent.chat_id,
                    "edit",
                    intent.text,
                    list(intent.buttons),
                    message_id,
                    target=target_message_id,
                )
            )
        elif isinstance(intent, AnswerButton):
            self.delivered.append(
                Delivered(intent.chat_id, "answer", intent.text, alert=intent.alert)
            )
            return None
        return message_id

    def to(self, chat_id: str) -> list[Delivered]:
        return [d for d in self.delivered if d.chat_id == chat_id]


class Chat:
    """Drives the engine like a chat app would; returns what each send produced."""

    def __init__(self, app: App, messenger: RecordingMessenger, *, run_jobs: bool = False) -> None:
        self.app = app
        self.messenger = messenger
        self.run_jobs = run_jobs
        self.languages: dict[str, str] = {}

    def event(
        self,
        user: str,
        line: str,
        *,
        group: str | None = None,
        lang: str | None = None,
        event_id: str | None = None,
    ) -> Event:
        base = {
            "event_id": event_id or f"console:{uuid.uuid4().hex}",
            "platform": "console",
            "chat_id": group or user,
            "user_id": user,
            "user_name": user,
            "language_hint": lang or self.languages.get(user),
            "is_group": group is not None,
        }
        if line.startswith("/press "):
            return ButtonPressed(**base, data=line[7:].strip(), callback_id=uuid.uuid4().hex)
        if line.startswith("/") and len(line) > 1:
            name, _, args = line[1:].partition(" ")
            return CommandReceived(**base, command=name.lower(), args=args.strip())
        return TextReceived(**base, text=line)

    def media(
        self,
        user: str,
        data: bytes,
        *,
        kind: str = "voice",
        duration: float | None = 10.0,
        size: int | None = None,
        name: str = "a.ogg",
    ) -> list[Delivered]:
        path, digest = self.app.db.media.put(data, Path(name).suffix)
        ref = MediaRef(
            platform_file_id=name,
            size_bytes=size if size is not None else len(data),
            duration_s=duration,
            path=path,
            sha256=digest,
            file_name=name,
        )
        base = {
            "event_id": f"console:{uuid.uuid4().hex}",
            "platform": "console",
            "chat_id": user,
            "user_id": user,
        }
        event: Event
        if kind == "voice":
            event = VoiceReceived(**base, media=ref)
        elif kind == "video":
            event = VideoReceived(**base, media=ref)
        else:
            event = FileReceived(**base, media=ref, caption="")
        return self.deliver(event)

    def send(self, user: str, line: str, **kwargs: object) -> list[Delivered]:
        return self.deliver(self.event(user, line, **kwargs))  # type: ignore[arg-type]

    def deliver(self, event: Event) -> list[Delivered]:
        before = len(self.messenger.delivered)
        self.app.engine.handle(event)
        self.flush()
        return self.messenger.delivered[before:]

    def flush(self) -> None:
        asyncio.run(self._drain())

    async def _drain(self) -> None:
        dispatcher = self.app.dispatcher()
        await dispatcher.drain()
        if self.run_jobs:
            worker = self.app.worker()
            while await asyncio.to_thread(worker.run_one):
                await dispatcher.drain()

    # -- set-up helpers ----------------------------------------------------------
    def create_job(
        self,
        code: str = "sales",
        questions: str = "customer_focus-01, communication-01, problem_solving-01",
    ) -> Job:
        for line in [
            "/newjob",
            code,
            "销售代表",
            "Sales rep",
            "customer_focus 40, communication 30, problem_solving 30",
            "70",
            questions,
        ]:
            self.send("admin", line)
        with self.app.db.session() as session:
            job = session.exec(select(Job).where(Job.code == code)).one()
        return job

    def invite(self, name: str, code: str = "sales") -> tuple[str, str]:
        """Invite a candidate; returns (token, identity code)."""
        replies = self.send("hr", f"/invite {code} {name}")
        # The link's token is only in the reply: the database keeps its hash.
        token = next(m[1] for d in replies if (m := re.search(r"/start (\S+)", d.text)))
        with self.app.db.session() as session:
            inv = session.exec(
                select(Invitation).where(Invitation.token_hash == token_hash(token))
            ).one()
            return token, inv.code

    def start_interview(
        self,
        user: str,
        name: str,
        token: str,
        code: str,
        *,
        lang: str = "en",
        voice: bool = True,
        practice: bool = False,
    ) -> list[Delivered]:
        """From the link to the first real question."""
        self.send(user, f"/start {token}", lang=lang)
        self.send(user, f"/press lang:{lang}")
        self.send(user, "/press consent:yes")
        self.send(user, "/press sens:yes" if voice else "/press sens:no")
        replies = self.send(user, f"{name} {code}")
        if not practice and any("practice:skip" in d.button_data for d in replies):
            replies = self.send(user, "/press practice:skip")
        return replies
