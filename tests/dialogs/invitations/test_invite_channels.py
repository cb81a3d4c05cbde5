"""Invitations list only what works for the channels enabled: a WeChat-only company never
sees a Telegram link, a Telegram-only one never a WeChat QR code, with both each way is
labelled, and with none the reply says so. HR works on the console here; the WeChat
scene QR codes come from the fake WeChat API through the real adapter."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from app.wiring import App, build_app
from core.clock import FakeClock
from core.settings import Settings
from dialogs.invitations.bulk_invite import SHEET_JOB
from dialogs.kernel.catalog import LANGUAGES, keys, t
from dialogs.kernel.channel import learn_telegram_username
from dialogs.kernel.events import FileReceived, MediaRef
from dialogs.scheduling import flow as scheduling
from storage.models import BackgroundJob, Invitation
from tests.conftest import make_settings
from tests.dialogs.token_helpers import link_tokens
from tests.fakes.wechat_api import OA_APP_ID, OA_TOKEN, FakeWeChat
from tests.harness import Chat, Delivered, RecordingMessenger

CSV = b"name,phone\nAlex Chen,13800138000\nFay Ho,13900139000\n"
PDF_TOOLS = pytest.mark.skipif(
    not (shutil.which("pdftotext") and shutil.which("pdfimages")), reason="needs poppler-utils"
)


@pytest.fixture
def wechat() -> Iterator[FakeWeChat]:
    server = FakeWeChat().start()
    yield server
    server.stop()


def settings_for(
    tmp: Path, db_url: str, *, telegram: bool = False, wechat: FakeWeChat | None = None
) -> Settings:
    overrides: dict[str, dict[str, object]] = {}
    if telegram:  # the bot's name as a getMe before this process stored it
        overrides["telegram"] = {"enabled": True, "token": "123456:TEST-token"}
        overrides["app"] = {"bot_username": "InterviewerTestBot"}
    if wechat is not None:
        overrides["wechat"] = {
            "enabled": True,
            "app_id": OA_APP_ID,
            "app_secret": "oa-app-secret-value",
            "token": OA_TOKEN,
            "api_base_url": wechat.base_url,
        }
    return make_settings(tmp, db_url, **overrides)


def hr_chat(settings: Settings) -> Chat:
    app: App = build_app(settings, clock=FakeClock())
    messenger = RecordingMessenger()
    app.channels["console"] = messenger
    scheduling.install(app)
    chat = Chat(app, messenger, run_jobs=True)
    chat.languages.update({"admin": "en", "hr": "en"})
    chat.create_job()
    return chat


def import_csv(chat: Chat) -> list[Delivered]:
    path, digest = chat.app.db.media.put(CSV, ".csv")
    return chat.deliver(
        FileReceived(
            event_id=f"console:{uuid.uuid4().hex}",
            platform="console",
            chat_id="hr",
            user_id="hr",
            language_hint="en",
            media=MediaRef(path=path, sha256=digest, file_name="p.csv", size_bytes=len(CSV)),
            caption="/importcandidates sales",
        )
    )


def pdf_of(replies: list[Delivered], tmp: Path) -> tuple[str, int]:
    """The text of the PDF sheet among the replies and how many images it holds."""
    (pdf,) = [d.file_data for d in replies if d.kind == "file"]
    assert pdf is not None
    path = tmp / "sheet.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True
    ).stdout.decode()
    listing = subprocess.run(
        ["pdfimages", "-list", str(path)], capture_output=True, check=True
    ).stdout.decode()
    images = sum(1 for line in listing.splitlines()[2:] if " image " in line)
    return text, images


def scenes(wechat: FakeWeChat) -> list[str]:
    return [c.json["action_info"]["scene"]["scene_str"] for c in wechat.of("qrcode/create")]


# ------------------------------------------------------------------ no channel
def test_console_only_says_no_channel_reaches_candidates(tmp_path: Path, db_url: str) -> None:
    chat = hr_chat(settings_for(tmp_path, db_url))
    try:
        reply = chat.send("hr", "/invite sales Alex Chen")
        assert [d.kind for d in reply] == ["send"]  # no QR code of anything
        text = reply[0].text
        assert "No channel that candidates can use is enabled" in text
        assert "/invitesheet sales gives it a link" in text
        assert "t.me" not in text and "Link:" not in text and "WeChat QR" not in text
        # the tester at the console can still play the candidate (make demo does)
        (token,) = link_tokens(text)
        code = text.split("Identity code: ")[1][:6]
        assert "Question 1 of" in chat.start_interview("alex", "Alex Chen", token, code)[-1].text
    finally:
        chat.app.db.engine.dispose()


# ------------------------------------------------------------------ Telegram only
def test_telegram_only_import_lists_links_and_no_wechat(tmp_path: Path, db_url: str) -> None:
    chat = hr_chat(settings_for(tmp_path, db_url, telegram=True))
    try:
        reply = chat.send("hr", "/invite sales Alex Chen")
        assert "Link: https://t.me/InterviewerTestBot?start=" in reply[0].text
        assert "WeChat" not in reply[0].text and "No channel" not in reply[0].text
        assert [(d.kind, d.text, d.filename) for d in reply[1:]] == [
            ("file", "", "invitation-1.png")
        ]
        summary = next(d.text for d in import_csv(chat) if "2 invited" in d.text)
        assert summary.count("(sales): Link: https://t.me/InterviewerTestBot?start=") == 2
        assert "WeChat" not in summary and "No channel" not in summary
        with chat.app.db.session() as session:
            kinds = {j.kind for j in session.exec(select(BackgroundJob)).all()}
        assert "wechat_invite_qr" not in kinds and SHEET_JOB in kinds
    finally:
        chat.app.db.engine.dispose()


def test_before_the_bot_ever_started_its_link_is_not_made_up(tmp_path: Path, db_url: str) -> None:
    settings = settings_for(tmp_path, db_url, telegram=True)
    settings.app.bot_username = None  # not configured, and no getMe stored yet
    chat = hr_chat(settings)
    try:
        reply = chat.send("hr", "/invite sales Alex Chen")
        assert "Telegram: no link yet" in reply[0].text and "t.me" not in reply[0].text
        assert [d.kind for d in reply] == ["send"]
        # the running bot learns it (getMe): from then on links name it
        learn_telegram_username(
            chat.app.db, chat.app.settings, chat.app.services.channels, "AcmeInterviewBot"
        )
        reply = chat.send("hr", "/invite sales Fay Ho")
        assert "Link: https://t.me/AcmeInterviewBot?start=" in reply[0].text
    finally:
        chat.app.db.engine.dispose()
    again = build_app(settings)  # a restart (or the console chat) knows it from the start
    try:
        assert again.services.channels.telegram_username == "AcmeInterviewBot"
    finally:
        again.db.engine.dispose()


# ------------------------------------------------------------------ WeChat only
@PDF_TOOLS
def test_wechat_only_import_and_sheet_carry_scene_qr_codes_and_no_telegram_link(
    tmp_path: Path, db_url: str, wechat: FakeWeChat
) -> None:
    chat = hr_chat(settings_for(tmp_path, db_url, wechat=wechat))
    try:
        replies = import_csv(chat)
        summary = next(d.text for d in replies if "2 invited" in d.text)
        assert summary.count("Scan with WeChat: QR code on the PDF") == 2
        assert "t.me" not in summary and "Link:" not in summary
        text, images = pdf_of(replies, tmp_path)
        assert images == 2  # one scene QR code each, no Telegram QR code
        assert "t.me" not in text and "start=" not in text
        assert text.count("Scan the QR code with WeChat and follow the account") == 2
        # the scene QR codes open these invitations (the console commands say which)
        assert sorted(scenes(wechat)) == sorted(set(link_tokens(summary)))
    finally:
        chat.app.db.engine.dispose()


# ------------------------------------------------------------------ both
@PDF_TOOLS
def test_both_channels_label_each_way_on_the_sheet(
    tmp_path: Path, db_url: str, wechat: FakeWeChat
) -> None:
    chat = hr_chat(settings_for(tmp_path, db_url, telegram=True, wechat=wechat))
    try:
        reply = chat.send("hr", "/invite sales Alex Chen")
        files = [(d.filename, d.text) for d in reply if d.kind == "file"]
        assert files == [
            ("invitation-1.png", "Telegram"),
            ("wechat-invitation-1.png", "Scan with WeChat"),
        ]
        assert "Scan with WeChat: the Official Account's QR code follows" in reply[0].text
        assert "Telegram: https://t.me/InterviewerTestBot?start=" in reply[0].text

        replies = chat.send("hr", "/invitesheet sales")  # a new link for Alex
        text, images = pdf_of(replies, tmp_path)
        assert images == 2  # the scene QR code and the Telegram one
        assert "Scan with WeChat" in text and "Telegram" in text
        (token,) = re.findall(r"Console test: /start (\S+)", text)
        flat = re.sub(r"\s+", "", text)  # the long link wraps in the text layout
        assert f"https://t.me/InterviewerTestBot?start={token}" in flat
        assert scenes(wechat)[-1] == token  # the sheet's scene QR code opens it too
        with chat.app.db.session() as session:
            assert session.exec(select(Invitation)).one().status == "pending"
    finally:
        chat.app.db.engine.dispose()


# ------------------------------------------------------------------ every text
def test_no_message_hard_codes_a_telegram_link() -> None:
    """Reminders and every other text name no channel's link: the ways come from the
    enabled channels (dialogs/invitations/channels.py)."""
    for lang in LANGUAGES:
        for key in keys(lang):
            assert "t.me/" not in t(lang, key).replace("{", "").replace("}", ""), key
