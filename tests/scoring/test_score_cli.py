"""``main.py report CANDIDATE_ID -o out.pdf`` from a migrated database."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest

from app.wiring import App
from dialogs.interview.pipeline import store_evaluation
from scoring.evaluator import FakeBackend, StarEvaluator
from scoring.star import AnswerInput
from storage.models import Answer, Candidate, CandidateScore, InterviewSession, Invitation, Job

QUESTION = "Tell me about a time you handled a difficult customer."
ANSWER = (
    "Last March at my previous company, a key client complained that our billing software kept "
    "crashing. I was responsible for the account, so my goal was to fix it within one week. "
    "I called their finance lead the same day and collected the crash logs. As a result the "
    "crashes dropped from 20 a day to zero, and they renewed their contract."
)


def _seed(app: App) -> int:
    now = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
    ev = StarEvaluator(FakeBackend()).evaluate(
        AnswerInput(question=QUESTION, answer=ANSWER, competency="customer_focus")
    )
    with app.db.transaction() as session:
        job = Job(
            code="cs1",
            title_zh="客服主管",
            title_en="Customer service lead",
            competencies=[{"name": "customer_focus", "weight": 100}],
            pass_line=60,
        )
        session.add(job)
        session.flush()
        assert job.id is not None
        people = [Candidate(job_id=job.id, name=name, batch="b1") for name in ("张伟", "Li Na")]
        session.add_all(people)
        session.flush()
        me = people[0]
        assert me.id is not None and people[1].id is not None
        session.add(CandidateScore(candidate_id=people[1].id, job_id=job.id, total=55.0))
        invitation = Invitation(
            token_hash="t1", candidate_id=me.id, job_id=job.id, code="1234", expires_at=now
        )
        session.add(invitation)
        session.flush()
        s = InterviewSession(
            candidate_id=me.id,
            job_id=job.id,
            invitation_id=invitation.id or 0,
            platform="console",
            chat_id="c",
            user_id="u",
            state="done",
        )
        session.add(s)
        session.flush()
        answer = Answer(
            session_id=s.id or 0,
            question_text=QUESTION,
            competency="customer_focus",
            position=0,
            kind="text",
            text=ANSWER,
            status="scored",
        )
        session.add(answer)
        session.flush()
        store_evaluation(session, answer, ev.model_dump(mode="json"), now=now)
        return me.id


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_report_cli_renders_from_the_database(app: App, tmp_path: Path) -> None:
    from main import main

    candidate_id = _seed(app)
    config = tmp_path / "config.toml"
    s = app.settings
    config.write_text(
        "[app]\n"
        f'data_dir = "{s.app.data_dir}"\n'
        "[database]\n"
        f'url = "{s.database.url}"\n'
        "[security]\n"
        f'key_file = "{s.security.key_file}"\n',
        encoding="utf-8",
    )
    out = tmp_path / "report.pdf"
    chart = tmp_path / "ranking.png"
    code = main(
        ["--config", str(config), "report", str(candidate_id), "-o", str(out), "--lang", "en",
         "--ranking-png", str(chart)]
    )  # fmt: skip
    assert code == 0
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, check=True).stdout
    body = "".join(text.decode("utf-8").split())
    assert "张伟" in body
    assert "Rankinbatch:1of2" in body
    assert "renewedtheircontract" in body
    assert chart.read_bytes().startswith(b"\x89PNG")
