"""Values typed or pressed by staff and candidates that are not what a handler expects
(Unicode digits, numbers of thousands of digits, invisible text): each gets its own
answer, nothing is saved, and no traceback is logged."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from sqlmodel import select

from app.wiring import App
from core.clock import FakeClock
from core.settings import Settings
from storage.models import HumanScore, InterviewSession
from tests.dialogs.hr_helpers import GROUP, STRONG, interview, pipeline_app, setup_job
from tests.harness import Chat, RecordingMessenger

BAD_SCORE = "The score must be a whole number from 1 (weak) to 5 (excellent)."


@pytest.fixture
def app(settings: Settings, clock: FakeClock, messenger: RecordingMessenger) -> Iterator[App]:
    application = pipeline_app(settings, clock, messenger)
    yield application
    application.db.engine.dispose()


def no_error_logged(caplog: pytest.LogCaptureFixture) -> None:
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_scores_and_competency_numbers_that_are_not_small_ascii_numbers(
    chat: Chat, caplog: pytest.LogCaptureFixture
) -> None:
    setup_job(chat)
    cid = interview(chat, "ann", "Ann Lee", [STRONG, STRONG, STRONG])
    for score in ("²", "⑤", "9" * 5000, "٣", "-1", "3.5"):
        reply = chat.send("hr", f"/score {cid} communication {score}", group=GROUP, lang="en")
        assert reply[-1].text == BAD_SCORE, score
    for number in ("²", "9" * 5000):
        text = chat.send("hr", f"/score {cid} {number} 3", group=GROUP, lang="en")[-1].text
        assert "has no competency" in text, number
    for data in (f"hs:{cid}:0:⁵", f"hs:{cid}:²:3", f"hs:{cid}:{'9' * 30}:3", f"hs:{cid}:0:"):
        pressed = chat.send("hr", f"/press {data}", group=GROUP, lang="en")[-1]
        assert pressed.alert and pressed.text == BAD_SCORE, data
    with chat.app.db.session() as session:
        assert session.exec(select(HumanScore)).all() == []
    ok = chat.send("hr", f"/score {cid} 2 4", group=GROUP, lang="en")[-1].text
    assert "Saved" in ok
    no_error_logged(caplog)


def test_an_invisible_follow_up_question_is_refused(
    chat: Chat, caplog: pytest.LogCaptureFixture
) -> None:
    setup_job(chat)
    token, code = chat.invite("Bo Li")
    chat.start_interview("bo", "Bo Li", token, code)
    with chat.app.db.session() as session:
        cid = session.exec(select(InterviewSession)).one().candidate_id
    for question in ("\u200b\u200b", "\u202e\u2066", "communication: \u200b"):
        reply = chat.send("hr", f"/ask {cid} {question}", group=GROUP, lang="en")[-1].text
        assert reply == "The question is empty. Nothing was added.", question
    with chat.app.db.session() as session:
        assert session.exec(select(InterviewSession)).one().extra_questions == []
    no_error_logged(caplog)
