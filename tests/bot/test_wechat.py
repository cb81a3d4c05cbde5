"""The Official Account channel end to end: signed callbacks into the ASGI routes, a fake
WeChat API on 127.0.0.1 answering the adapter, the real engine in between."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import col, func, select
from starlette.routing import BaseRoute, Route

from app.wiring import App, build_app
from bot.wechat import (
    ButtonMenus,
    Incoming,
    amr_duration,
    render_menu,
    split_text,
    template_data,
    to_incoming,
    wechat_invite_qr,
)
from core.clock import FakeClock
from dialogs.kernel.dispatcher import Dispatcher
from dialogs.kernel.events import (
    ButtonPressed,
    CommandReceived,
    SubscribeReceived,
    TextReceived,
    UnsupportedReceived,
)
from dialogs.kernel.intents import Button, Send
from dialogs.kernel.outbox import write_intents
from storage.crypto import token_hash
from storage.models import (
    Answer,
    AuditEvent,
    Candidate,
    GroupBinding,
    GroupPost,
    InboxEvent,
    InterviewSession,
    Invitation,
    KeyValue,
    OutboxMessage,
)
from tests.dialogs.token_helpers import database_text, link_tokens
from tests.fakes.wechat_api import (
    AGENT_ID,
    CORP_ID,
    FakeWeChat,
    Harness,
    invite,
    make_harness,
    seed_job,
    wechat_settings,
)
from web.wechat_routes import start_wechat

OPENID = "oTomBaker0000000000000000001"


@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    server = FakeWeChat().start()
    yield server
    server.stop()


@pytest.fixture
async def h(tmp_path: Path, fake: FakeWeChat, db_url: str) -> AsyncIterator[Harness]:
    """On SQLite, and on PostgreSQL too when TEST_DATABASE_URL is set (tests/conftest.py)."""
    harness = await make_harness(tmp_path, fake, db_url=db_url)
    yield harness
    await harness.tasks.drain()
    await harness.http.aclose()
    harness.app.db.engine.dispose()


def _count(h: Harness, model: type, *where: object) -> int:
    with h.app.db.session() as session:
        return int(session.exec(select(func.count()).select_from(model).where(*where)).one())  # type: ignore[arg-type]


def make_amr(text: str, folder: Path) -> bytes:
    """A spoken answer as WeChat sends voice: AMR-NB, 8 kHz mono (espeak-ng + sox)."""
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        pytest.skip("espeak-ng and sox are needed to make AMR voice")
    wav = folder / "voice.wav"
    amr = folder / "voice.amr"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(wav), text],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["sox", str(wav), "-r", "8000", "-c", "1", "-t", "amr-nb", str(amr)],
        check=True,
        capture_output=True,
    )
    return amr.read_bytes()


# ------------------------------------------------------------------ the interview
@pytest.mark.slow
async def test_full_interview_over_encrypted_callbacks_with_amr_voice(
    h: Harness, tmp_path: Path
) -> None:
    job_id = seed_job(h.app)
    candidate_id, token, code = invite(h.app, job_id, "Tom Baker")

    # The candidate scans the invitation QR code and follows the account.
    response = await h.post(h.cb.event(OPENID, "subscribe", f"qrscene_{token}"))
    assert response.status_code == 200
    assert response.text == "success"
    await h.settle()
    welcome = h.fake.texts_to(OPENID)[-1]
    assert "English" in welcome
    assert "1. 中文" in welcome
    assert "2. English" in welcome

    consent = await h.say(OPENID, "2")  # English
    assert "privacy notice" in consent.lower()
    await h.say(OPENID, "1")  # agree
    identity = await h.say(OPENID, "1")  # voice allowed
    assert identity
    practice = await h.say(OPENID, f"Tom Baker {code}")
    assert "Tom Baker" in practice
    question = await h.say(OPENID, "1")  # skip the practice question
    assert "1 of 2" in question

    spoken = [
        "Last year a key customer was about to cancel because of late deliveries. I called them every day and they renewed.",
        "I explained a system migration to the finance team with three diagrams, and they approved the budget that week.",
    ]
    voices = [make_amr(text, tmp_path) for text in spoken]
    for index, data in enumerate(voices):
        media_id = f"voice-media-{index}"
        h.fake.voices[media_id] = data
        before = len(h.fake.texts_to(OPENID))
        response = await h.post(h.cb.voice(OPENID, media_id))
        assert response.text == "success"
        await h.settle()
        assert len(h.fake.texts_to(OPENID)) > before
    review = h.fake.texts_to(OPENID)[-1]
    assert "2." in review
    await h.say(OPENID, "2")  # submit

    with h.app.db.session() as session:
        s = session.exec(
            select(InterviewSession).where(InterviewSession.candidate_id == candidate_id)
        ).one()
        assert s.state == "done"
        assert s.platform == "wechat"
        assert s.language == "en"
        answers = session.exec(
            select(Answer)
            .where(Answer.session_id == s.id, col(Answer.practice).is_(False))
            .order_by(col(Answer.position))
        ).all()
        candidate = session.get(Candidate, candidate_id)
    assert candidate is not None
    assert candidate.status == "completed"
    assert [a.kind for a in answers] == ["voice", "voice"]
    for answer, data in zip(answers, voices, strict=True):
        assert answer.media_path is not None
        assert h.app.db.media.get(answer.media_path) == data  # stored encrypted, read back intact
        assert answer.duration_s is not None
        assert answer.duration_s == pytest.approx(amr_duration(data))
        assert 2 < answer.duration_s < 20
    assert len(h.fake.of("media/get")) == 2
    assert _count(h, KeyValue, col(KeyValue.key).startswith("wechat:pending:")) == 0


@pytest.mark.parametrize("mode", ["compatible", "safe"])
async def test_each_callback_mode_is_accepted(h: Harness, mode: str) -> None:
    """With an EncodingAESKey (plaintext mode: tests/bot/test_wechat_replay.py)."""
    response = await h.post(h.cb.text(OPENID, "hello"), mode=mode)
    assert response.status_code == 200
    assert response.text == "success"
    await h.settle()
    assert _count(h, InboxEvent) == 1
    assert len(h.fake.texts_to(OPENID)) == 1  # "open your invitation link" help


async def test_url_verification_echoes_and_refuses_a_forgery(h: Harness) -> None:
    params, _ = h.cb.request("<xml/>")
    params = {k: params[k] for k in ("timestamp", "nonce", "signature")}
    ok = await h.http.get("/wechat/callback", params={**params, "echostr": "echo-123"})
    assert ok.status_code == 200
    assert ok.text == "echo-123"
    bad = await h.http.get(
        "/wechat/callback", params={**params, "signature": "0" * 40, "echostr": "x"}
    )
    assert bad.status_code == 403


# ------------------------------------------------------------------ retries and forgeries
async def test_a_message_retried_three_times_is_handled_once(h: Harness) -> None:
    xml = h.cb.text(OPENID, "hello", msg_id=1234567890123)
    for _ in range(3):
        response = await h.post(xml)
        assert response.text == "success"
    await h.settle()
    assert _count(h, InboxEvent) == 1
    assert len(h.fake.texts_to(OPENID)) == 1


async def test_an_event_retried_three_times_is_handled_once(h: Harness) -> None:
    xml = h.cb.event(OPENID, "subscribe", created=1_767_600_000)
    for _ in range(3):
        await h.post(xml)
    await h.settle()
    with h.app.db.session() as session:
        ids = session.exec(select(InboxEvent.event_id)).all()
    assert ids == [f"wechat:ev:{OPENID}:1767600000:subscribe"]
    assert len(h.fake.texts_to(OPENID)) == 1


async def test_a_voice_retried_three_times_is_downloaded_once(h: Harness) -> None:
    job_id = seed_job(h.app)
    _, token, code = invite(h.app, job_id, "Tom Baker")
    await h.post(h.cb.event(OPENID, "subscribe", f"qrscene_{token}"))
    await h.settle()
    for reply in ("2", "1", "1", f"Tom Baker {code}", "1"):
        await h.say(OPENID, reply)
    h.fake.voices["v1"] = b"#!AMR\n" + bytes([0x04] + [0] * 12) * 150  # 3 s of mode-0 frames
    xml = h.cb.voice(OPENID, "v1")
    for _ in range(3):
        assert (await h.post(xml)).text == "success"
    await h.settle()
    assert len(h.fake.of("media/get")) == 1
    assert _count(h, Answer, Answer.kind == "voice") == 1


async def test_forged_signature_gets_403_and_stores_nothing(h: Harness) -> None:
    for mode in ("plain", "compatible", "safe"):
        h.cb.mode = mode
        params, body = h.cb.request(h.cb.text(OPENID, "hello"))
        params["signature" if mode == "plain" else "msg_signature"] = "f" * 40
        response = await h.http.post("/wechat/callback", params=params, content=body)
        assert response.status_code == 403
    # In safe mode the signature covers the ciphertext: a changed body is refused.
    h.cb.mode = "safe"
    params, body = h.cb.request(h.cb.text(OPENID, "hello"))
    tampered = body.replace(b"<Encrypt><![CDATA[", b"<Encrypt><![CDATA[A", 1)
    assert (
        await h.http.post("/wechat/callback", params=params, content=tampered)
    ).status_code == 403
    # A correct signature over a stale timestamp (a replay) is refused too.
    h.cb.now -= 3600
    response = await h.post(h.cb.text(OPENID, "hello"))
    assert response.status_code == 403
    await h.settle()
    assert _count(h, InboxEvent) == 0
    assert _count(h, KeyValue, col(KeyValue.key).startswith("wechat:")) == 0
    assert h.fake.of("message/custom/send") == []


async def test_oversized_body_is_refused(h: Harness) -> None:
    params, _ = h.cb.request("<xml/>")
    response = await h.http.post(
        "/wechat/callback", params=params, content=b"<xml>" + b"x" * 1_100_000 + b"</xml>"
    )
    assert response.status_code == 413
    assert _count(h, InboxEvent) == 0


async def test_dtd_in_a_signed_body_is_refused(h: Harness) -> None:
    evil = '<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY a "aaaa">]><xml><FromUserName>&a;</FromUserName></xml>'
    params, body = h.cb.request(evil)  # encrypted and signed: only the content is bad
    response = await h.http.post("/wechat/callback", params=params, content=body)
    assert response.status_code == 400
    assert _count(h, InboxEvent) == 0


# ------------------------------------------------------------------ the 48-hour window
async def _candidate_with_hr_robot(h: Harness) -> int:
    job_id = seed_job(h.app)
    _, token, _ = invite(h.app, job_id, "Tom Baker")
    await h.post(h.cb.event(OPENID, "subscribe", f"qrscene_{token}"))
    await h.settle()
    with h.app.db.transaction() as session:
        session.add(GroupBinding(platform="wecom", chat_id="robot", job_id=job_id))
    return job_id


def _queue_reminder(h: Harness, text: str) -> None:
    with h.app.db.transaction() as session:
        write_intents(
            session,
            [Send(platform="wechat", chat_id=OPENID, text=text, ref="reminder:1")],
            source_event=None,
            now=h.app.services.clock.now(),
        )


async def test_outside_48_hours_a_reminder_goes_as_a_template_message(
    tmp_path: Path, fake: FakeWeChat
) -> None:
    h = await make_harness(tmp_path, fake, template_id="interview-reminder-tpl")
    try:
        await _candidate_with_hr_robot(h)
        fake.out_of_window.add(OPENID)
        _queue_reminder(h, "提醒：您的面试将于明天 10:00 开始\n请准时参加。")
        await h.settle()
        templates = fake.of("message/template/send")
        assert len(templates) == 1
        sent = templates[0].json
        assert sent["touser"] == OPENID
        assert sent["template_id"] == "interview-reminder-tpl"
        assert (
            sent["data"]["thing1"]["value"] == "提醒：您的面试将于明天 10:00 开始"
        )  # the first line, 20 characters
        assert len(sent["data"]["thing2"]["value"]) <= 20
        with h.app.db.session() as session:
            row = session.exec(select(OutboxMessage).where(OutboxMessage.ref == "reminder:1")).one()
        assert row.status == "sent"
    finally:
        await h.http.aclose()


async def test_outside_48_hours_without_a_template_it_fails_and_hr_is_told(h: Harness) -> None:
    await _candidate_with_hr_robot(h)
    h.fake.out_of_window.add(OPENID)
    _queue_reminder(h, "Reminder: your interview starts tomorrow at 10:00.")
    _queue_reminder(h, "Reminder: one hour to go.")
    await h.settle()
    with h.app.db.session() as session:
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.ref == "reminder:1")).all()
        audits = session.exec(
            select(AuditEvent).where(AuditEvent.action == "delivery_failed")
        ).all()
    assert [r.status for r in rows] == ["failed", "failed"]
    assert len(audits) == 2
    assert all(r.attempts == 1 for r in rows)  # not retried: it cannot succeed
    robot = h.fake.of("webhook/send")
    assert len(robot) == 1  # told once, not once per message
    assert "48" in robot[0].json["text"]["content"]
    assert h.fake.of("message/template/send") == []
    with h.app.db.session() as session:  # planned like every HR-group post: a result, first
        posts = session.exec(select(GroupPost.kind, GroupPost.klass, GroupPost.status)).all()
    assert list(posts) == [("wechat.hr_undeliverable", "result", "released")]


# ------------------------------------------------------------------ mapping details
def test_event_mapping() -> None:
    base = {"ToUserName": "gh", "FromUserName": OPENID, "CreateTime": "1767600000"}
    sub = to_incoming(
        {**base, "MsgType": "event", "Event": "subscribe", "EventKey": "qrscene_tok123"}, None
    )
    assert sub is not None
    assert isinstance(sub.event, SubscribeReceived)
    assert sub.event.scene == "tok123"
    assert sub.event_id == f"wechat:ev:{OPENID}:1767600000:subscribe"
    scan = to_incoming({**base, "MsgType": "event", "Event": "SCAN", "EventKey": "tok456"}, None)
    assert scan is not None
    assert isinstance(scan.event, SubscribeReceived)
    assert scan.event.scene == "tok456"
    assert to_incoming({**base, "MsgType": "event", "Event": "unsubscribe"}, None) is None
    cmd = to_incoming({**base, "MsgType": "text", "Content": "/Resume now", "MsgId": "42"}, None)
    assert cmd is not None
    assert isinstance(cmd.event, CommandReceived)
    assert (cmd.event.command, cmd.event.args) == ("resume", "now")
    for kind in ("image", "location", "link"):
        other = to_incoming({**base, "MsgType": kind, "MsgId": "43"}, None)
        assert other is not None
        assert isinstance(other.event, UnsupportedReceived)
        assert other.event.kind == kind
    voice = to_incoming(
        {**base, "MsgType": "voice", "MediaId": "m", "Format": "speex", "MsgId": "44"}, None
    )
    assert voice == Incoming("wechat:msg:44", OPENID, "voice", media_id="m", media_format="speex")
    video = to_incoming({**base, "MsgType": "shortvideo", "MediaId": "v", "MsgId": "45"}, None)
    assert video is not None
    assert video.kind == "video"


async def test_numbered_replies_map_to_the_last_buttons(h: Harness) -> None:
    menus = ButtonMenus(h.app.db, h.app.services.clock)
    menus.remember(
        OPENID,
        [[Button(label="同意", data="consent:yes"), Button(label="不同意", data="consent:no")]],
    )
    assert menus.resolve(OPENID, "1") == "consent:yes"
    assert menus.resolve(OPENID, "２") == "consent:no"  # full-width digit
    assert menus.resolve(OPENID, " 不同意 ") == "consent:no"
    assert menus.resolve(OPENID, "3") is None
    assert menus.resolve(OPENID, "Tom Baker 123456") is None
    assert menus.resolve("someone-else", "1") is None
    assert menus.resolve_id(OPENID, "2") == "consent:no"
    inc = to_incoming(
        {
            "FromUserName": OPENID,
            "CreateTime": "1",
            "MsgType": "text",
            "Content": "1",
            "MsgId": "9",
        },
        menus,
    )
    assert inc is not None
    assert isinstance(inc.event, ButtonPressed)
    assert inc.event.data == "consent:yes"
    plain = to_incoming(
        {
            "FromUserName": OPENID,
            "CreateTime": "1",
            "MsgType": "text",
            "Content": "hi",
            "MsgId": "10",
        },
        menus,
    )
    assert plain is not None
    assert isinstance(plain.event, TextReceived)
    # The menu answered once: a second "1" (say, the answer to a question) is text.
    again = to_incoming(
        {
            "FromUserName": OPENID,
            "CreateTime": "2",
            "MsgType": "text",
            "Content": "1",
            "MsgId": "11",
        },
        menus,
    )
    assert again is not None
    assert isinstance(again.event, TextReceived)
    menus.remember(OPENID, [[Button(label="Skip", data="practice:skip")]])
    assert menus.resolve(OPENID, "skip") == "practice:skip"
    clock = h.app.services.clock
    clock.advance(hours=49)  # type: ignore[attr-defined]
    assert menus.resolve(OPENID, "1") is None  # menus expire with the 48-hour window


def test_menu_rendering_and_text_splitting() -> None:
    text = render_menu(
        "Do you agree?", [[Button(label="Agree", data="a"), Button(label="Decline", data="d")]]
    )
    assert text.splitlines()[-2:] == ["1. Agree", "2. Decline"]
    assert "number" in text
    assert "数字" in render_menu("您同意吗？", [[Button(label="同意", data="a")]])
    long = "\n".join(f"第{i}行：" + "很长的内容" * 20 for i in range(40))
    pieces = split_text(long, 1800)
    assert all(len(p.encode()) <= 1800 for p in pieces)
    assert "".join(pieces).replace("\n", "") == long.replace("\n", "")
    data = template_data("Your interview is tomorrow at 10:00 in room 3\nsecond line")
    assert len(data["thing1"]["value"]) == 20


def test_amr_duration_counts_frames() -> None:
    assert amr_duration(b"#!AMR\n" + bytes([0x3C] + [0] * 31) * 50) == pytest.approx(
        1.0
    )  # 12.2 kbit/s
    assert amr_duration(b"RIFF....") is None


async def test_voice_outside_a_question_is_not_downloaded(h: Harness) -> None:
    h.fake.voices["v9"] = b"#!AMR\n" + bytes([0x04] + [0] * 12) * 50
    await h.post(h.cb.voice(OPENID, "v9"))
    await h.settle()
    assert h.fake.of("media/get") == []
    assert len(h.fake.texts_to(OPENID)) == 1


async def test_video_answer_is_fetched_from_its_video_url(h: Harness) -> None:
    job_id = seed_job(h.app)
    _, token, code = invite(h.app, job_id, "Tom Baker")
    await h.post(h.cb.event(OPENID, "SCAN", token))
    await h.settle()
    for reply in ("2", "1", "1", f"Tom Baker {code}", "1"):
        await h.say(OPENID, reply)
    h.fake.videos["vid1"] = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 5000
    await h.post(h.cb.video(OPENID, "vid1"))
    await h.settle()
    with h.app.db.session() as session:
        answer = session.exec(select(Answer).where(Answer.kind == "video")).one()
    assert answer.media_path is not None
    assert h.app.db.media.get(answer.media_path) == h.fake.videos["vid1"]
    assert [c.path for c in h.fake.calls if c.path.startswith(("media/get", "video/"))] == [
        "media/get",
        "video/vid1",
    ]


async def test_invite_qr_code_carries_the_token_as_scene(h: Harness) -> None:
    png = wechat_invite_qr(h.wechat.client, "invitation-token-abc")
    assert png.startswith(b"\x89PNG")
    created = h.fake.of("qrcode/create")[0].json
    assert created["action_name"] == "QR_STR_SCENE"
    assert created["action_info"]["scene"]["scene_str"] == "invitation-token-abc"
    assert h.fake.of("showqrcode")[0].query["ticket"] == "TICKET-invitation-token-abc"


async def test_media_claimed_before_a_crash_is_fetched_on_recovery(h: Harness) -> None:
    job_id = seed_job(h.app)
    _, token, code = invite(h.app, job_id, "Tom Baker")
    await h.post(h.cb.event(OPENID, "subscribe", f"qrscene_{token}"))
    await h.settle()
    for reply in ("2", "1", "1", f"Tom Baker {code}", "1"):
        await h.say(OPENID, reply)
    h.fake.voices["v-crash"] = b"#!AMR\n" + bytes([0x04] + [0] * 12) * 100
    inc = h.wechat.incoming(h.cb.voice(OPENID, "v-crash"))
    assert h.wechat.claim_media(inc)  # the callback answered, then the process died
    assert not h.wechat.claim_media(inc)  # a retry of it is a duplicate
    past = h.app.services.clock.now() - dt.timedelta(hours=1)
    with h.app.db.transaction() as session:  # leftovers that expired while we were down
        session.add(KeyValue(key="wechat:menu:gone", value="[]", expires_at=past))
        session.add(KeyValue(key="wecom:card:gone", value="{}", expires_at=past))
    assert await h.tasks.recover() == 1
    with h.app.db.session() as session:
        assert session.get(KeyValue, "wechat:menu:gone") is None
        assert session.get(KeyValue, "wecom:card:gone") is None
    await h.settle()
    assert _count(h, Answer, Answer.kind == "voice") == 1
    assert h.wechat.pending_media() == []


HR_OPENID = "oHrManager000000000000000001"


async def _run_jobs(h: Harness) -> None:
    """Background jobs (the scene QR code), then deliver what they wrote."""
    worker = h.app.worker()
    while await asyncio.to_thread(worker.run_one):
        pass
    await h.settle()


def _wecom_text(h: Harness, user: str, content: str) -> str:
    return h.cb.xml(
        {
            "ToUserName": CORP_ID,
            "FromUserName": user,
            "CreateTime": int(h.cb.now),
            "MsgType": "text",
            "Content": content,
            "MsgId": h.cb.next_id(),
            "AgentID": int(AGENT_ID),
        }
    )


def _wecom_sent(fake: FakeWeChat, msgtype: str) -> list[dict[str, Any]]:
    return [c.json for c in fake.of("message/send") if c.json.get("msgtype") == msgtype]


async def test_wechat_only_invite_from_wecom_sends_the_scene_qr_and_no_telegram_link(
    h: Harness,
) -> None:
    seed_job(h.app)
    assert (
        await h.post_work(_wecom_text(h, "hr_li", "/invite sales-2026 王芳"))
    ).status_code == 200
    await h.settle()
    (reply,) = [m["text"]["content"] for m in _wecom_sent(h.fake, "text")]
    assert "王芳 的面试邀请（销售代表）" in reply
    assert "微信扫码：公众号二维码随后以图片发送" in reply
    assert "用微信扫一扫" in reply  # what HR does with it
    for absent in ("t.me", "Telegram", "链接", "/start", "控制台"):
        assert absent not in reply
    match = re.search(r"身份验证码：(\d{6})", reply)
    assert match is not None

    await _run_jobs(h)  # the scene QR code is made through the WeChat API ...
    (image,) = _wecom_sent(h.fake, "image")  # ... and sent to HR in WeCom
    assert image["touser"] == "hr_li"
    assert [c.query["type"] for c in h.fake.of("media/upload")] == ["image"]
    token = h.fake.of("qrcode/create")[0].json["action_info"]["scene"]["scene_str"]
    with h.app.db.session() as session:
        assert session.exec(select(Invitation.token_hash)).one() == token_hash(token)

    # the candidate scans it with WeChat and the interview starts
    await h.post(h.cb.event(OPENID, "subscribe", f"qrscene_{token}"))
    await h.settle()
    assert "2. English" in h.fake.texts_to(OPENID)[-1]
    for answer in ("2", "1", "1"):
        await h.say(OPENID, answer)
    assert "王芳" in await h.say(OPENID, f"王芳 {match[1]}")


async def test_wechat_only_invite_over_the_official_account_itself(h: Harness) -> None:
    """The reported case: HR sends /invite to the Official Account."""
    seed_job(h.app)
    h.app.settings.roles.hr_managers.append(f"wechat:{HR_OPENID}")
    reply = await h.say(HR_OPENID, "/invite sales-2026 王芳")
    assert "微信扫码" in reply and "t.me" not in reply and "链接" not in reply
    await _run_jobs(h)
    images = [
        c.json
        for c in h.fake.of("message/custom/send")
        if c.json.get("msgtype") == "image" and c.json.get("touser") == HR_OPENID
    ]
    assert len(images) == 1
    assert len(h.fake.of("qrcode/create")) == 1


async def test_wecom_only_says_no_channel_reaches_candidates(
    tmp_path: Path, fake: FakeWeChat
) -> None:
    h = await make_harness(tmp_path, fake, official_account=False)
    try:
        seed_job(h.app)
        await h.post_work(_wecom_text(h, "hr_li", "/invite sales-2026 王芳"))
        await h.settle()
        await _run_jobs(h)
        (reply,) = [m["text"]["content"] for m in _wecom_sent(h.fake, "text")]
        assert "没有启用候选人能使用的渠道" in reply and "/invitesheet sales-2026" in reply
        assert "t.me" not in reply and "/start" not in reply and "微信扫码" not in reply
        assert re.search(r"身份验证码：\d{6}", reply)  # the invitation is recorded
        assert _wecom_sent(h.fake, "image") == []
        assert h.fake.of("qrcode/create") == []
        # a sheet would print nothing: old links are not broken for it
        await h.post_work(_wecom_text(h, "hr_li", "/invitesheet sales-2026"))
        await h.settle()
        assert "没有可打印的内容" in _wecom_sent(h.fake, "text")[-1]["text"]["content"]
    finally:
        await h.tasks.drain()
        await h.http.aclose()
        h.app.db.engine.dispose()


@dataclass
class FakeRuntime:
    app: App
    routes: list[BaseRoute] = field(default_factory=list)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def dispatcher(self) -> Dispatcher:
        return self._dispatcher

    def __post_init__(self) -> None:
        self._dispatcher = self.app.dispatcher()

    def add_routes(self, routes: list[BaseRoute]) -> None:
        self.routes.extend(routes)

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        self.closers.append(closer)


async def test_start_wechat_registers_channels_and_routes(tmp_path: Path, fake: FakeWeChat) -> None:
    app = build_app(wechat_settings(tmp_path, fake), clock=FakeClock())
    rt = FakeRuntime(app)
    await start_wechat(rt)
    assert {"wechat", "wecom"} <= set(app.channels)
    assert {
        (r.path, tuple(sorted(r.methods or ()))) for r in rt.routes if isinstance(r, Route)
    } == {
        ("/wechat/callback", ("GET", "HEAD")),
        ("/wechat/callback", ("POST",)),
        ("/wecom/callback", ("GET", "HEAD")),
        ("/wecom/callback", ("POST",)),
    }
    for closer in rt.closers:
        await closer()


async def test_malformed_xml_with_a_valid_signature_is_a_bad_request(h: Harness) -> None:
    for xml in ("<xml><FromUserName>oops", "not xml at all", "<other/>"):
        params, body = h.cb.request(xml)  # encrypted and signed: only the content is bad
        response = await h.http.post("/wechat/callback", params=params, content=body)
        assert response.status_code == 400
    assert _count(h, InboxEvent) == 0


async def test_a_stuck_database_gets_503_and_the_late_store_is_still_processed(h: Harness) -> None:
    import asyncio
    import threading

    h.tasks.answer_within = 0.3
    locked, release = threading.Event(), threading.Event()

    def hold_writer_lock() -> None:
        with h.app.db.transaction() as session:
            if not h.app.db.is_sqlite:  # PostgreSQL: block the inbox table itself
                session.execute(text("LOCK TABLE inboxevent IN ACCESS EXCLUSIVE MODE"))
            locked.set()
            release.wait(5)

    holder = threading.Thread(target=hold_writer_lock)
    holder.start()
    assert locked.wait(5)
    response = await h.post(h.cb.text(OPENID, "hello", msg_id=424242))
    assert response.status_code == 503  # WeChat retries
    release.set()
    holder.join(5)
    for _ in range(100):
        if h.fake.texts_to(OPENID):
            break
        await h.settle()
        await asyncio.sleep(0.02)
    assert len(h.fake.texts_to(OPENID)) == 1  # stored late, processed anyway
    assert (await h.post(h.cb.text(OPENID, "hello", msg_id=424242))).text == "success"  # the retry
    await h.settle()
    assert len(h.fake.texts_to(OPENID)) == 1


async def test_images_are_uploaded_and_pdfs_are_refused_with_a_note(
    h: Harness, tmp_path: Path
) -> None:
    from dialogs.kernel.intents import SendFile

    chart = tmp_path / "chart.png"
    chart.write_bytes(b"\x89PNG\r\n\x1a\nfake-chart")
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.7")
    with h.app.db.transaction() as session:
        write_intents(
            session,
            [
                SendFile(
                    platform="wechat",
                    chat_id=OPENID,
                    path=str(chart),
                    filename="chart.png",
                    mime_type="image/png",
                    caption="Your results",
                ),
                SendFile(
                    platform="wechat",
                    chat_id=OPENID,
                    path=str(report),
                    filename="report.pdf",
                    mime_type="application/pdf",
                    caption="Your report",
                ),
            ],
            source_event=None,
            now=h.app.services.clock.now(),
        )
    await h.settle()
    assert h.fake.of("media/upload")[0].query["type"] == "image"
    images = [c.json for c in h.fake.of("message/custom/send") if c.json["msgtype"] == "image"]
    assert images == [
        {
            "touser": OPENID,
            "msgtype": "image",
            "image": {"media_id": images[0]["image"]["media_id"]},
        }
    ]
    texts = h.fake.texts_to(OPENID)
    assert texts[0] == "Your results"
    assert texts[1].startswith("Your report\n")
    with h.app.db.session() as session:
        statuses = session.exec(select(OutboxMessage.status).order_by(col(OutboxMessage.id))).all()
    assert statuses == ["sent", "failed"]


async def test_one_users_messages_are_handled_in_order_even_when_a_download_is_slow(
    h: Harness,
) -> None:
    job_id = seed_job(h.app)
    _, token, code = invite(h.app, job_id, "Tom Baker")
    await h.post(h.cb.event(OPENID, "subscribe", f"qrscene_{token}"))
    await h.settle()
    for reply in ("2", "1", "1", f"Tom Baker {code}", "1"):
        await h.say(OPENID, reply)
    h.fake.voices["slow"] = b"#!AMR\n" + bytes([0x04] + [0] * 12) * 100
    h.fake.media_delay = 0.5
    assert (await h.post(h.cb.voice(OPENID, "slow"))).text == "success"
    text = "Right after that, I wrote a short text answer for the second question, long enough to count."
    assert (await h.post(h.cb.text(OPENID, text))).text == "success"
    await h.settle()
    with h.app.db.session() as session:
        answers = session.exec(
            select(Answer.position, Answer.kind)
            .where(col(Answer.practice).is_(False))
            .order_by(col(Answer.id))
        ).all()
    assert answers == [(0, "voice"), (1, "text")]


async def test_invite_on_the_console_of_a_wechat_only_company_gets_the_scene_qr(
    tmp_path: Path, fake: FakeWeChat
) -> None:
    import asyncio

    from tests.harness import Chat, RecordingMessenger

    settings = wechat_settings(tmp_path, fake)
    settings.roles.admins = ["console:admin"]
    settings.roles.hr_managers = ["console:hr"]
    app = build_app(settings, clock=FakeClock(dt.datetime.now(dt.UTC)))
    rt = FakeRuntime(app)
    await start_wechat(rt)
    messenger = RecordingMessenger()
    app.channels["console"] = messenger
    chat = Chat(app, messenger, run_jobs=True)
    await asyncio.to_thread(chat.create_job)
    replies = await asyncio.to_thread(chat.send, "hr", "/invite sales Wang Fang")
    # Telegram is off: no t.me link and no QR code of one; the scene QR code arrives on
    # the console too (the console command is for testing there)
    assert "微信扫码" in replies[0].text and "t.me" not in replies[0].text
    files = [r for r in replies if r.kind == "file"]
    assert [(f.filename, f.text) for f in files] == [("wechat-invitation-1.png", "")]
    assert files[0].file_data is not None and files[0].file_data.startswith(b"\x89PNG")
    (token,) = link_tokens(replies[0].text)  # 控制台测试：/start TOKEN
    assert fake.of("qrcode/create")[0].json["action_info"]["scene"]["scene_str"] == token
    with app.db.session() as session:
        assert session.exec(select(Invitation.token_hash)).one() == token_hash(token)
    # the QR job carried the token encrypted, and forgot it once the QR code was sent
    assert token not in database_text(app)
    for closer in rt.closers:
        await closer()
