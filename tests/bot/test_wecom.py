"""WeCom for HR: robot progress posts, decision cards to the job's HR users, card clicks
back through the encrypted callback, and the card updated for every recipient."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlmodel import func, select
from wechatpy.enterprise.crypto import PrpCrypto

from bot.wecom import card_body, hr_recipients, robot_url, upload_url
from dialogs.kernel.access import Access
from dialogs.kernel.context import Ctx
from dialogs.kernel.events import ButtonPressed
from dialogs.kernel.feature import ButtonEntry
from dialogs.kernel.intents import Button, Intent, Send, SendFile
from dialogs.kernel.notify import group_tag
from dialogs.kernel.outbox import write_intents
from storage.models import GroupBinding, InboxEvent, KeyValue, OutboxMessage, Staff
from tests.fakes.wechat_api import (
    CORP_ID,
    WORK_AES_KEY,
    WORK_TOKEN,
    FakeWeChat,
    Harness,
    invite,
    make_harness,
    seed_job,
)

DECIDE = [
    [
        Button(label="通过", data="dec:5:a"),
        Button(label="下一轮", data="dec:5:n"),
        Button(label="拒绝", data="dec:5:r"),
    ]
]


@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    server = FakeWeChat().start()
    yield server
    server.stop()


@pytest.fixture
async def h(tmp_path: Path, fake: FakeWeChat, db_url: str) -> AsyncIterator[Harness]:
    """On SQLite, and on PostgreSQL too when TEST_DATABASE_URL is set (tests/conftest.py)."""
    harness = await make_harness(tmp_path, fake, db_url=db_url)
    job_id = seed_job(harness.app)
    other_job = seed_job(harness.app, code="driver-2026")
    with harness.app.db.transaction() as session:
        session.add(GroupBinding(platform="wecom", chat_id="robot", job_id=job_id))
        session.add(Staff(platform="wecom", user_id="hr_wang", role="hr_manager", job_id=job_id))
        session.add(Staff(platform="wecom", user_id="viewer_zhao", role="hr_viewer", job_id=job_id))
        session.add(
            Staff(platform="wecom", user_id="other_job_hr", role="hr_manager", job_id=other_job)
        )
    yield harness
    await harness.tasks.drain()
    await harness.http.aclose()
    harness.app.db.engine.dispose()


@pytest.fixture
def presses(monkeypatch: pytest.MonkeyPatch, h: Harness) -> list[ButtonPressed]:
    """A stand-in decision handler: records the press, edits the card, answers the presser."""
    seen: list[ButtonPressed] = []

    def decide(ctx: Ctx) -> None:
        event = ctx.event
        assert isinstance(event, ButtonPressed)
        seen.append(event)
        _, candidate, outcome = event.data.split(":")
        word = {"a": "approved", "n": "next round", "r": "rejected"}[outcome]
        ctx.edit(
            event.platform,
            event.chat_id,
            f"decide:{candidate}",
            f"Candidate #{candidate}: {word}\nby {event.user_id}",
        )
        ctx.answer_button(f"Recorded: {word}")

    # Records the click as the adapter delivered it (no roles involved: "self" scope).
    monkeypatch.setitem(h.app.registry.buttons, "dec", ButtonEntry(Access("view", "self"), decide))
    return seen


def _queue(h: Harness, *intents: Intent) -> None:
    with h.app.db.transaction() as session:
        write_intents(session, list(intents), source_event=None, now=h.app.services.clock.now())


async def test_decision_card_goes_to_the_jobs_hr_users_and_a_click_updates_it_for_all(
    h: Harness, presses: list[ButtonPressed]
) -> None:
    _queue(
        h,
        Send(
            platform="wecom",
            chat_id="robot",
            text="Candidate #5 Tom Baker\nScore 82/100, rank 1 of 3",
            buttons=DECIDE,
            ref="decide:5",
        ),
    )
    await h.settle()
    sent = h.fake.of("message/send")
    assert len(sent) == 1
    message = sent[0].json
    assert message["msgtype"] == "template_card"
    assert (
        message["touser"] == "hr_li|hr_wang"
    )  # config hr_manager + the job's hr_manager; not the viewer
    assert message["agentid"] == 1000002
    card = message["template_card"]
    assert card["card_type"] == "button_interaction"
    assert card["main_title"]["title"] == "Candidate #5 Tom Baker"
    assert [b["key"] for b in card["button_list"]] == ["dec:5:a", "dec:5:n", "dec:5:r"]
    task_id = card["task_id"]

    code = h.fake.issue_response_code()
    click = h.cb.card_click("hr_wang", task_id, "dec:5:a", code)
    for _ in range(3):  # WeCom retries too
        response = await h.post_work(click)
        assert response.status_code == 200
        assert response.text == ""
    await h.settle()

    assert len(presses) == 1
    event = presses[0]
    assert (event.platform, event.user_id, event.chat_id, event.message_id) == (
        "wecom",
        "hr_wang",
        "robot",
        task_id,
    )
    assert event.is_group
    updates = h.fake.of("message/update_template_card")
    assert len(updates) == 1
    update = updates[0].json
    assert update["userids"] == ["hr_li", "hr_wang"]  # every recipient sees the decision
    assert update["response_code"] == code
    assert update["template_card"]["main_title"]["title"] == "Candidate #5: approved"
    assert update["template_card"]["replace_text"] == "Candidate…"
    presser = [c.json for c in h.fake.of("message/send") if c.json.get("msgtype") == "text"]
    assert presser == [
        {
            "touser": "hr_wang",
            "toparty": "",
            "totag": "",
            "agentid": 1000002,
            "msgtype": "text",
            "text": {"content": "Recorded: approved"},
            "safe": 0,
        }
    ]
    with h.app.db.session() as session:
        statuses = session.exec(select(OutboxMessage.status)).all()
    assert set(statuses) == {"sent"}


async def test_card_update_without_a_click_code_uses_the_send_code(h: Harness) -> None:
    _queue(
        h,
        Send(
            platform="wecom", chat_id="robot", text="Candidate #5", buttons=DECIDE, ref="decide:5"
        ),
    )
    await h.settle()
    send_code = h.fake.of("message/send")[0]
    task_id = send_code.json["template_card"]["task_id"]
    from dialogs.kernel.intents import Edit

    _queue(
        h,
        Edit(
            platform="wecom",
            chat_id="robot",
            ref="decide:5",
            text="Candidate #5: rejected by admin",
        ),
    )
    await h.settle()
    updates = h.fake.of("message/update_template_card")
    assert len(updates) == 1
    assert updates[0].json["response_code"].startswith("send-code-")
    record = h.wecom.cards.load(task_id)
    assert record is not None
    assert record["codes"] == []  # spent


async def test_progress_posts_go_through_the_group_robot(h: Harness) -> None:
    _queue(
        h,
        Send(
            platform="wecom",
            chat_id="robot",
            text="▶️ Candidate #5 Tom Baker started the interview.",
        ),
    )
    await h.settle()
    posts = h.fake.of("webhook/send")
    assert [p.json for p in posts] == [
        {"msgtype": "text", "text": {"content": "▶️ Candidate #5 Tom Baker started the interview."}}
    ]
    assert posts[0].query == {"key": "hr-robot"}
    assert h.fake.of("message/send") == []


async def test_a_busy_job_reaches_the_robot_as_merged_results_and_periodic_digests(
    h: Harness,
) -> None:
    """The robot can only post, 20 a minute: results that waited together share a post, and
    progress arrives as digest posts (no live status to edit)."""
    h.app.settings.groups.per_minute["wecom"] = 20  # the robot's real limit
    h.app.settings.groups.window_seconds = 15
    with h.app.db.transaction() as session:
        binding = session.exec(select(GroupBinding).where(GroupBinding.chat_id == "robot")).one()
        job_id = binding.job_id
    progress = [
        Send(
            platform="wecom",
            chat_id="robot",
            text=f"📝 Candidate #{n} answered question 1/3 (text).",
            post=group_tag(job_id, "hr.answered", candidate_id=n),
        )
        for n in range(1, 61)
    ]
    results = [
        Send(
            platform="wecom",
            chat_id="robot",
            text=f"🏁 Candidate #{n}: 7{n}/100",
            post=group_tag(job_id, "hiring.summary", candidate_id=n, score=70.0 + n),
        )
        for n in range(1, 9)
    ]
    _queue(h, *progress, *results)
    await h.settle()
    posts = [p.json["text"]["content"] for p in h.fake.of("webhook/send")]
    assert len(posts) <= 5  # a quarter of the minute's 20 in the first 15 s
    assert "🏁 Candidate #1: 71/100" in posts[0] and "🏁 Candidate #8" in posts[-1]
    assert not any("answered question" in p for p in posts)  # 60 at once: digest instead
    h.app.services.clock.advance(seconds=121)  # type: ignore[attr-defined]
    await h.settle()
    digest = h.fake.of("webhook/send")[-1].json["text"]["content"]
    assert "📝 作答 60" in digest and "#8 —— 78.0/100" in digest  # the group speaks Chinese
    assert h.fake.of("message/send") == []


async def test_files_to_the_robot_are_uploaded_then_posted(h: Harness, tmp_path: Path) -> None:
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.7 fake report")
    _queue(
        h,
        SendFile(
            platform="wecom",
            chat_id="robot",
            path=str(report),
            filename="report.pdf",
            mime_type="application/pdf",
            caption="Report #5",
        ),
    )
    await h.settle()
    assert [c.path for c in h.fake.calls if c.path.startswith("webhook/")] == [
        "webhook/send",
        "webhook/upload_media",
        "webhook/send",
    ]
    assert h.fake.of("webhook/send")[1].json["msgtype"] == "file"


async def test_staff_command_in_the_wecom_app_is_answered_privately(h: Harness) -> None:
    xml = h.cb.xml(
        {
            "ToUserName": CORP_ID,
            "FromUserName": "hr_li",
            "CreateTime": int(h.cb.now),
            "MsgType": "text",
            "Content": "/progress sales-2026",
            "MsgId": 99887766,
            "AgentID": 1000002,
        }
    )
    assert (await h.post_work(xml)).status_code == 200
    await h.settle()
    with h.app.db.session() as session:
        assert session.exec(select(InboxEvent.event_id)).all() == ["wecom:msg:99887766"]
    replies = h.fake.of("message/send")
    assert len(replies) == 1
    assert replies[0].json["touser"] == "hr_li"
    assert "sales-2026" in replies[0].json["text"]["content"]


async def test_wecom_url_verification_and_forgeries(h: Harness) -> None:
    timestamp, nonce = str(int(h.cb.now)), "12345"
    echostr = (
        PrpCrypto(base64.b64decode(WORK_AES_KEY + "=")).encrypt("echo-back-4711", CORP_ID).decode()
    )
    signature = hashlib.sha1(
        "".join(sorted([WORK_TOKEN, timestamp, nonce, echostr])).encode()
    ).hexdigest()
    params = {
        "msg_signature": signature,
        "timestamp": timestamp,
        "nonce": nonce,
        "echostr": echostr,
    }
    ok = await h.http.get("/wecom/callback", params=params)
    assert ok.status_code == 200
    assert ok.text == "echo-back-4711"
    assert (
        await h.http.get("/wecom/callback", params={**params, "msg_signature": "0" * 40})
    ).status_code == 403

    params2, body = h.cb.work_request(h.cb.card_click("hr_wang", "t1", "dec:5:a", "c"))
    forged = await h.http.post(
        "/wecom/callback", params={**params2, "msg_signature": "a" * 40}, content=body
    )
    assert forged.status_code == 403
    with h.app.db.session() as session:
        assert session.exec(select(func.count()).select_from(InboxEvent)).one() == 0
        assert (
            session.exec(select(func.count()).select_from(KeyValue)).one() <= 2
        )  # access tokens only


def test_recipients_and_urls(h: Harness) -> None:
    assert hr_recipients(h.app.db, h.app.settings, "robot") == ["hr_li", "hr_wang"]
    assert hr_recipients(h.app.db, h.app.settings, "hr_zhou") == ["hr_zhou"]
    assert robot_url(h.app.settings, "robot") == h.fake.robot_url
    assert robot_url(h.app.settings, "robot:other key").endswith("webhook/send?key=other%20key")  # type: ignore[union-attr]
    assert (
        upload_url("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K")
        == "https://qyapi.weixin.qq.com/cgi-bin/webhook/upload_media?key=K&type=file"
    )
    card = card_body(
        "Title line that is much longer than thirty-six characters in total\nbody", DECIDE, "t1"
    )
    assert len(card["main_title"]["title"]) == 36
    assert card["sub_title_text"] == "body"


def test_cli_binds_a_job_to_the_robot_and_makes_a_qr_code(
    tmp_path: Path,
    fake: FakeWeChat,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from main import main

    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[app]
data_dir = "{tmp_path / "data"}"
[database]
url = "sqlite:///{tmp_path / "cli.sqlite3"}"
[security]
key_file = "{tmp_path / "keys" / "data.key"}"
[wechat]
app_id = "wx2c2769f8efd9abc2"
api_base_url = "{fake.base_url}"
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("WECHAT_APP_SECRET", "oa-app-secret-value")
    assert main(["--config", str(config), "wechat", "bind-robot", "no-such-job"]) == 1
    from app.wiring import build_app
    from core.settings import load_settings

    app = build_app(load_settings(config))
    job_id = seed_job(app, code="sales-2026")
    assert main(["--config", str(config), "wechat", "bind-robot", "sales-2026"]) == 0
    # Again, with another language: still one binding (idempotent), language updated.
    assert (
        main(["--config", str(config), "wechat", "bind-robot", "sales-2026", "--lang", "en"]) == 0
    )
    with app.db.session() as session:
        rows = session.exec(
            select(GroupBinding.platform, GroupBinding.chat_id, GroupBinding.language)
        ).all()
    assert rows == [("wecom", "robot", "en")]
    out = tmp_path / "qr.png"
    # Only a token an open invitation has gets a QR code.
    assert main(["--config", str(config), "wechat", "qr", "tok-123", "--out", str(out)]) == 1
    assert not out.exists()
    _, token, _ = invite(app, job_id, "Tom Baker")
    # "--": a token may start with "-" (URL-safe base64), which argparse reads as an option
    assert main(["--config", str(config), "wechat", "qr", "--out", str(out), "--", token]) == 0
    assert out.read_bytes().startswith(b"\x89PNG")
    assert "sales-2026" in capsys.readouterr().out
