"""/audit: the scorer's figures by answer mode and language, on the /stats batch."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from core.clock import FakeClock
from storage.models import Answer, Evaluation, InterviewSession
from tests.dialogs.hiring.test_stats import seed_batch
from tests.harness import Chat


@pytest.fixture
def seeded(chat: Chat, clock: FakeClock) -> Chat:
    job = seed_batch(chat, clock)
    with chat.app.db.transaction() as session:
        sessions = session.exec(
            select(InterviewSession).where(InterviewSession.job_id == job.id)
        ).all()
        voice = {s.id for s in sessions[::2]}  # half of the interviews answered by voice
        for answer in session.exec(select(Answer).where(col(Answer.session_id).in_(voice))):
            answer.kind = "voice"
            session.add(answer)
    return chat


def test_audit_by_mode_and_language(seeded: Chat) -> None:
    text = seeded.send("viewer", "/audit stats")[0].text
    assert "Scorer audit stats (pass line 65)" in text
    assert "By answer mode" in text and "By language" in text
    assert "  voice: n=" in text and "  text: n=" in text
    assert "impact ratio" in text


def test_audit_in_chinese_and_the_four_fifths_warning(seeded: Chat) -> None:
    with seeded.app.db.transaction() as session:
        # The voice answers are scored again, lower (the latest total counts): none passes.
        for answer in session.exec(select(Answer).where(Answer.kind == "voice")):
            session.add(
                Evaluation(
                    answer_id=answer.id or 0, dimension="total", score=30.0, model="m",
                    prompt_version="p",
                )
            )  # fmt: skip
    text = seeded.send("viewer", "/audit stats", lang="zh")[0].text
    assert "评分审计 stats（及格线 65）" in text
    assert "语音：10 条，平均 30，中位数 30，通过率 0%，影响比 0.00" in text
    assert "按作答方式" in text and "语音：" in text
    assert "五分之四" in text


def test_audit_needs_a_job(seeded: Chat) -> None:
    text = seeded.send("viewer", "/audit")[0].text
    assert "Usage: /audit JOB" in text
