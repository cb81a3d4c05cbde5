"""Several HR users score a candidate per competency; reports show AI and people side by side."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import numpy as np
import pytest
from sqlmodel import col, select

from app.wiring import App
from core.clock import FakeClock
from core.settings import Settings
from scoring.report import CandidateReportData, HumanScoreLine, render_candidate_report
from storage.models import AuditEvent, Candidate, CandidateScore, HumanScore, Job
from tests.dialogs.hr_helpers import GROUP, STRONG, WEAK, interview, pipeline_app, setup_job, texts
from tests.harness import Chat, RecordingMessenger


@pytest.fixture
def app(settings: Settings, clock: FakeClock, messenger: RecordingMessenger) -> Iterator[App]:
    application = pipeline_app(settings, clock, messenger)
    yield application
    application.db.engine.dispose()


@pytest.fixture
def hr_chat(chat: Chat) -> Chat:
    setup_job(chat)
    chat.send("admin", "/grant console:hr2 hr_manager")
    chat.languages["hr2"] = "zh"
    return chat


def human_rows(chat: Chat, candidate_id: int) -> list[HumanScore]:
    with chat.app.db.session() as session:
        return list(
            session.exec(
                select(HumanScore)
                .where(HumanScore.candidate_id == candidate_id)
                .order_by(col(HumanScore.competency), col(HumanScore.scorer))
            ).all()
        )


def pdf_text(data: bytes) -> str:
    out = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True
    )
    return out.stdout.decode("utf-8")


def test_keyboard_buttons_and_rescoring_keep_one_row_per_scorer(hr_chat: Chat) -> None:
    cid = interview(hr_chat, "ann", "Ann Lee", [STRONG, STRONG, STRONG])
    replies = hr_chat.send("hr", f"/score {cid}", group=GROUP)
    keyboard = replies[-1]
    assert f"candidate #{cid} Ann Lee" in keyboard.text
    assert "1. Customer focus: AI" in keyboard.text
    assert [len(row) for row in keyboard.buttons] == [5, 5, 5]
    assert keyboard.button_data[:5] == [f"hs:{cid}:0:{v}" for v in range(1, 6)]

    pressed = hr_chat.send("hr", f"/press hs:{cid}:0:4", group=GROUP)
    assert pressed[-1].kind == "answer" and not pressed[-1].alert
    assert f"Saved: candidate #{cid}, Customer focus 4/5" in pressed[-1].text
    pressed = hr_chat.send("hr2", f"/press hs:{cid}:0:2", group=GROUP)
    assert "已保存" in pressed[-1].text  # each scorer in their own language
    hr_chat.send("hr", f"/press hs:{cid}:0:5", group=GROUP)  # hr changes their mind

    rows = human_rows(hr_chat, cid)
    assert [(r.competency, r.scorer, r.score) for r in rows] == [
        ("customer_focus", "console:hr", 5),
        ("customer_focus", "console:hr2", 2),
    ]
    # the keyboard now shows the scorer's own score and the team's mean
    again = hr_chat.send("hr", f"/score {cid}", group=GROUP)[-1].text
    assert "you 5 · team 3.5 (2)" in again


def test_command_with_comment_and_report_side_by_side(hr_chat: Chat) -> None:
    cid = interview(hr_chat, "ann", "Ann Lee", [STRONG, STRONG, STRONG])
    with hr_chat.app.db.session() as session:
        before = session.exec(
            select(CandidateScore).where(CandidateScore.candidate_id == cid)
        ).one()
    replies = hr_chat.send(
        "hr", f"/score {cid} communication 3 Clear, but long-winded 👍", group=GROUP
    )
    assert "Communication 3/5 — “Clear, but long-winded 👍”" in texts(replies, GROUP)[-1]
    hr_chat.send("hr2", f"/score #{cid} 客户导向 5 非常好", group=GROUP)  # a zh label works too
    rows = human_rows(hr_chat, cid)
    assert [(r.competency, r.score, r.comment) for r in rows] == [
        ("communication", 3, "Clear, but long-winded 👍"),
        ("customer_focus", 5, "非常好"),
    ]
    with hr_chat.app.db.session() as session:
        after = session.exec(select(CandidateScore).where(CandidateScore.candidate_id == cid)).one()
        audits = session.exec(select(AuditEvent).where(AuditEvent.action == "human_score")).all()
    assert len(audits) == 2 and audits[0].details["chat"] == f"console:{GROUP}"
    assert after.report_path != before.report_path  # re-rendered with the people's scores
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext not installed")
    text = pdf_text(hr_chat.app.db.media.get(after.report_path or ""))
    assert "AI 评分与人工评分" in text  # reports are in the default language (zh)
    assert "Clear, but long-winded" in text  # the emoji the font lacks is dropped, not fatal
    assert "非常好" in text
    # the details button sends the new report
    details = hr_chat.send("viewer", f"/press dec:{cid}:d", group=GROUP)
    sent = [d for d in details if d.kind == "file"]
    assert sent and sent[0].file_data == hr_chat.app.db.media.get(after.report_path or "")


def test_viewer_cannot_score_and_nothing_changes(hr_chat: Chat) -> None:
    cid = interview(hr_chat, "ann", "Ann Lee", [WEAK, WEAK, WEAK])
    pressed = hr_chat.send("viewer", f"/press hs:{cid}:0:5", group=GROUP)
    assert pressed[-1].alert and "needs the HR manager role" in pressed[-1].text
    replies = hr_chat.send("viewer", f"/score {cid} communication 5", group=GROUP)
    assert texts(replies, GROUP) == [
        "This needs the HR manager role for this job; you are HR viewer. Nothing was changed."
    ]
    assert human_rows(hr_chat, cid) == []


def test_bad_input_is_explained(hr_chat: Chat) -> None:
    cid = interview(hr_chat, "ann", "Ann Lee", [WEAK, WEAK, WEAK])
    assert "Usage: /score" in hr_chat.send("hr", "/score", group=GROUP)[-1].text
    assert (
        "Usage: /score" in hr_chat.send("hr", f"/score {cid} communication", group=GROUP)[-1].text
    )
    unknown = hr_chat.send("hr", f"/score {cid} charisma 4", group=GROUP)[-1].text
    assert "no competency 'charisma'" in unknown and "communication" in unknown
    assert "from 1 (weak) to 5" in hr_chat.send("hr", f"/score {cid} 2 7", group=GROUP)[-1].text
    assert "no candidate #77" in hr_chat.send("hr", "/score 77 2 4", group=GROUP)[-1].text
    out_of_range = hr_chat.send("hr", f"/press hs:{cid}:9:4", group=GROUP)[-1]
    assert out_of_range.alert
    assert human_rows(hr_chat, cid) == []


def test_report_renders_human_column_in_both_languages(tmp_path: object) -> None:
    import datetime as dt
    from pathlib import Path

    for lang, title in (("en", "AI and human scores"), ("zh", "AI 评分与人工评分")):
        data = CandidateReportData(
            lang=lang,
            candidate_id="7",
            candidate_name="Ann Lee",
            job_title="Sales",
            total=72.5,
            pass_line=70,
            competencies=[],
            answers=[],
            generated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            human=[
                HumanScoreLine(name="Communication", ai=80, human=3.5, scorers=2, comments=["ok"])
            ],
        )
        path = render_candidate_report(data, Path(str(tmp_path)) / f"{lang}.pdf")
        if shutil.which("pdftotext") is None:
            pytest.skip("pdftotext not installed")
        text = pdf_text(path.read_bytes())
        assert title in text
        assert "3.5" in text and "80" in text
    # without people's scores the report has no such section (backwards compatible)
    plain = data.model_copy(update={"human": []})
    path = render_candidate_report(plain, Path(str(tmp_path)) / "plain.pdf")
    assert "AI 评分与人工评分" not in pdf_text(path.read_bytes())


def seed_agreement(chat: Chat, ai: list[float], human: list[int]) -> list[int]:
    """Candidates with an AI total (same per competency) and people's scores (same for all)."""
    with chat.app.db.transaction() as session:
        job = session.exec(select(Job).where(Job.code == "sales")).one()
        ids = []
        for i, (a, h) in enumerate(zip(ai, human, strict=True)):
            c = Candidate(job_id=job.id or 0, name=f"Seed {i}", status="completed")
            session.add(c)
            session.flush()
            ids.append(c.id or 0)
            per = {str(comp["name"]): a for comp in job.competencies}
            session.add(
                CandidateScore(
                    candidate_id=c.id or 0, job_id=job.id or 0, total=a, per_competency=per
                )
            )
            for comp in job.competencies:
                for scorer in ("console:hr", "console:hr2"):
                    session.add(
                        HumanScore(
                            candidate_id=c.id or 0,
                            competency=str(comp["name"]),
                            score=h,
                            scorer=scorer,
                        )
                    )
    return ids


def icc_by_hand(pairs: list[tuple[float, float]]) -> float:
    data = np.array(pairs)
    n, k = data.shape
    grand = data.mean()
    ss_rows = k * ((data.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((data.mean(axis=0) - grand) ** 2).sum()
    ss_error = ((data - grand) ** 2).sum() - ss_rows - ss_cols
    msr, msc, mse = ss_rows / (n - 1), ss_cols / (k - 1), ss_error / ((n - 1) * (k - 1))
    return float((msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n))


def test_agreement_over_candidates_with_both(chat: Chat) -> None:
    chat.create_job()
    chat.send("admin", "/bind sales", group=GROUP)
    replies = chat.send("viewer", "/agreement", group=GROUP)
    assert "0 candidates scored by both so far" in replies[-1].text
    seed_agreement(chat, [20, 40, 60, 80], [1, 3, 2, 5])  # people: 0, 50, 25, 100 on 0-100
    with chat.app.db.transaction() as session:  # an AI-only candidate does not count
        job = session.exec(select(Job)).one()
        lone = Candidate(job_id=job.id or 0, name="Lone", status="completed")
        session.add(lone)
        session.flush()
        session.add(CandidateScore(candidate_id=lone.id or 0, job_id=job.id or 0, total=99))
    text = chat.send("viewer", "/agreement sales", group=GROUP)[-1].text
    assert "4 candidates scored by both" in text
    assert "Spearman ρ 0.80" in text  # ranks 1 2 3 4 vs 1 3 2 4
    icc = icc_by_hand([(20, 0), (40, 50), (60, 25), (80, 100)])
    assert f"ICC(2,1) {icc:.2f}" in text
    assert 0.75 <= icc < 0.9
    assert "(good agreement)" in text  # Koo & Li band for 0.78
    assert f"· Communication: n=4 · ρ 0.80 · ICC {icc:.2f}" in text
    zh = chat.send("viewer", "/agreement sales", group=GROUP, lang="zh")[-1].text
    assert "两者皆有" in zh and "0.80" in zh
