"""A coding question through the fake Telegram Bot API: the code comes as a document,
the bot fetches it (a candidate's file is fetched only for a coding question), the
``code`` job judges it in the real sandbox and the HR group sees each test's verdict."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.runner import run
from app.runtime import Runtime
from app.wiring import App, build_app
from coding.bwrap import BwrapSandbox
from coding.sandbox import SandboxUnavailable
from core.settings import Settings
from dialogs.interview.pipeline import Pipeline
from scoring.evaluator import FakeBackend, StarEvaluator
from testkit.telegram_api import Conversation, FakeBotAPI, Sent, invite, open_interview
from tests.bot.test_telegram import ADMIN, CANDIDATE, GROUP, HR, telegram_settings
from tests.dialogs.interview.test_coding import SIEVE, STRONG
from tests.fakes.speech import ScriptedTranscriber

JOB = [
    ("/newjob", ""),
    ("dev", ""),
    ("开发工程师", ""),
    ("Developer", ""),
    ("python_skills 60, communication 40", ""),
    ("50", ""),
    ("python_skills-code-01, communication-01", "dev"),
]


def build(settings: Settings) -> App:
    try:
        sandbox = BwrapSandbox()
    except SandboxUnavailable as exc:
        if os.geteuid() != 0:
            pytest.skip(f"the sandbox needs root: {exc}")
        raise
    transcriber = ScriptedTranscriber()
    evaluator = StarEvaluator(FakeBackend())
    reviewer = FakeBackend(replies=['{"readability": 4, "comment": "Readable."}'])
    return build_app(
        settings,
        pipeline=Pipeline(
            transcriber=lambda: transcriber,
            evaluator=lambda: evaluator,
            sandbox=lambda: sandbox,
            reviewer=lambda: reviewer,
        ),
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    server = FakeBotAPI()
    await server.start()
    server.group(GROUP, "HR dev", admins={HR}, owner=ADMIN)
    yield server
    await server.stop()


@pytest.fixture
async def runtime(tmp_path: Path, fake: FakeBotAPI) -> AsyncIterator[Runtime]:
    stop = asyncio.Event()
    ready: asyncio.Future[Runtime] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        run(
            telegram_settings(tmp_path, fake),
            stop=stop,
            handle_signals=False,
            on_ready=ready.set_result,
            build=build,
        )
    )
    waiting: list[asyncio.Future[Any]] = [ready, task]
    done, _ = await asyncio.wait(waiting, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()
    yield ready.result()
    stop.set()
    assert await asyncio.wait_for(task, 30) == 0


def chat(fake: FakeBotAPI, user_id: int, chat_id: int | None = None) -> Conversation:
    return Conversation(fake, fake.user(user_id, language_code="en"), chat_id)


async def test_code_sent_as_a_document_is_judged_and_hr_sees_the_verdicts(
    runtime: Runtime, fake: FakeBotAPI
) -> None:
    admin = chat(fake, ADMIN)
    for line, expect in JOB:
        await admin.say(line, expect=expect)
    await chat(fake, ADMIN, GROUP).say(f"/bind@{fake.username} dev", expect="dev")
    token, code = await invite(chat(fake, HR), "Alice Chen", job="dev")
    candidate = chat(fake, CANDIDATE)
    question = await open_interview(candidate, "Alice Chen", token, code)
    assert "Coding: read an integer n" in question.text
    assert "Starter code:" in question.text
    before = len(fake.messages_to(CANDIDATE))
    await fake.send_document(
        fake.user(CANDIDATE), SIEVE.encode(), file_name="primes.py", mime_type="text/x-python"
    )
    received = await fake.wait_reply(CANDIDATE, before, containing="Answer 1 received")
    assert "Question 2" in received.text
    review = await candidate.say(STRONG, expect="submit")
    await candidate.press(review, "submit", expect="thank you")

    def judged() -> Sent | None:
        return next((m for m in fake.messages_to(GROUP) if m.text.startswith("💻")), None)

    post: Sent = await fake.wait_for(judged, timeout=60, what="the coding verdicts in the group")
    assert "answer 1 (code): accepted; 7/7 tests passed" in post.text
    assert "• two-million (hidden): accepted" in post.text
    assert "Readability (AI, advisory): 4/5" in post.text
