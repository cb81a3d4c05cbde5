"""Console channel: take an interview or act as HR in the terminal.

Lines typed are turned into events; the bot's intents are printed. Special inputs:
``/voice FILE``, ``/video FILE``, ``/file FILE [caption]``, ``/press DATA`` (a button),
``/as USER`` (switch user), ``/group CHAT`` and ``/private`` (switch chat), ``/quit``.
"""

from __future__ import annotations

import asyncio
import itertools
import mimetypes
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from app.host import App
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

PLATFORM = "console"


@dataclass
class ConsoleMessenger:
    """Prints what the bot sends; keeps a transcript and the files it sent."""

    out: TextIO = sys.stdout
    outgoing: Path = Path("data/outgoing")
    platform: str = PLATFORM
    transcript: list[tuple[str, str]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def deliver(
        self,
        intent: Intent,
        *,
        file_data: bytes | None = None,
        target_message_id: str | None = None,
    ) -> str | None:
        message_id = str(next(self._ids))
        if isinstance(intent, Send):
            self._print(intent.chat_id, intent.text, intent.buttons)
        elif isinstance(intent, Edit):
            self._print(
                intent.chat_id,
                f"(edited message {target_message_id}) {intent.text}",
                intent.buttons,
            )
        elif isinstance(intent, SendFile):
            # The recipient's copy (as a file in a Telegram chat would be): plaintext for
            # the person at the console to open, so owner-only.
            self.outgoing.mkdir(mode=0o700, parents=True, exist_ok=True)
            path = self.outgoing / Path(intent.filename).name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(file_data or b"")
            self._print(
                intent.chat_id,
                f"[file {intent.filename} -> {path}] {intent.caption}".rstrip(),
                intent.buttons,
            )
        elif isinstance(intent, AnswerButton):
            if intent.text:
                self._print(intent.chat_id, f"(pop-up) {intent.text}", [])
            return None
        return message_id

    def _print(self, chat: str, text: str, buttons: list[list[Button]]) -> None:
        self.transcript.append((chat, text))
        lines = [f"  bot → {chat}: " + text.replace("\n", "\n      ")]
        for row in buttons:
            lines.append("      " + "  ".join(f"[{b.label}](/press {b.data})" for b in row))
        print("\n".join(lines), file=self.out, flush=True)


def media_duration(path: Path) -> float | None:
    """Duration from ffprobe when it is installed (the platform would tell us)."""
    if shutil.which("ffprobe") is None:
        return None
    try:
        out = subprocess.run(
            [
                "ffprobe",
                "-v",
                "error",
                "-show_entries",
                "format=duration",
                "-of",
                "csv=p=0",
                str(path),
            ],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        ).stdout.strip()
        return float(out) if out and out != "N/A" else None
    except (ValueError, subprocess.TimeoutExpired):
        return None


@dataclass
class ConsoleSession:
    """Turns typed lines into events for one user and runs them through the app."""

    app: App
    user: str = "candidate"
    chat: str | None = None
    language: str | None = None
    on_prompt: Callable[[str], None] | None = None

    def event_for(self, line: str) -> Event:
        base = {
            "event_id": f"console:{uuid.uuid4().hex}",
            "platform": PLATFORM,
            "chat_id": self.chat or self.user,
            "user_id": self.user,
            "user_name": self.user,
            "language_hint": self.language,
            "is_group": self.chat is not None,
        }
        line = line.rstrip("\n")
        if line.startswith("/press "):
            return ButtonPressed(
                **base, data=line.split(" ", 1)[1].strip()[:64], callback_id=uuid.uuid4().hex
            )
        if line.startswith(("/voice ", "/video ", "/file ")):
            command, rest = line.split(" ", 1)
            parts = rest.strip().split(" ", 1)
            path = Path(parts[0]).expanduser()
            data = path.read_bytes()
            stored, digest = self.app.db.media.put(data, path.suffix or ".bin")
            media = MediaRef(
                platform_file_id=path.name,
                size_bytes=len(data),
                duration_s=media_duration(path) if command != "/file" else None,
                mime_type=mimetypes.guess_type(path.name)[0],
                path=stored,
                sha256=digest,
                file_name=path.name,
            )
            if command == "/voice":
                return VoiceReceived(**base, media=media)
            if command == "/video":
                return VideoReceived(**base, media=media)
            return FileReceived(**base, media=media, caption=parts[1] if len(parts) > 1 else "")
        if line.startswith("/") and len(line) > 1:
            name, _, args = line[1:].partition(" ")
            return CommandReceived(**base, command=name.split("@", 1)[0].lower(), args=args.strip())
        return TextReceived(**base, text=line)

    async def send(self, line: str) -> None:
        """Handle one typed line: engine, background jobs, then delivery."""
        event = self.event_for(line)
        await asyncio.to_thread(self.app.engine.handle, event)
        dispatcher = self.app.dispatcher()
        await dispatcher.drain()
        worker = self.app.worker()
        while await asyncio.to_thread(worker.run_one):
            await dispatcher.drain()
        await dispatcher.drain()


async def interactive(app: App, *, user: str, chat: str | None, language: str | None) -> None:
    """``python main.py chat``: read lines from stdin until EOF or /quit."""
    console = ConsoleSession(app, user=user, chat=chat, language=language)
    print(
        f"console chat as {user!r}{' in group ' + chat if chat else ''}; /quit to leave", flush=True
    )
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line or line.strip() == "/quit":
            return
        line = line.strip()
        if not line:
            continue
        if line.startswith("/as "):
            console.user = line.split(" ", 1)[1].strip()
            print(f"now acting as {console.user}", flush=True)
            continue
        if line.startswith("/group "):
            console.chat = line.split(" ", 1)[1].strip()
            continue
        if line == "/private":
            console.chat = None
            continue
        try:
            await console.send(line)
        except OSError as exc:
            print(f"  ! {exc}", flush=True)
