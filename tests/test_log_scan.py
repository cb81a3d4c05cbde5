"""The logs of a full demo run hold no secret and no personal field.

Logging is set up the way an operator runs the bot (``core.logging.setup_logging`` with
a log file) at DEBUG, the level that logs the most. Then the whole demo runs (job, HR
group, three candidates with text and voice answers, transcription, AI scoring, reports,
ranking, decisions) with fast fake models, followed by a data-protection round with
``DATA_KEY`` set: a candidate with phone, e-mail and ID number answers, asks for their
data, deletes it, and the data key is rotated. Every line of the log file is then
searched for the secrets and the personal fields.

A second round runs the chat channels the same way, at DEBUG: the real runner with
python-telegram-bot against the fake Bot API (polling, sending, buttons), and the WeChat
callbacks with wechatpy against the fake WeChat API. Library loggers (telegram, httpx,
uvicorn, wechatpy ...) log request bodies and URLs at DEBUG; none of a candidate's name,
phone, ID number, address, identity code or invitation token, nor a channel secret, may
reach a line. The last tests look at records that do not come from a plain ``log.info``:
tracebacks, a library's own handler, a library an operator turned up to DEBUG.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from app.wiring import build_app
from bot.demo import CANDIDATES, run_demo
from core.logging import LIBRARY_LEVELS, PROJECT_PACKAGES, setup_logging
from core.settings import Settings
from dialogs.interview.pipeline import Pipeline
from scoring.evaluator import FakeBackend, StarEvaluator
from storage import rotate
from storage.models import Candidate
from testkit.telegram_api import Conversation, FakeBotAPI, create_job, open_interview
from tests.bot.test_telegram import ADMIN, CANDIDATE, GROUP, HR, start_bot, telegram_settings
from tests.conftest import make_settings
from tests.fakes import wechat_api
from tests.fakes.speech import ScriptedTranscriber
from tests.harness import Chat, RecordingMessenger

BOT_TOKEN = "987654321:AAFakeTokenForTheLogScan_abcdefghijkl"
API_KEY = "sk-logscan-0123456789abcdefABCDEF"
PHONE = "13987654321"
EMAIL = "wu.lan@example.org"
ID_NUMBER = "11010519491231002X"
SECRET_ANSWER = "I negotiated the Hangzhou warehouse lease down by 18 percent"


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    factory = logging.getLogRecordFactory()
    levels = {name: logging.getLogger(name).level for name in [*LIBRARY_LEVELS, *PROJECT_PACKAGES]}
    path = tmp_path / "bot.log"
    setup_logging("DEBUG", str(path), libraries="")  # no operator LOG_LIBRARIES here
    yield path
    for handler in root.handlers:
        handler.close()
    root.handlers[:], _ = saved
    root.setLevel(saved[1])
    logging.setLogRecordFactory(factory)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def log_lines(path: Path) -> list[str]:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return path.read_text(encoding="utf-8").splitlines()


def leaks_in(lines: list[str], forbidden: dict[str, str]) -> list[str]:
    return [
        f"{what} in line {i + 1}: {line[:160]}"
        for i, line in enumerate(lines)
        for what, value in forbidden.items()
        if value in line
    ]


def fake_pipeline() -> Pipeline:
    transcriber = ScriptedTranscriber()
    evaluator = StarEvaluator(FakeBackend())
    return Pipeline(transcriber=lambda: transcriber, evaluator=lambda: evaluator)


def privacy_round(settings: Settings) -> None:
    """A candidate with every personal field, /mydata, /deleteme, then a key rotation."""
    app = build_app(settings, pipeline=fake_pipeline())
    messenger = RecordingMessenger()
    app.channels["console"] = messenger
    chat = Chat(app, messenger, run_jobs=True)
    chat.languages.update({"admin": "en", "hr": "en"})
    chat.create_job()
    chat.send("admin", "/bind sales", group="hrg")
    chat.send("hr", f"/invite sales Wu Lan {PHONE}")
    chat.send("hr", f"/invite sales Zhao Ming {EMAIL}")
    with app.db.transaction() as session:
        for cand in session.exec(select(Candidate)).all():
            cand.id_number = ID_NUMBER
            session.add(cand)
    token, code = chat.invite("Qian Yu")
    chat.start_interview("qian", "Qian Yu", token, code)
    chat.send("qian", SECRET_ANSWER)
    chat.media("qian", b"OggS not really audio", duration=4)
    chat.send("qian", "/mydata")
    [yes, _no] = chat.send("qian", "/deleteme")[-1].button_data
    chat.send("qian", f"/press {yes}")
    app.db.engine.dispose()


def test_no_secret_or_personal_field_in_any_log_line(tmp_path: Path, log_file: Path) -> None:
    data_key = base64.b64encode(os.urandom(32)).decode()
    new_key = base64.b64encode(os.urandom(32)).decode()
    base = make_settings(
        tmp_path,
        app={"log_level": "DEBUG"},
        telegram={"token": BOT_TOKEN},
        llm={"api_key": API_KEY},
    )
    assert asyncio.run(run_demo(base, tmp_path / "demo", pipeline=fake_pipeline())) == 0

    keyed = make_settings(
        tmp_path / "keyed",
        security={"data_key": data_key},
        telegram={"token": BOT_TOKEN},
        llm={"api_key": API_KEY},
    )
    privacy_round(keyed)
    rotated = make_settings(
        tmp_path / "keyed", security={"data_key": new_key, "data_key_old": data_key}
    )
    build_app(rotated).db.engine.dispose()  # registers the new secrets like a restart
    rotate.rotate(rotated)

    for handler in logging.getLogger().handlers:
        handler.flush()
    lines = log_file.read_text(encoding="utf-8").splitlines()
    # (Library chatter such as fontTools' DEBUG lines no longer fills the file.)
    assert len(lines) > 10, "the demo should have logged its work"
    assert any("app.wiring" in line for line in lines)
    assert any("retention" in line or "rate" in line or "keys rotate" in line for line in lines)
    forbidden = {
        "bot token": BOT_TOKEN,
        "bot token secret part": BOT_TOKEN.split(":", 1)[1],
        "DATA_KEY": data_key,
        "new DATA_KEY": new_key,
        "API key": API_KEY,
        "phone": PHONE,
        "e-mail": EMAIL,
        "ID number": ID_NUMBER,
        "answer": SECRET_ANSWER,
        "candidate name": "Qian Yu",
        "invited name": "Wu Lan",
        "invited name 2": "Zhao Ming",
    }
    for script in CANDIDATES:
        forbidden[f"demo candidate {script.user}"] = script.name
        for n, answer in enumerate(script.answers):
            if answer != "VOICE":
                forbidden[f"demo answer {script.user} {n}"] = answer[:30]
    leaks = [
        f"{what} in line {i + 1}"
        for i, line in enumerate(lines)
        for what, value in forbidden.items()
        if value in line
    ]
    # One-time link tokens (signing pages, invitation deep links) are credentials too.
    links = re.compile(r"/sign/[A-Za-z0-9_-]{16,}|[?&]start=[A-Za-z0-9_-]{16,}")
    leaks += [f"link token in line {i + 1}" for i, line in enumerate(lines) if links.search(line)]
    assert not leaks, leaks[:10]


# ------------------------------------------------------------------ the chat channels
TG_NAME = "Gao Shulan"
WC_NAME = "Pan Yuhang"
ADDRESS = "Room 1502, 88 Wulumuqi Middle Road"
PHONE_2 = "13612345678"
ID_NUMBER_2 = "310104198807152437"


def _code_in(code: str, line: str) -> bool:
    return re.search(rf"(?<!\d){code}(?!\d)", line) is not None


async def telegram_round(tmp: Path) -> dict[str, str]:
    """Job, HR group, an invitation with a phone, an interview with personal answers."""
    fake = FakeBotAPI(token=BOT_TOKEN)
    await fake.start()
    fake.group(GROUP, "HR sales", admins={HR}, owner=ADMIN)
    rt, stop, task = await start_bot(telegram_settings(tmp, fake, webhook_secret=None))
    try:
        admin, hr = Conversation(fake, fake.user(ADMIN)), Conversation(fake, fake.user(HR))
        await create_job(admin)
        group = Conversation(fake, fake.user(ADMIN), GROUP)
        await group.say(f"/bind@{fake.username} sales", expect="sales")
        reply = await hr.say(f"/invite sales {TG_NAME} {PHONE_2}", expect="start=")
        token = re.search(r"start=(\S+)", reply.text)
        code = re.search(r"\b(\d{6})\b", reply.text.split("start=", 1)[1])
        assert token and code, reply.text
        candidate = Conversation(fake, fake.user(CANDIDATE))
        await open_interview(candidate, TG_NAME, token.group(1), code.group(1))
        await candidate.say(
            f"I moved to {ADDRESS}; my ID is {ID_NUMBER_2} and my phone {PHONE_2}.",
            expect="Answer 1 received",
        )
        # The channel was live: the group scheduler released the progress within a tick.
        await fake.wait_for(
            lambda: any(TG_NAME in m.text for m in fake.messages_to(GROUP)),
            what="the candidate's progress in the HR group",
        )
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0
        rt.app.db.engine.dispose()
        await fake.stop()
    return {"Telegram invitation token": token.group(1), "Telegram code": code.group(1)}


async def wechat_round(tmp: Path) -> dict[str, str]:
    """A WeChat candidate scans the invitation, agrees, identifies and answers."""
    fake = wechat_api.FakeWeChat().start()
    h = await wechat_api.make_harness(tmp, fake)
    try:
        job_id = wechat_api.seed_job(h.app)
        _, token, code = wechat_api.invite(h.app, job_id, WC_NAME)
        openid = "oLogScan000000000000000000001"
        await h.post(h.cb.event(openid, "subscribe", f"qrscene_{token}"))
        await h.settle()
        for text in ("2", "1", "1", f"{WC_NAME} {code}", "1"):
            await h.say(openid, text)
        reply = await h.say(openid, f"I live at {ADDRESS}, ID {ID_NUMBER_2}, phone {PHONE_2}.")
        assert reply, "the WeChat channel should have answered"
    finally:
        await h.tasks.drain()
        await h.http.aclose()
        h.app.db.engine.dispose()
        fake.stop()
    return {"WeChat invitation token": token, "WeChat code": code}


async def test_telegram_and_wechat_leak_nothing_at_debug(tmp_path: Path, log_file: Path) -> None:
    secrets = await telegram_round(tmp_path / "telegram")
    secrets |= await wechat_round(tmp_path / "wechat")

    lines = log_lines(log_file)
    assert any(" telegram" in line or "bot.telegram" in line for line in lines), lines[:20]
    assert any("wechat" in line for line in lines)
    forbidden = {
        "bot token": BOT_TOKEN,
        "bot token secret part": BOT_TOKEN.split(":", 1)[1],
        "WeChat app secret": "oa-app-secret-value",
        "WeCom secret": "work-secret-value",
        "WeChat AES key": wechat_api.OA_AES_KEY,
        "Telegram candidate name": TG_NAME,
        "Telegram candidate given name": TG_NAME.split()[1],
        "WeChat candidate name": WC_NAME,
        "address": ADDRESS,
        "address street": "Wulumuqi",
        "phone": PHONE_2,
        "ID number": ID_NUMBER_2,
        "Telegram invitation token": secrets["Telegram invitation token"],
        "WeChat invitation token": secrets["WeChat invitation token"],
    }
    leaks = leaks_in(lines, forbidden)
    for what in ("Telegram code", "WeChat code"):
        leaks += [
            f"{what} in line {i + 1}" for i, ln in enumerate(lines) if _code_in(secrets[what], ln)
        ]
    assert not leaks, leaks[:10]


# ------------------------------------------------------------------ records of other kinds
def test_tracebacks_and_stacks_are_redacted(log_file: Path) -> None:
    log = logging.getLogger("bot.telegram")
    try:
        raise ValueError(f"send to {PHONE} failed: {BOT_TOKEN} /sign/{'A' * 24}")
    except ValueError:
        log.exception("delivery failed")
    logging.getLogger("uvicorn.error").error("Exception in ASGI application", exc_info=True)
    log.warning("where %s", ID_NUMBER, stack_info=True)
    lines = log_lines(log_file)
    text = "\n".join(lines)
    assert "ValueError: send to [phone] failed" in text  # the traceback is there ...
    assert not leaks_in(lines, {"phone": PHONE, "bot token": BOT_TOKEN, "ID": ID_NUMBER})
    assert "/sign/[token]" in text  # ... with its secrets masked


def test_a_library_s_own_handler_gets_redacted_records_too(log_file: Path) -> None:
    """uvicorn (log_config default) logs through its own handlers, not the root's."""
    import io

    stream = io.StringIO()
    own = logging.StreamHandler(stream)
    logger = logging.getLogger("uvicorn.error.logscan")
    logger.addHandler(own)
    logger.propagate = False
    try:
        logger.error("GET /sign/%s from %s", "B" * 24, PHONE)
    finally:
        logger.removeHandler(own)
        logger.propagate = True
    assert stream.getvalue() == "GET /sign/[token] from [phone]\n"


def test_library_debug_is_off_unless_asked_and_then_shows_shapes(
    tmp_path: Path, log_file: Path
) -> None:
    body = {"chat_id": 500, "text": f"Welcome {TG_NAME}, your code is 482913"}
    bot_log = logging.getLogger("telegram.Bot")
    bot_log.debug("Calling Bot API endpoint `%s` with parameters `%s`", "sendMessage", body)
    logging.getLogger("httpx").info("HTTP Request: POST %s", f"https://api/bot{BOT_TOKEN}/x")
    logging.getLogger("dialogs.kernel.engine").debug("the project's own DEBUG stays")
    lines = log_lines(log_file)
    assert not any("Calling Bot API" in line or "HTTP Request" in line for line in lines)
    assert any("the project's own DEBUG stays" in line for line in lines)

    for handler in logging.getLogger().handlers:
        handler.close()
    asked = tmp_path / "asked.log"
    setup_logging("DEBUG", str(asked), libraries="telegram")
    bot_log.debug("Calling Bot API endpoint `%s` with parameters `%s`", "sendMessage", body)
    lines = log_lines(asked)
    assert any(
        "Calling Bot API endpoint `sendMessage` with parameters `<mapping: chat_id, text>`" in line
        for line in lines
    ), lines
    assert not leaks_in(lines, {"name": TG_NAME, "code": "482913"})
