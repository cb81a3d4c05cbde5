"""The Telegram channel in-process: the real runner, PTB Application and engine against
the fake Bot API on 127.0.0.1. Each test reads like a chat."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlmodel import col, select

from app.runner import run
from app.runtime import Runtime
from app.wiring import App, build_app
from bot.telegram import TelegramChannel, translate
from core.settings import Settings, WeChatSettings
from dialogs.interview.pipeline import Pipeline
from dialogs.kernel.channel import TELEGRAM_USERNAME_KEY
from dialogs.kernel.events import ButtonPressed, parse_event
from dialogs.kernel.intents import Button, Edit, Send, SendFile
from dialogs.kernel.outbox import write_intents
from scoring.evaluator import FakeBackend, StarEvaluator
from storage.models import (
    Answer,
    AuditEvent,
    BackgroundJob,
    InboxEvent,
    KeyValue,
    OutboxMessage,
)
from testkit.telegram_api import (
    Conversation,
    FakeBotAPI,
    Sent,
    create_job,
    free_port,
    invite,
    open_interview,
)
from tests.conftest import make_settings
from tests.fakes.speech import ScriptedTranscriber
from tests.fakes.wechat_api import OA_APP_ID, OA_TOKEN, FakeWeChat

ADMIN, HR, CANDIDATE, STRANGER = 11, 22, 500, 33
INVITE_LOG = "dialogs.kernel.channel"  # where learn_telegram_username logs
GROUP = -4001


def telegram_settings(tmp: Path, fake: FakeBotAPI, **telegram: object) -> Settings:
    return make_settings(
        tmp,
        app={"default_language": "en"},  # the bot's name comes from getMe
        roles={
            "admins": [f"telegram:{ADMIN}"],
            "hr_managers": [f"telegram:{HR}"],
            "hr_viewers": [],
        },
        telegram={
            "enabled": True,
            "token": fake.token,
            "base_url": fake.base_url,
            "base_file_url": fake.base_file_url,
            **telegram,
        },
        outbox={"poll_seconds": 0.05, "max_attempts": 4},
        web={"port": free_port()},  # the runner always serves the web app (signing pages)
        workers={"count": 1, "poll_seconds": 0.1},
    )


@dataclass
class Running:
    fake: FakeBotAPI
    rt: Runtime

    @property
    def app(self) -> App:
        return self.rt.app

    @property
    def channel(self) -> TelegramChannel:
        channel = self.app.channels["telegram"]
        assert isinstance(channel, TelegramChannel)
        return channel

    def chat(
        self, user_id: int, *, chat_id: int | None = None, language_code: str = "en"
    ) -> Conversation:
        return Conversation(
            self.fake, self.fake.user(user_id, language_code=language_code), chat_id
        )


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    server = FakeBotAPI()
    await server.start()
    server.group(GROUP, "HR sales", admins={HR}, owner=ADMIN)
    yield server
    await server.stop()


def build_with_fake_models(settings: Settings) -> App:
    """The real app, with a scripted transcriber and the fake LLM (no model weights)."""
    transcriber = ScriptedTranscriber()
    evaluator = StarEvaluator(FakeBackend())
    return build_app(
        settings, pipeline=Pipeline(transcriber=lambda: transcriber, evaluator=lambda: evaluator)
    )


async def start_bot(settings: Settings) -> tuple[Runtime, asyncio.Event, asyncio.Task[int]]:
    stop = asyncio.Event()
    ready: asyncio.Future[Runtime] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        run(
            settings,
            stop=stop,
            handle_signals=False,
            on_ready=ready.set_result,
            build=build_with_fake_models,
        )
    )
    waiting: list[asyncio.Future[Any]] = [ready, task]
    done, _ = await asyncio.wait(waiting, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()  # raises what stopped it
    assert ready in done, "the bot did not start"
    return ready.result(), stop, task


@pytest.fixture
async def bot(tmp_path: Path, fake: FakeBotAPI) -> AsyncIterator[Running]:
    rt, stop, task = await start_bot(telegram_settings(tmp_path, fake))
    yield Running(fake, rt)
    stop.set()
    assert await asyncio.wait_for(task, 30) == 0


async def interview_ready(bot: Running) -> tuple[Conversation, Sent]:
    """Job, HR group, invitation; the candidate at question 1."""
    admin, hr = bot.chat(ADMIN), bot.chat(HR)
    await create_job(admin)
    bound = await bot.chat(ADMIN, chat_id=GROUP).say(
        f"/bind@{bot.fake.username} sales", expect="sales"
    )
    assert "receives progress" in bound.text
    token, code = await invite(hr, "Alice Chen")
    candidate = bot.chat(CANDIDATE)
    first = await open_interview(candidate, "Alice Chen", token, code)
    return candidate, first


async def decision_post_after_interview(bot: Running) -> Sent:
    """A whole interview by text; returns the decision post (with buttons) in the HR group."""
    fake = bot.fake
    candidate, _ = await interview_ready(bot)
    await candidate.say(
        "Last year I kept a key customer by calling daily; they renewed.", expect="Question 2"
    )
    await candidate.say(
        "I explained the plan with three diagrams; the budget was approved.", expect="Question 3"
    )
    review = await candidate.say(
        "I fixed the packaging and returns fell to 3 percent.", expect="submit"
    )
    await candidate.press(review, "submit", expect="thank you")

    def decision_post() -> Sent | None:
        return next(
            (
                m
                for m in fake.messages_to(GROUP)
                if any(d.startswith("dec:") for d in m.button_data())
            ),
            None,
        )

    post: Sent = await fake.wait_for(
        decision_post, timeout=60, what="the decision post in the HR group"
    )
    return post


# ---------------------------------------------------------------------- conversations
async def test_telegram_only_invitations_link_to_the_bot_getme_names(bot: Running) -> None:
    await create_job(bot.chat(ADMIN))
    hr = bot.chat(HR)
    reply = await hr.say("/invite sales Alice Chen", expect="Invitation for Alice Chen")
    assert "Link: https://t.me/InterviewerTestBot?start=" in reply.text
    assert "WeChat" not in reply.text and "微信" not in reply.text
    assert "No channel" not in reply.text and "/start" not in reply.text
    photo = await bot.fake.wait_for(
        lambda: next((m for m in bot.fake.messages_to(HR) if m.method == "sendPhoto"), None),
        what="the QR code of the link",
    )
    assert photo.text == "" and photo.data is not None and photo.data.startswith(b"\x89PNG")
    with bot.app.db.session() as session:  # a later process (console chat) knows it too
        stored = session.get(KeyValue, TELEGRAM_USERNAME_KEY)
        assert stored is not None and stored.value == "InterviewerTestBot"
        assert session.exec(select(BackgroundJob)).all() == []  # no WeChat QR job


async def test_a_configured_bot_username_that_is_not_the_bot_is_warned_about(
    tmp_path: Path, fake: FakeBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    settings = telegram_settings(tmp_path, fake)
    settings.app.bot_username = "InterviewerBot"  # the old shipped default: another bot
    with caplog.at_level(logging.WARNING, logger=INVITE_LOG):
        rt, stop, task = await start_bot(settings)
    try:
        (warning,) = [r.getMessage() for r in caplog.records if r.name == INVITE_LOG]
        assert "'InterviewerBot'" in warning and "@InterviewerTestBot" in warning
        await create_job(Conversation(fake, fake.user(ADMIN)))
        reply = await Conversation(fake, fake.user(HR)).say(
            "/invite sales Alice Chen", expect="Invitation"
        )
        assert "https://t.me/InterviewerTestBot?start=" in reply.text  # getMe wins
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0

    # a restart with the right name (any case, with @) says nothing; neither does a
    # process that never asks Telegram (the console chat), which builds the same links
    caplog.clear()
    settings.app.bot_username = "@interviewertestbot"
    with caplog.at_level(logging.WARNING, logger=INVITE_LOG):
        rt, stop, task = await start_bot(settings)
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0
    assert not [r for r in caplog.records if r.name == INVITE_LOG]
    settings.app.bot_username = None
    console = build_app(settings)
    try:
        assert console.services.channels.telegram_username == "InterviewerTestBot"
    finally:
        console.db.engine.dispose()


async def test_both_channels_label_each_way_and_send_both_qr_codes(
    tmp_path: Path, fake: FakeBotAPI
) -> None:
    wechat = FakeWeChat().start()
    settings = telegram_settings(tmp_path, fake)
    settings.wechat = WeChatSettings(
        enabled=True,
        app_id=OA_APP_ID,
        app_secret=SecretStr("oa-app-secret-value"),
        token=SecretStr(OA_TOKEN),
        api_base_url=wechat.base_url,
    )
    rt, stop, task = await start_bot(settings)
    try:
        await create_job(Conversation(fake, fake.user(ADMIN)))
        hr = Conversation(fake, fake.user(HR))
        reply = await hr.say("/invite sales Alice Chen", expect="Invitation")
        lines = reply.text.splitlines()
        assert lines[1] == "Scan with WeChat: the Official Account's QR code follows as a picture."
        assert lines[2].startswith("Telegram: https://t.me/InterviewerTestBot?start=")
        assert "each QR code is labelled" in reply.text

        def photos() -> list[Sent] | None:
            found = [m for m in fake.messages_to(HR) if m.method == "sendPhoto"]
            return found if len(found) == 2 else None

        sent = await fake.wait_for(photos, what="both QR codes")
        assert sorted(m.text for m in sent) == ["Scan with WeChat", "Telegram"]
        (token,) = re.findall(r"start=(\S+)", lines[2])
        scene = wechat.of("qrcode/create")[0].json["action_info"]["scene"]["scene_str"]
        assert scene == token  # one invitation, two ways to open it
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0
        wechat.stop()


async def test_interview_by_buttons_and_text_with_group_progress(bot: Running) -> None:
    candidate, question = await interview_ready(bot)
    fake = bot.fake
    # The invitation came with its QR code as a photo.
    assert any(
        m.method == "sendPhoto" and m.data and m.data.startswith(b"\x89PNG")
        for m in fake.messages_to(HR)
    )
    assert "Question 1 of 3" in question.text
    received = await candidate.say(
        "I calmed the customer, fixed the delivery and kept the account.",
        expect="Answer 1 received",
    )
    assert received.button_data() == [received.button("rr:")]
    await fake.wait_reply(
        CANDIDATE, len(fake.messages_to(CANDIDATE)) - 1, containing="Question 2 of 3"
    )
    await candidate.say("I explained the plan with three diagrams.", expect="Question 3 of 3")
    review = await candidate.say(
        "I found the packaging fault and fixed it.", expect="last question"
    )
    done = await candidate.press(review, "submit", expect="thank you")
    assert "Alice Chen" in done.text
    # The HR group saw the progress (released by the group scheduler within a tick); every
    # callback was answered.
    await fake.wait_for(
        lambda: any("Alice Chen" in m.text for m in fake.messages_to(GROUP)),
        what="the candidate's progress in the HR group",
    )
    pressed = [u["callback_query"]["id"] for u in fake.served_updates if "callback_query" in u]
    answered = {a["callback_query_id"] for a in fake.callback_answers}
    assert set(pressed) <= answered
    # getUpdates always asked for callback queries explicitly.
    polls = [p for m, p in fake.calls if m == "getUpdates"]
    assert polls
    assert all("callback_query" in json.loads(p["allowed_updates"]) for p in polls)
    with bot.app.db.session() as session:
        answers = session.exec(select(Answer).where(Answer.practice == False)).all()  # noqa: E712
    assert [a.position for a in answers] == [0, 1, 2]


async def test_language_defaults_from_telegram_language_code(bot: Running) -> None:
    admin, hr = bot.chat(ADMIN), bot.chat(HR)
    await create_job(admin)
    token, _code = await invite(hr, "Li Na")
    chinese = bot.chat(CANDIDATE, language_code="zh-hans")
    prompt = await chinese.say(f"/start {token}")
    # The welcome is bilingual; the job title shows in the candidate's language (Chinese).
    assert "销售代表" in prompt.text
    with bot.app.db.session() as session:
        row = session.exec(select(InboxEvent).order_by(col(InboxEvent.id).desc())).first()
    assert row is not None
    assert parse_event(row.payload).language_hint == "zh-hans"


async def test_voice_note_is_downloaded_hashed_and_stored(bot: Running) -> None:
    candidate, _ = await interview_ready(bot)
    audio = b"OggS" + bytes(range(256)) * 40
    reply = await candidate.voice(audio, duration=12, expect="Answer 1 received")
    assert reply.button("rr:")
    with bot.app.db.session() as session:
        answer = session.exec(select(Answer).where(Answer.position == 0)).one()
    assert answer.kind == "voice"
    assert answer.duration_s == 12
    assert answer.media_path
    assert bot.app.db.media.get(answer.media_path) == audio
    import hashlib

    assert answer.media_sha256 == hashlib.sha256(audio).hexdigest()


async def test_audio_files_count_as_voice_answers(bot: Running) -> None:
    candidate, _ = await interview_ready(bot)
    audio = b"ID3" + bytes(range(200)) * 10
    before = len(bot.fake.messages_to(CANDIDATE))
    await bot.fake.send_audio(
        candidate.user, audio, duration=20, file_name="answer.m4a", mime_type="audio/mp4"
    )
    await bot.fake.wait_reply(CANDIDATE, before, containing="Answer 1 received")
    with bot.app.db.session() as session:
        answer = session.exec(select(Answer).where(Answer.position == 0)).one()
    assert answer.kind == "voice"
    assert answer.media_path is not None
    assert answer.media_path.endswith(".m4a.enc")
    assert bot.app.db.media.get(answer.media_path) == audio


async def test_media_over_the_limits_is_refused_before_download(bot: Running) -> None:
    candidate, _ = await interview_ready(bot)
    fake = bot.fake
    too_big = await candidate.voice(
        b"OggS-small", duration=30, size=25 * 1024 * 1024, expect="too large"
    )
    assert "26.2 MB" in too_big.text
    too_long = await candidate.voice(b"OggS-long", duration=600, expect="seconds long")
    assert "600" in too_long.text
    assert not any(m == "getFile" for m, _ in fake.calls), "nothing may be downloaded"
    with bot.app.db.session() as session:
        assert session.exec(select(Answer).where(Answer.practice == False)).all() == []  # noqa: E712


async def test_stickers_and_locations_are_unsupported(bot: Running) -> None:
    candidate, _ = await interview_ready(bot)
    before = len(bot.fake.messages_to(CANDIDATE))
    await bot.fake.send_sticker(candidate.user)
    reply = await bot.fake.wait_reply(CANDIDATE, before, containing="only use text")
    assert reply.text
    await bot.fake.send_location(candidate.user)
    await bot.fake.wait_reply(CANDIDATE, before + 1, containing="only use text")


async def test_duplicate_updates_are_ignored(bot: Running) -> None:
    candidate, _ = await interview_ready(bot)
    fake = bot.fake
    before = len(fake.messages_to(CANDIDATE))
    update = await fake.send_text(candidate.user, "My first answer, about a lost customer.")
    await fake.wait_reply(CANDIDATE, before, containing="Question 2")
    await fake.duplicate(update)  # same update id again
    await fake.wait_for(
        lambda: fake.served.count(update["update_id"]) == 2, what="the duplicate served"
    )
    await bot.channel.idle()
    await asyncio.sleep(0.3)
    texts = [m.text for m in fake.messages_to(CANDIDATE)[before:]]
    assert sum("Answer 1 received" in t for t in texts) == 1
    assert not any("Answer 2 received" in t for t in texts)
    # A button press delivered twice under different update ids: deduplicated by callback id.
    review_q = fake.last_to(CANDIDATE)
    assert "Question 2" in review_q.text
    received = next(m for m in fake.messages_to(CANDIDATE) if "Answer 1 received" in m.text)
    press = await fake.press(candidate.user, received, received.button("rr:"))
    await fake.wait_reply(CANDIDATE, len(fake.messages_to(CANDIDATE)) - 1, containing="again")
    await fake.duplicate(press, new_update_id=True)
    await fake.wait_for(lambda: fake.pending_count() == 0, what="the duplicate press served")
    await bot.channel.idle()
    await asyncio.sleep(0.3)
    assert sum("please answer question 1 again" in m.text for m in fake.messages_to(CANDIDATE)) == 1
    with bot.app.db.session() as session:
        ids = session.exec(
            select(InboxEvent.event_id).where(col(InboxEvent.event_id).startswith("telegram:cb:"))
        ).all()
    assert len(ids) == len(set(ids))


async def test_a_429_is_retried_and_the_message_sent_once(bot: Running) -> None:
    candidate, _ = await interview_ready(bot)
    fake = bot.fake
    fake.fail_next("sendMessage", status=429, retry_after=1, chat_id=CANDIDATE)
    before = len(fake.messages_to(CANDIDATE))
    reply = await candidate.say(
        "An answer while Telegram says slow down.", expect="Answer 1 received", timeout=15
    )
    assert reply
    await fake.wait_reply(CANDIDATE, before, containing="Question 2", timeout=15)
    texts = [m.text for m in fake.messages_to(CANDIDATE)[before:]]
    assert sum("Answer 1 received" in t for t in texts) == 1
    failures = [m for m, _ in fake.calls if m == "sendMessage"]
    assert len(failures) >= len(texts) + 1  # the refused call plus every delivered one


async def test_network_errors_are_retried(bot: Running) -> None:
    candidate, _ = await interview_ready(bot)
    fake = bot.fake
    fake.fail_next("sendMessage", status=502, count=2, chat_id=CANDIDATE)
    before = len(fake.messages_to(CANDIDATE))
    await candidate.say("Answer during a Bad Gateway.", expect="Answer 1 received", timeout=15)
    await fake.wait_reply(CANDIDATE, before, containing="Question 2", timeout=15)
    texts = [m.text for m in fake.messages_to(CANDIDATE)[before:]]
    assert sum("Answer 1 received" in t for t in texts) == 1

    def retried_and_sent() -> bool:  # marked sent just after the fake answered: poll
        with bot.app.db.session() as session:
            rows = session.exec(
                select(OutboxMessage).where(OutboxMessage.chat_id == str(CANDIDATE))
            ).all()
        return any(r.attempts > 1 and r.status == "sent" for r in rows)

    await fake.wait_for(retried_and_sent, what="a message sent after retries")


async def test_a_message_that_keeps_failing_is_recorded(bot: Running) -> None:
    candidate, _ = await interview_ready(bot)
    fake = bot.fake
    fake.fail_next(
        "sendMessage",
        status=403,
        count=1,
        description="Forbidden: bot was blocked by the user",
        chat_id=CANDIDATE,
    )
    before = len(fake.messages_to(CANDIDATE))
    await fake.send_text(candidate.user, "An answer the bot cannot acknowledge.")

    def failed() -> list[OutboxMessage]:
        with bot.app.db.session() as session:
            return list(
                session.exec(select(OutboxMessage).where(OutboxMessage.status == "failed")).all()
            )

    rows = await fake.wait_for(failed, what="a failed outbox row")
    assert rows[0].chat_id == str(CANDIDATE)
    assert rows[0].last_error == "ChannelError: forbidden (not retryable)"
    assert rows[0].attempts == 1  # a 403 is not retried
    assert len(fake.messages_to(CANDIDATE)) == before  # the receipt never got through
    # The answer itself is kept: the interview moved on to question 2.
    with bot.app.db.session() as session:
        assert session.exec(select(Answer)).all()
    with bot.app.db.session() as session:
        audit = session.exec(select(AuditEvent).where(AuditEvent.action == "delivery_failed")).all()
    assert audit


# ---------------------------------------------------------------------- the HR group
async def test_non_hr_member_is_refused_in_the_group(bot: Running) -> None:
    await create_job(bot.chat(ADMIN))
    await bot.chat(ADMIN, chat_id=GROUP).say("/bind sales", expect="sales")
    stranger = bot.chat(STRANGER, chat_id=GROUP)
    refused = await stranger.say(f"/progress@{bot.fake.username}", expect="access")
    assert "don't have access" in refused.text
    hr_view = await bot.chat(HR, chat_id=GROUP).say(
        f"/progress@{bot.fake.username}", expect="sales"
    )
    assert "invited" in hr_view.text


async def test_commands_for_another_bot_are_ignored(bot: Running) -> None:
    await create_job(bot.chat(ADMIN))
    fake = bot.fake
    before = len(fake.messages_to(GROUP))
    update = await fake.send_text(fake.user(HR), "/progress@SomeOtherBot", chat_id=GROUP)
    await fake.wait_for(lambda: update["update_id"] in fake.served, what="the update served")
    await bot.channel.idle()
    await asyncio.sleep(0.3)
    assert len(fake.messages_to(GROUP)) == before


async def test_hr_approves_in_the_group_and_strangers_are_refused(bot: Running) -> None:
    """The decision post (with its buttons) reaches the HR group when the interview is
    scored; a stranger's press is refused with an alert; HR's press wins, the post is
    edited to say who decided and when; a second press learns it was already decided."""
    fake = bot.fake
    post = await decision_post_after_interview(bot)
    approve = post.button("dec:")
    assert approve.endswith(":a")
    reject = approve[:-1] + "r"
    text_before = post.text
    press = await fake.press(fake.user(STRANGER), post, approve)
    refused = await fake.wait_callback_answered(press["callback_query"]["id"])
    assert refused["show_alert"] is True
    assert "access" in refused["text"]
    await bot.channel.idle()
    assert post.text == text_before
    assert not any(m.edits for m in fake.messages_to(GROUP))
    # HR and the admin press at once: the first valid press wins, the other is told.
    first = await fake.press(fake.user(HR, "Hana"), post, approve)
    second = await fake.press(fake.user(ADMIN, "Ada"), post, reject)
    await fake.wait_callback_answered(first["callback_query"]["id"])
    late = await fake.wait_callback_answered(second["callback_query"]["id"])
    assert "Already decided" in late["text"]
    assert late["show_alert"] is True
    await fake.wait_for(lambda: "Approved" in post.text, what="the post edited")
    assert f"telegram:{HR}" in post.text  # who decided, and when
    assert post.buttons == []
    await fake.wait_reply(CANDIDATE, 0, containing="Good news")
    with bot.app.db.session() as session:
        refusals = session.exec(
            select(AuditEvent).where(AuditEvent.action == "access_denied")
        ).all()
        decisions = session.exec(select(AuditEvent).where(AuditEvent.action == "decision")).all()
    assert [r.actor for r in refusals] == [f"telegram:{STRANGER}"]
    assert [d.actor for d in decisions] == [f"telegram:{HR}"]


async def test_group_admins_may_decide_when_the_operator_allows_it(
    tmp_path: Path, fake: FakeBotAPI
) -> None:
    """``group_admins_decide``: an administrator of the bound HR group who is not on the
    staff list may press Approve; a plain member still may not."""
    lead = 44
    fake.groups[GROUP].admins.add(lead)
    rt, stop, task = await start_bot(telegram_settings(tmp_path, fake, group_admins_decide=True))
    try:
        bot = Running(fake, rt)
        post = await decision_post_after_interview(bot)
        approve = post.button("dec:")
        press = await fake.press(fake.user(STRANGER), post, approve)
        refused = await fake.wait_callback_answered(press["callback_query"]["id"])
        assert "access" in refused["text"]
        press = await fake.press(fake.user(lead, "Lee"), post, approve)
        await fake.wait_callback_answered(press["callback_query"]["id"])
        await fake.wait_for(lambda: "Approved" in post.text, what="the post edited")
        assert f"telegram:{lead}" in post.text
        with rt.app.db.session() as session:
            decisions = session.exec(
                select(AuditEvent).where(AuditEvent.action == "decision")
            ).all()
        assert [d.actor for d in decisions] == [f"telegram:{lead}"]
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0


async def test_a_button_nobody_handles_still_gets_an_answer(bot: Running) -> None:
    fake = bot.fake
    with bot.app.db.transaction() as session:
        post = Send(
            platform="telegram",
            chat_id=str(GROUP),
            text="old post",
            buttons=[[Button(label="?", data="gone:1")]],
        )
        write_intents(session, [post], source_event=None, now=bot.app.services.clock.now())
    bot.rt.wake_dispatcher()
    old = await fake.wait_reply(GROUP, 0, containing="old post")
    press = await fake.press(fake.user(STRANGER), old, "gone:1")
    answer = await fake.wait_callback_answered(press["callback_query"]["id"])
    assert answer["text"] == ""  # the client stops spinning; nothing else happens
    with bot.app.db.session() as session:
        row = session.exec(
            select(InboxEvent).where(
                InboxEvent.event_id == f"telegram:cb:{press['callback_query']['id']}"
            )
        ).one()
    event = parse_event(row.payload)
    assert isinstance(event, ButtonPressed)
    assert (event.user_id, event.chat_id, event.is_group) == (str(STRANGER), str(GROUP), True)


async def test_edit_with_identical_text_counts_as_sent(bot: Running) -> None:
    fake = bot.fake
    with bot.app.db.transaction() as session:
        post = Send(platform="telegram", chat_id=str(GROUP), text="Ranking", ref="rank:1")
        same = Edit(platform="telegram", chat_id=str(GROUP), ref="rank:1", text="Ranking")
        write_intents(session, [post, same], source_event=None, now=bot.app.services.clock.now())
    bot.rt.wake_dispatcher()

    def rows() -> list[OutboxMessage] | None:
        with bot.app.db.session() as session:
            found = list(
                session.exec(select(OutboxMessage).where(OutboxMessage.chat_id == str(GROUP))).all()
            )
        return found if found and all(r.status == "sent" for r in found) else None

    sent = await fake.wait_for(rows, what="both rows sent")
    assert sent[1].platform_message_id == sent[0].platform_message_id
    assert any(m == "editMessageText" for m, _ in fake.calls)


async def test_editing_a_file_post_edits_its_caption(bot: Running) -> None:
    fake = bot.fake
    path, _digest = bot.app.db.media.put(b"%PDF-1.7 report", ".pdf")
    with bot.app.db.transaction() as session:
        post = SendFile(
            platform="telegram",
            chat_id=str(GROUP),
            path=path,
            filename="report.pdf",
            caption="Report #1",
            mime_type="application/pdf",
            encrypted=True,
            buttons=[[Button(label="Details", data="x:1")]],
            ref="report:1",
        )
        edit = Edit(
            platform="telegram", chat_id=str(GROUP), ref="report:1", text="Report #1 (decided)"
        )
        write_intents(session, [post, edit], source_event=None, now=bot.app.services.clock.now())
    bot.rt.wake_dispatcher()
    sent = await fake.wait_reply(GROUP, 0, containing="Report #1")
    assert sent.method == "sendDocument"
    assert sent.filename == "report.pdf"
    assert sent.data == b"%PDF-1.7 report"
    await fake.wait_for(lambda: sent.text == "Report #1 (decided)", what="the caption edited")
    assert sent.buttons == []


async def test_group_admin_helper(bot: Running) -> None:
    channel = bot.channel
    assert await channel.is_group_admin(str(GROUP), str(ADMIN)) is True  # owner
    assert await channel.is_group_admin(str(GROUP), str(HR)) is True  # administrator
    assert await channel.is_group_admin(str(GROUP), str(STRANGER)) is False
    check = channel.group_admin_check()
    assert await asyncio.to_thread(check, str(GROUP), str(HR)) is True
    assert await asyncio.to_thread(check, "-999", str(HR)) is False  # unknown chat: fails closed
    with pytest.raises(RuntimeError):
        check(str(GROUP), str(HR))


# ---------------------------------------------------------------------- documents
async def test_staff_documents_are_imported_and_strangers_files_not_fetched(bot: Running) -> None:
    fake = bot.fake
    csv = "competency,zh,en,rubric\ncommunication,请描述一次沟通,Describe a hard conversation,clear\n".encode()
    before = len(fake.messages_to(HR))
    await fake.send_document(
        fake.user(HR), csv, file_name="questions.csv", caption="/importquestions"
    )
    reply = await fake.wait_reply(HR, before, containing="mport")
    assert "Imported 1" in reply.text or "row" in reply.text
    assert any(m == "getFile" for m, _ in fake.calls)
    calls_before = sum(m == "getFile" for m, _ in fake.calls)
    stranger = fake.user(STRANGER)
    before = len(fake.messages_to(STRANGER))
    await fake.send_document(stranger, b"junk", file_name="cv.pdf", mime_type="application/pdf")
    await fake.wait_reply(STRANGER, before)
    assert sum(m == "getFile" for m, _ in fake.calls) == calls_before


# ---------------------------------------------------------------------- translation
def test_translate_strips_the_bot_name_and_keeps_message_identity() -> None:
    from telegram import Update

    data: dict[str, Any] = {
        "update_id": 7,
        "message": {
            "message_id": 42,
            "date": 0,
            "chat": {"id": -5, "type": "supergroup", "title": "HR"},
            "from": {"id": 9, "is_bot": False, "first_name": "Ann", "language_code": "de"},
            "text": "/Bind@InterviewerTestBot  sales-2026 ",
        },
    }
    incoming = translate(Update.de_json(data, None), bot_username="interviewertestbot")
    assert incoming is not None
    event = incoming.event
    assert event is not None
    assert event.model_dump(
        include={"event_id", "chat_id", "user_id", "is_group", "language_hint"}
    ) == {
        "event_id": "telegram:u:7:-5:42",
        "chat_id": "-5",
        "user_id": "9",
        "is_group": True,
        "language_hint": "de",
    }
    assert getattr(event, "command", None) == "bind"
    assert getattr(event, "args", None) == "sales-2026"
    # Update ids restart after a week of silence: the same update id with another
    # message is a different event.
    data["message"]["message_id"] = 43
    again = translate(Update.de_json(data, None), bot_username="interviewertestbot")
    assert again is not None
    assert again.event_id != incoming.event_id


# ---------------------------------------------------------------------- webhook mode
async def test_webhook_mode_registers_and_serves_the_webhook(
    tmp_path: Path, fake: FakeBotAPI
) -> None:
    import httpx

    port = free_port()
    secret = "hook-secret-0123456789"
    settings = telegram_settings(tmp_path, fake, mode="webhook", webhook_secret=secret)
    settings.web.port = port
    settings.app.public_base_url = "https://bot.example.com"
    rt, stop, task = await start_bot(settings)
    try:
        assert fake.webhook is not None
        assert fake.webhook["url"] == "https://bot.example.com/telegram/webhook"
        assert fake.webhook["secret_token"] == secret
        assert "callback_query" in json.loads(fake.webhook["allowed_updates"])
        user = fake.user(STRANGER)
        update = {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": STRANGER, "type": "private", "first_name": "S"},
                "from": user.as_dict(),
                "text": "/help",
            },
        }
        url = f"http://127.0.0.1:{port}/telegram/webhook"
        async with httpx.AsyncClient() as http:
            for _ in range(50):  # uvicorn may still be binding
                try:
                    wrong = await http.post(
                        url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "nope"}
                    )
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.1)
            assert wrong.status_code == 403
            ok = await http.post(
                url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": secret}
            )
            assert ok.status_code == 200
            assert (await http.get(f"http://127.0.0.1:{port}/healthz")).json()["status"] == "ok"
        reply = await fake.wait_reply(STRANGER, 0)
        assert "invitation" in reply.text
        assert not any(m == "getUpdates" for m, _ in fake.calls)
        assert rt.app.channels["telegram"]
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0


async def test_stopping_while_the_bot_api_is_unreachable(tmp_path: Path, fake: FakeBotAPI) -> None:
    fake.fail_next("getMe", status=502, count=1000)
    stop = asyncio.Event()
    settings = telegram_settings(tmp_path, fake)
    task = asyncio.create_task(
        run(settings, stop=stop, handle_signals=False, build=build_with_fake_models)
    )
    await fake.wait_for(lambda: any(m == "getMe" for m, _ in fake.calls), what="a getMe attempt")
    stop.set()
    assert await asyncio.wait_for(task, 10) == 0
    assert not any(m == "getUpdates" for m, _ in fake.calls)
