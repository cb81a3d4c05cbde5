"""The HR group on Telegram: a job's progress in one live status message, edited in place
(editMessageText), next to the results posted as they come."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import select

from dialogs.kernel.intents import Intent, Send
from dialogs.kernel.notify import group_tag
from dialogs.kernel.outbox import write_intents
from storage.models import Job
from testkit.telegram_api import FakeBotAPI
from tests.bot.test_telegram import (
    ADMIN,
    GROUP,
    Running,
    fake,  # noqa: F401  (a fixture)
    start_bot,
    telegram_settings,
)


@pytest.fixture
async def busy_bot(tmp_path: Path, fake: FakeBotAPI) -> AsyncIterator[Running]:  # noqa: F811
    settings = telegram_settings(tmp_path, fake)
    settings.groups.status_seconds = 0.3  # a status update at most every 0.3 s
    settings.groups.tick_seconds = 0.05
    settings.groups.bot_per_second["telegram"] = 1000.0
    rt, stop, task = await start_bot(settings)
    yield Running(fake, rt)
    stop.set()
    assert await asyncio.wait_for(task, 30) == 0


def answered(bot: Running, ids: range) -> None:
    """Candidates answer: the posts the interview writes for the HR group."""
    with bot.app.db.transaction() as session:
        job = session.exec(select(Job)).one()
        posts: list[Intent] = [
            Send(
                platform="telegram",
                chat_id=str(GROUP),
                text=f"📝 Candidate #{n} answered question 1/3 (text).",
                post=group_tag(job.id or 0, "hr.answered", candidate_id=n),
            )
            for n in ids
        ]
        write_intents(session, posts, source_event=None, now=bot.app.services.clock.now())
    bot.rt.wake_dispatcher()


async def test_the_jobs_progress_is_one_status_message_edited_in_place(busy_bot: Running) -> None:
    from testkit.telegram_api import create_job

    bot, api = busy_bot, busy_bot.fake
    await create_job(bot.chat(ADMIN))
    await bot.chat(ADMIN, chat_id=GROUP).say(f"/bind@{api.username} sales", expect="sales")
    digest = await bot.chat(ADMIN, chat_id=GROUP).say(
        f"/notify@{api.username} digest", expect="digests"
    )
    assert "now hears digests" in digest.text
    answered(bot, range(1, 31))

    def status() -> list[str]:
        return [m.text for m in api.messages_to(GROUP) if m.text.startswith("📊")]

    (first,) = await api.wait_for(status, timeout=20, what="the live status message")
    assert "30 answered" in first
    answered(bot, range(31, 41))
    await api.wait_for(
        lambda: any("40 answered" in t for t in status()), timeout=20, what="the status edited"
    )
    assert len(status()) == 1  # still one message: edited, not posted again
    edits = [p for m, p in api.calls if m == "editMessageText"]
    assert edits and "40 answered" in str(edits[-1]["text"])
    assert not any("answered question" in m.text for m in api.messages_to(GROUP))
