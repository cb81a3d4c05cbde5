"""End to end: ``python main.py run`` as a real subprocess against the fake Bot API.

A candidate completes an interview with generated voice notes and a video note; the
bot is killed with SIGKILL twice mid-interview (once while its replies are in flight,
once right after it acknowledged an update) and restarted; no answer is lost and no
message is sent twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from app.wiring import build_app
from core.settings import load_settings
from dialogs.kernel.intents import parse_intent
from storage.models import Answer, BackgroundJob, OutboxMessage
from testkit.telegram_api import (
    Conversation,
    FakeBotAPI,
    create_job,
    free_port,
    invite,
    open_interview,
)
from tests.fakes.speech import spoken_ogg

ROOT = Path(__file__).resolve().parents[2]
ADMIN, HR, CANDIDATE, STRANGER = 11, 22, 500, 33
GROUP = -4001

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (shutil.which("espeak-ng") and shutil.which("ffmpeg")),
        reason="needs espeak-ng and ffmpeg",
    ),
]

CONFIG = """
[app]
data_dir = "{data}"
default_language = "en"
bot_username = "{username}"
log_level = "INFO"

[security]
key_file = "{data}/keys/data.key"

[roles]
admins = ["telegram:{admin}"]
hr_managers = ["telegram:{hr}"]
hr_viewers = []

[telegram]
enabled = true
mode = "polling"

[web]
port = {port}

[outbox]
poll_seconds = 0.05

[workers]
count = 1
poll_seconds = 0.2

[llm]
provider = "fake"   # the evaluate jobs fail fast instead of loading a model

[speech]
model_dir = "{data}/no-whisper-here"   # likewise for transcription
"""


def video_note(text: str, folder: Path) -> bytes:
    """A Telegram-style video note: square H.264 MP4 with the spoken text as AAC."""
    wav, mp4 = folder / "v.wav", folder / "v.mp4"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-w", str(wav), text], check=True, capture_output=True
    )
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=240x240:rate=15",
         "-i", str(wav), "-shortest", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "48k", str(mp4)],
        check=True,
    )  # fmt: skip
    return mp4.read_bytes()


class BotProcess:
    """``python main.py --config ... run`` with the Telegram settings in its environment."""

    def __init__(self, fake: FakeBotAPI, folder: Path) -> None:
        self.fake = fake
        self.folder = folder
        self.config = folder / "config.toml"
        self.config.write_text(
            CONFIG.format(
                data=folder / "data", username=fake.username, admin=ADMIN, hr=HR, port=free_port()
            ),
            encoding="utf-8",
        )
        self.env = {
            **os.environ,
            "TELEGRAM_TOKEN": fake.token,
            "TELEGRAM_BASE_URL": fake.base_url,
            "TELEGRAM_BASE_FILE_URL": fake.base_file_url,
            "DATABASE_URL": f"sqlite:///{folder / 'data' / 'bot.sqlite3'}",
            "PYTHONUNBUFFERED": "1",
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    async def start(self) -> None:
        self.starts += 1
        polls = len([c for c in self.fake.calls if c[0] == "getUpdates"])
        with open(self.folder / f"bot-{self.starts}.log", "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "main.py", "--config", str(self.config), "run"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        proc = self.proc
        await self.fake.wait_for(
            lambda: (
                len([c for c in self.fake.calls if c[0] == "getUpdates"]) > polls
                or proc.poll() is not None
            ),
            timeout=60,
            what="the bot to start polling",
        )
        assert self.proc.poll() is None, self.log()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    async def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(self.proc.wait, 40)
        return code

    def log(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-3000:] for p in sorted(self.folder.glob("bot-*.log"))
        )


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    server = FakeBotAPI()
    await server.start()
    server.group(GROUP, "HR sales", admins={HR}, owner=ADMIN)
    yield server
    await server.stop()


@pytest.fixture
async def bot(fake: FakeBotAPI, tmp_path: Path) -> AsyncIterator[BotProcess]:
    process = BotProcess(fake, tmp_path)
    await process.start()
    yield process
    if process.proc is not None and process.proc.poll() is None:
        process.kill()


def chat(fake: FakeBotAPI, user_id: int, chat_id: int | None = None) -> Conversation:
    return Conversation(fake, fake.user(user_id, language_code="en"), chat_id)


def count(fake: FakeBotAPI, chat_id: int, text: str) -> int:
    return sum(text in m.text for m in fake.messages_to(chat_id))


async def test_interview_survives_sigkill_with_nothing_lost_or_sent_twice(
    fake: FakeBotAPI, bot: BotProcess, tmp_path: Path
) -> None:
    voice1 = spoken_ogg(
        "Last year a key customer wanted to leave. I called them every day and they renewed."
    )
    voice1b = spoken_ogg(
        "Let me try again. I called the customer daily, fixed the delivery, and they renewed for two years."
    )
    video2 = video_note(
        "I explained the plan with three diagrams and the budget was approved.", tmp_path
    )
    voice3 = spoken_ogg(
        "I found the packaging fault in the data and returns fell to three percent."
    )

    # Set-up through Telegram: job, HR group, invitation.
    await create_job(chat(fake, ADMIN))
    await chat(fake, ADMIN, GROUP).say(f"/bind@{fake.username} sales", expect="sales")
    token, code = await invite(chat(fake, HR), "Alice Chen")
    candidate = chat(fake, CANDIDATE)
    q1 = await open_interview(candidate, "Alice Chen", token, code)
    assert "Question 1 of 3" in q1.text

    # Q1 by voice note, then the re-record button, then a second voice note (through a 429).
    received = await candidate.voice(voice1, duration=6, expect="Answer 1 received")
    first_voice_update = fake.served_updates[-1]
    again = await candidate.press(received, "rr:", expect="again")
    assert "question 1 again" in again.text
    fake.fail_next("sendMessage", status=429, retry_after=1, chat_id=CANDIDATE)
    await candidate.voice(voice1b, duration=7, expect="Question 2 of 3", timeout=20)
    await fake.duplicate(first_voice_update)  # Telegram hands an old update out again

    # Kill 1: the reply to the Q2 video note is in flight (the call never reached Telegram).
    fake.hold_outgoing = True
    await fake.send_video_note(candidate.user, video2, duration=5)
    await fake.wait_for(lambda: fake.held, timeout=20, what="the bot trying to reply")
    bot.kill()
    fake.release()
    assert count(fake, CANDIDATE, "Answer 2 received") == 0
    await bot.start()
    await fake.wait_reply(CANDIDATE, 0, containing="Question 3 of 3", timeout=20)

    # Kill 2: right after the bot acknowledged the Q3 voice note (offset moved past it),
    # before its reply got out.
    fake.hold_outgoing = True
    before = len(fake.messages_to(CANDIDATE))
    update = await fake.send_voice(candidate.user, voice3, duration=6)
    killed = asyncio.Event()

    def kill_on_ack(offset: int | None) -> None:
        if offset is not None and offset > update["update_id"] and not killed.is_set():
            bot.kill()
            killed.set()

    fake.on_poll = kill_on_ack
    await asyncio.wait_for(killed.wait(), 20)
    fake.on_poll = None
    fake.release()
    await bot.start()
    review = await fake.wait_reply(CANDIDATE, before, containing="last question", timeout=20)
    done = await candidate.press(review, "submit", expect="thank you")
    assert "Alice Chen" in done.text

    # A group member without a role asks for progress: refused.
    refused = await chat(fake, STRANGER, GROUP).say(f"/progress@{fake.username}", expect="access")
    assert "don't have access" in refused.text

    await asyncio.sleep(0.5)  # let anything late arrive before counting
    assert await bot.terminate() == 0, bot.log()

    # Nothing sent twice: each of these went out exactly once...
    expected = {
        "Answer 1 received": 2,  # the answer and its re-recording
        "Question 2 of 3": 2,  # asked after each of them
        "Answer 2 received": 1,
        "Question 3 of 3": 1,
        "Answer 3 received": 1,
        "submit your interview": 1,
        "thank you": 1,
    }
    sent = {text: count(fake, CANDIDATE, text) for text in expected}
    assert sent == expected, [m.text[:60] for m in fake.messages_to(CANDIDATE)]
    # ... and the fake received exactly what the outbox says was sent, for every chat.
    settings = load_settings(bot.config, env=bot.env)
    app = build_app(settings)
    try:
        with app.db.session() as session:
            rows = session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all()
            answers = session.exec(
                select(Answer).where(Answer.practice == False).order_by(col(Answer.id))  # noqa: E712
            ).all()
            jobs = session.exec(
                select(BackgroundJob).where(BackgroundJob.kind == "transcribe")
            ).all()
        for chat_id in (CANDIDATE, GROUP, HR, ADMIN):
            ours = [
                r
                for r in rows
                if r.chat_id == str(chat_id)
                and r.status == "sent"
                and parse_intent(r.payload).kind in ("send", "file")
            ]
            assert len(fake.messages_to(chat_id)) == len(ours), chat_id
        assert not [r for r in rows if r.status != "sent"], [
            (r.chat_id, r.status, r.last_error) for r in rows if r.status != "sent"
        ]
        # No answer lost: every recording stored once, byte for byte, and queued for transcription.
        assert [(a.position, a.kind, a.status == "superseded") for a in answers] == [
            (0, "voice", True), (0, "voice", False), (1, "video", False), (2, "voice", False),
        ]  # fmt: skip
        for answer, media in zip(answers, (voice1, voice1b, video2, voice3), strict=True):
            assert answer.media_path
            assert app.db.media.get(answer.media_path) == media
            assert answer.media_sha256 == hashlib.sha256(media).hexdigest()
        assert {j.payload["answer_id"] for j in jobs} == {a.id for a in answers}
    finally:
        app.db.engine.dispose()
