"""Invitation e-mails against a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import select

from app.wiring import App, build_app
from core.clock import FakeClock
from dialogs.invitations.bulk_invite import MAIL_JOB
from dialogs.scheduling import flow as scheduling
from storage.crypto import token_hash
from storage.models import BackgroundJob, Invitation
from storage.schedule_models import MailLog
from tests.conftest import TELEGRAM_ON, make_settings
from tests.dialogs.token_helpers import database_text, link_tokens
from tests.fakes.wechat_api import OA_APP_ID, OA_TOKEN, FakeWeChat
from tests.harness import Chat, RecordingMessenger

REFUSED = "refuse@example.com"
# An e-mail points to a channel that reaches candidates: Telegram here.
TELEGRAM = TELEGRAM_ON


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps every message and refuses one address."""

    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address == REFUSED:
            return "550 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.recipients.extend(envelope.rcpt_tos)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def mail_app(tmp_path: Path, db_url: str, smtp: tuple[Inbox, int]) -> Iterator[Chat]:
    settings = make_settings(
        tmp_path,
        db_url,
        smtp={"enabled": True, "host": "127.0.0.1", "port": smtp[1], "sender": "hr@acme.example"},
        **TELEGRAM,
    )
    app: App = build_app(settings, clock=FakeClock())
    messenger = RecordingMessenger()
    app.channels["console"] = messenger
    scheduling.install(app)
    chat = Chat(app, messenger, run_jobs=True)
    chat.languages.update({"admin": "en", "hr": "en"})
    chat.create_job()
    yield chat
    app.db.engine.dispose()


def _import(chat: Chat, csv_text: str) -> None:
    import uuid

    from dialogs.kernel.events import FileReceived, MediaRef

    data = csv_text.encode()
    path, digest = chat.app.db.media.put(data, ".csv")
    chat.deliver(
        FileReceived(
            event_id=f"console:{uuid.uuid4().hex}",
            platform="console",
            chat_id="hr",
            user_id="hr",
            language_hint="en",
            media=MediaRef(path=path, sha256=digest, file_name="people.csv", size_bytes=len(data)),
            caption="/importcandidates sales",
        )
    )


def test_each_invitation_is_mailed_once(mail_app: Chat, smtp: tuple[Inbox, int]) -> None:
    inbox, _ = smtp
    _import(
        mail_app,
        "name,email,phone\n李娜,lina@example.cn,\nTom Baker,tom@example.com,\nNo Mail,,13800138000\n",
    )
    assert sorted(inbox.recipients) == ["lina@example.cn", "tom@example.com"]
    with mail_app.app.db.session() as session:
        invitations = {i.candidate_id: i for i in session.exec(select(Invitation)).all()}
        logs = session.exec(select(MailLog)).all()
    assert {log.status for log in logs} == {"sent"}
    message = next(m for m in inbox.messages if "lina@example.cn" in str(m["To"]))
    assert str(message["From"]) == "hr@acme.example"
    assert "面试邀请：销售代表" in str(message["Subject"]) and "Sales rep" in str(
        message["Subject"]
    )
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    content = body.get_content()
    inv = invitations[1]
    (token,) = set(link_tokens(content))
    assert token_hash(token) == inv.token_hash
    assert inv.code in content
    # the mail job carried the token encrypted and forgot it once sent
    assert token not in database_text(mail_app.app)
    assert "李娜，您好" in content and "Hello 李娜" in content
    attachments = [part for part in message.iter_attachments()]
    assert [a.get_content_type() for a in attachments] == ["image/png"]
    assert attachments[0].get_content().startswith(b"\x89PNG")

    # a retried job (same invitation) sends nothing more
    with mail_app.app.db.transaction() as session:
        job = session.exec(select(BackgroundJob).where(BackgroundJob.kind == MAIL_JOB)).first()
        assert job is not None
        job.status = "pending"
        session.add(job)
    mail_app.flush()
    assert len(inbox.messages) == 2


def test_a_refused_address_is_recorded_not_retried(mail_app: Chat, smtp: tuple[Inbox, int]) -> None:
    inbox, _ = smtp
    _import(mail_app, f"name,email\nRay Fuse,{REFUSED}\nOk Person,ok@example.com\n")
    assert inbox.recipients == ["ok@example.com"]
    with mail_app.app.db.session() as session:
        logs = {log.status: log for log in session.exec(select(MailLog)).all()}
        jobs = session.exec(select(BackgroundJob).where(BackgroundJob.kind == MAIL_JOB)).all()
    assert set(logs) == {"failed", "sent"}
    assert "recipient refused" in (logs["failed"].error or "")
    assert {j.status for j in jobs} == {"done"}


def test_an_unreachable_server_is_retried_later(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        None,
        smtp={"enabled": True, "host": "127.0.0.1", "port": _free_port()},
        **TELEGRAM,
    )
    app = build_app(settings, clock=FakeClock())
    messenger = RecordingMessenger()
    app.channels["console"] = messenger
    scheduling.install(app)
    chat = Chat(app, messenger, run_jobs=True)
    chat.languages.update({"admin": "en", "hr": "en"})
    chat.create_job()
    try:
        _import(chat, "name,email\nTom Baker,tom@example.com\n")
        with app.db.session() as session:
            job = session.exec(select(BackgroundJob).where(BackgroundJob.kind == MAIL_JOB)).one()
            log = session.exec(select(MailLog)).one()
        assert (
            job.status == "pending" and job.attempts == 1 and "MailError: SMTP" in (job.error or "")
        )
        assert (log.status, log.attempts) == ("pending", 1)
    finally:
        app.db.engine.dispose()


def test_mail_is_off_unless_enabled(chat: Chat) -> None:
    scheduling.install(chat.app)
    chat.run_jobs = True
    chat.create_job()
    _import(chat, "name,email\nTom Baker,tom@example.com\n")
    with chat.app.db.session() as session:
        assert session.exec(select(BackgroundJob).where(BackgroundJob.kind == MAIL_JOB)).all() == []


def test_a_link_reissued_before_the_mail_goes_out_is_not_mailed(
    mail_app: Chat, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    mailing = mail_app.app.handlers.pop(MAIL_JOB)  # the mail queue is held up meanwhile
    _import(mail_app, "name,email\nTom Baker,tom@example.com\n")
    reply = mail_app.send("hr", "/invitesheet sales")[0].text
    assert "1 invitation(s) not opened yet" in reply and "no longer work" in reply
    mail_app.app.handlers[MAIL_JOB] = mailing
    mail_app.flush()
    assert inbox.messages == []  # its link died with the reprint: the sheet has the new one
    with mail_app.app.db.session() as session:
        log = session.exec(select(MailLog)).one()
        job = session.exec(select(BackgroundJob).where(BackgroundJob.kind == MAIL_JOB)).one()
    assert (log.status, log.error) == ("skipped", "link re-issued")
    assert job.status == "done" and job.payload["sealed_token"] == ""


# ------------------------------------------------------------------ per channel
def _mail_chat(tmp_path: Path, port: int, **channels: dict[str, object]) -> Chat:
    settings = make_settings(
        tmp_path,
        None,
        smtp={"enabled": True, "host": "127.0.0.1", "port": port, "sender": "hr@acme.example"},
        **channels,
    )
    app = build_app(settings, clock=FakeClock())
    messenger = RecordingMessenger()
    app.channels["console"] = messenger
    scheduling.install(app)
    chat = Chat(app, messenger, run_jobs=True)
    chat.languages.update({"admin": "en", "hr": "en"})
    chat.create_job()
    return chat


def _wechat(fake: FakeWeChat) -> dict[str, object]:
    return {
        "enabled": True,
        "app_id": OA_APP_ID,
        "app_secret": "oa-app-secret-value",
        "token": OA_TOKEN,
        "api_base_url": fake.base_url,
    }


def _only_mail(inbox: Inbox) -> tuple[str, list[tuple[str | None, bytes]]]:
    (message,) = inbox.messages
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    files = [(a.get_filename(), a.get_content()) for a in message.iter_attachments()]
    return body.get_content(), files


def test_a_wechat_only_company_mails_the_scene_qr_code_and_no_telegram_link(
    tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    wechat = FakeWeChat().start()
    chat = _mail_chat(tmp_path, port, wechat=_wechat(wechat))
    try:
        _import(chat, "name,email\n李娜,lina@example.cn\n")
        content, files = _only_mail(inbox)
        assert "用微信扫一扫附件中的二维码" in content
        assert "Scan the attached QR code with WeChat" in content
        assert "t.me" not in content and "start=" not in content and "Telegram" not in content
        assert [name for name, _ in files] == ["wechat-qr.png"]
        # one scene QR code for the PDF sheet, one for the e-mail: the same invitation
        (scene,) = {c.json["action_info"]["scene"]["scene_str"] for c in wechat.of("qrcode/create")}
        with chat.app.db.session() as session:
            assert session.exec(select(Invitation.token_hash)).one() == token_hash(scene)
            assert session.exec(select(MailLog.status)).one() == "sent"
    finally:
        chat.app.db.engine.dispose()
        wechat.stop()


def test_with_both_channels_the_mail_names_each_and_attaches_both_qr_codes(
    tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    wechat = FakeWeChat().start()
    chat = _mail_chat(tmp_path, port, wechat=_wechat(wechat), **TELEGRAM)
    try:
        _import(chat, "name,email\nTom Baker,tom@example.com\n")
        content, files = _only_mail(inbox)
        assert "Scan the attached WeChat QR code (wechat-qr.png) with WeChat" in content
        (token,) = set(link_tokens(content))
        assert (
            f"open this link in Telegram (or scan the attached invitation-qr.png): https://t.me/InterviewerTestBot?start={token}"
            in content
        )
        assert [name for name, _ in files] == ["wechat-qr.png", "invitation-qr.png"]
        assert all(data.startswith(b"\x89PNG") for _, data in files)
        assert {
            c.json["action_info"]["scene"]["scene_str"] for c in wechat.of("qrcode/create")
        } == {token}
    finally:
        chat.app.db.engine.dispose()
        wechat.stop()


def test_no_mail_without_a_channel_that_reaches_candidates(
    tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    chat = _mail_chat(tmp_path, port)  # only the console: a link to nowhere is not mailed
    try:
        _import(chat, "name,email\nTom Baker,tom@example.com\n")
        assert inbox.messages == []
        with chat.app.db.session() as session:
            assert (
                session.exec(select(BackgroundJob).where(BackgroundJob.kind == MAIL_JOB)).all()
                == []
            )
    finally:
        chat.app.db.engine.dispose()
