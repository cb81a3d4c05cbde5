"""The logs of a full demo run hold no secret and no personal field.

Logging is set up the way an operator runs the bot (``core.logging.setup_logging`` with
a log file) at DEBUG, the level that logs the most. Then the whole demo runs (job, HR
group, three candidates with text and voice answers, transcription, AI scoring, reports,
ranking, decisions) with fast fake models, followed by a data-protection round with
``DATA_KEY`` set: a candidate with phone, e-mail and ID number answers, asks for their
data, deletes it, and the data key is rotated. Every line of the log file is then
searched for the secrets and the personal fields.
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

from bot.demo import CANDIDATES, run_demo
from core.logging import setup_logging
from core.settings import Settings
from core.wiring import build_app
from dialogs.pipeline import Pipeline
from scoring.evaluator import FakeBackend, StarEvaluator
from storage import rotate
from storage.models import Candidate
from tests.conftest import make_settings
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
    path = tmp_path / "bot.log"
    setup_logging("DEBUG", str(path))
    yield path
    for handler in root.handlers:
        handler.close()
    root.handlers[:], _ = saved
    root.setLevel(saved[1])


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
    assert len(lines) > 50, "the demo should have logged its work"
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
