"""/stats and /itemstats on a seeded batch whose answers (and so correlations) are known."""

from __future__ import annotations

import datetime as dt
import sys

import numpy as np
import pytest
from sqlmodel import Session, select

from core.clock import FakeClock
from dialogs.hiring import stats
from storage.contract_models import Contract
from storage.models import (
    Answer,
    BackgroundJob,
    Candidate,
    CandidateScore,
    Decision,
    Evaluation,
    FunnelEvent,
    InterviewSession,
    Invitation,
    Job,
    JobQuestion,
    Question,
)
from tests.dialogs.job_helpers import AnswerWhileBusy, crash_after_result, run_jobs
from tests.harness import Chat, Delivered

KEYS = ["customer_focus-01", "communication-01", "problem_solving-01", "customer_focus-02"]
# Item scores of candidates 0-5 (None: not answered).
ITEMS: list[list[float | None]] = [
    [90, 80, 70, 60, 50, 40],  # separates strongly
    [85, 75, 65, 55, 45, 35],
    [40, 60, 50, 50, 60, 40],  # symmetric: r with the rest is exactly 0
    [87.5, 77.5, None, None, None, None],  # only two answers (keeps the rest means unchanged)
]
TOTALS = [80.0, 75.0, 70.0, 60.0, 50.0, 40.0]


def seed_batch(chat: Chat, clock: FakeClock) -> Job:
    now = clock.now()
    with chat.app.db.transaction() as session:
        job = Job(
            code="stats",
            title_zh="统计岗",
            title_en="Stats job",
            competencies=[
                {"name": "customer_focus", "weight": 40},
                {"name": "communication", "weight": 30},
                {"name": "problem_solving", "weight": 30},
            ],
            pass_line=65,
        )
        session.add(job)
        session.flush()
        questions = [session.exec(select(Question).where(Question.key == k)).one() for k in KEYS]
        for position, q in enumerate(questions):
            session.add(JobQuestion(job_id=job.id or 0, question_id=q.id or 0, position=position))
        people = []
        for i in range(9):
            c = Candidate(job_id=job.id or 0, name=f"Seed {i}", status="invited")
            session.add(c)
            session.flush()
            people.append(c.id or 0)

        def stage(i: int, name: str) -> None:
            session.add(FunnelEvent(candidate_id=people[i], job_id=job.id or 0, stage=name, at=now))

        for i in range(9):
            stage(i, "invited")
        for i in (0, 1, 2, 6):
            stage(i, "scheduled")
        stage(6, "no_show")
        for i in (*range(6), 8):
            stage(i, "started")
            stage(i, "completed")
        for i in range(6):
            person = session.get(Candidate, people[i])
            assert person is not None
            person.status = "completed"
            inv = Invitation(
                token_hash=f"tok{i}",
                candidate_id=people[i],
                job_id=job.id or 0,
                code="123456",
                expires_at=now + dt.timedelta(days=7),
            )
            session.add(inv)
            session.flush()
            s = InterviewSession(
                candidate_id=people[i],
                job_id=job.id or 0,
                invitation_id=inv.id or 0,
                platform="console",
                chat_id=f"seed{i}",
                user_id=f"seed{i}",
                state="done",
            )
            session.add(s)
            session.flush()
            for position, (q, column) in enumerate(zip(questions, ITEMS, strict=True)):
                value = column[i]
                if value is None:
                    continue
                if i == 0 and position == 2:  # a superseded first attempt never counts
                    _answer(session, s, q, position, 0.0, status="superseded")
                _answer(session, s, q, position, value)
            if i == 1:  # an HR follow-up is not a bank question: not an item
                _answer(session, s, None, 4, 5.0)
            per = {
                "customer_focus": ITEMS[0][i],
                "communication": ITEMS[1][i],
                "problem_solving": ITEMS[2][i],
            }
            session.add(
                CandidateScore(
                    candidate_id=people[i],
                    job_id=job.id or 0,
                    total=TOTALS[i],
                    passed=TOTALS[i] >= job.pass_line,
                    per_competency=per,
                )
            )
        for i, outcome in ((0, "approve"), (1, "approve"), (5, "reject")):
            session.add(
                Decision(candidate_id=people[i], outcome=outcome, status="decided", decided_at=now)
            )
        session.add(
            Contract(
                contract_no="C-1",
                candidate_id=people[0],
                status="signed",
                contract_type="fixed_term",
                terms_json="{}",
            )
        )
        deleted = session.get(Candidate, people[8])
        assert deleted is not None
        deleted.status = "deleted"
        session.add(
            CandidateScore(candidate_id=people[8], job_id=job.id or 0, total=100, passed=True)
        )
        session.flush()
        session.expunge(job)
    return job


def _answer(
    session: Session,
    s: InterviewSession,
    q: Question | None,
    position: int,
    total: float,
    *,
    status: str = "scored",
) -> None:
    a = Answer(
        session_id=s.id or 0,
        question_id=q.id if q else None,
        question_text=q.text_en if q else "follow-up",
        competency=q.competency if q else "communication",
        position=position,
        kind="text",
        text="answer",
        status=status,
    )
    session.add(a)
    session.flush()
    for dim, value in (("total", 50.0), ("total", total)):  # the latest evaluation wins
        session.add(
            Evaluation(
                answer_id=a.id or 0, dimension=dim, score=value, model="m", prompt_version="p"
            )
        )


def expected_r() -> list[float | None]:
    """Corrected item-total r computed independently: item vs mean of the other answered items."""
    out: list[float | None] = []
    for k in range(len(ITEMS)):
        xs, rest = [], []
        for i in range(6):
            value = ITEMS[k][i]
            others = [ITEMS[j][i] for j in range(len(ITEMS)) if j != k]
            others_known = [o for o in others if o is not None]
            if value is None or not others_known:
                continue
            xs.append(value)
            rest.append(sum(others_known) / len(others_known))
        out.append(float(np.corrcoef(xs, rest)[0, 1]) if len(xs) >= 3 else None)
    return out


@pytest.fixture
def seeded(chat: Chat, clock: FakeClock) -> Chat:
    chat.languages["viewer_zh"] = "zh"
    seed_batch(chat, clock)
    return chat


def with_chart(chat: Chat, user: str, line: str, **kwargs: object) -> list[Delivered]:
    """The numbers from the command, then the chart from the background job."""
    replies = chat.send(user, line, **kwargs)
    assert not [d for d in replies if d.kind == "file"]  # no drawing inside the event
    return replies + run_jobs(chat, stats.CHART_JOB)


def test_stats_funnel_rates_averages_and_chart(seeded: Chat) -> None:
    replies = with_chart(seeded, "viewer", "/stats stats")
    text = replies[0].text
    assert "📈 stats — Stats job" in text
    assert (
        "Funnel: invited 8 → scheduled 7 → completed 6 → passed 3 → signed 1 (approved by HR: 2)"
        in text
    )
    assert "Completion rate 75% · no-show rate 25% (1 of 4 booked)" in text
    assert "Average AI total 62.5/100 over 6 scored candidates" in text
    assert "· Customer focus: 65.0" in text
    assert "· Communication: 60.0" in text
    assert "· Problem solving: 50.0" in text
    assert "0 candidates scored by both so far" in text  # the agreement line
    chart = replies[-1]
    assert chart.kind == "file" and chart.filename == "stats-stats.png"
    assert chart.file_data is not None and chart.file_data.startswith(b"\x89PNG")


def test_stats_in_chinese(seeded: Chat) -> None:
    text = seeded.send("viewer", "/stats stats", lang="zh")[0].text
    assert "漏斗：已邀请 8 → 已预约 7 → 已完成 6 → 达标 3 → 已签约 1（HR 已录用：2）" in text
    assert "完成率 75% · 缺席率 25%" in text
    assert "· 客户导向：65.0" in text


def test_stats_without_a_contracts_module_says_so(
    seeded: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "storage.contract_models", None)  # import fails
    text = seeded.send("viewer", "/stats stats")[0].text
    assert "signed n/a" in text
    assert "not tracked on this installation" in text


def test_stats_for_the_groups_job_or_every_visible_job(seeded: Chat) -> None:
    seeded.create_job()  # "sales", no candidates
    seeded.send("admin", "/bind stats", group="room")
    grouped = with_chart(seeded, "viewer", "/stats", group="room")
    assert grouped[-1].chat_id == "room" and grouped[-1].filename == "stats-stats.png"
    assert "📈 stats" in grouped[0].text and "📈 sales" not in grouped[0].text
    everything = with_chart(seeded, "viewer", "/stats")
    assert "📈 stats" in everything[0].text and "📈 sales" in everything[0].text
    assert "No scored candidates yet." in everything[0].text
    assert everything[-1].filename == "stats-jobs.png"
    # a viewer scoped to "sales" sees only that job
    seeded.send("admin", "/grant console:scoped hr_viewer sales")
    scoped = seeded.send("scoped", "/stats", lang="en")
    assert "📈 sales" in scoped[0].text and "📈 stats" not in scoped[0].text
    refused = seeded.send("scoped", "/stats stats", lang="en")
    assert [d.text for d in refused] == [
        "Your role covers other jobs only (sales), not this one. Ask an admin of this job"
        " for access. Nothing was changed."
    ]


def test_itemstats_flags_weak_questions_and_proposes_replacements(seeded: Chat) -> None:
    text = seeded.send("viewer", "/itemstats stats")[0].text
    lines = text.splitlines()
    r = expected_r()
    assert r[2] == pytest.approx(0.0, abs=1e-12)
    q1 = next(line for line in lines if line.startswith("1. customer_focus-01"))
    assert f"answers 6 · mean 65.0 · r {r[0]:.2f} ✓" in q1
    q2 = next(line for line in lines if line.startswith("2. communication-01"))
    assert f"r {r[1]:.2f} ✓" in q2
    q3_index = next(i for i, line in enumerate(lines) if line.startswith("3. problem_solving-01"))
    assert "r 0.00 ⚠️ weak" in lines[q3_index]
    replacement = lines[q3_index + 1]
    assert "problem_solving-02" in replacement and "problem_solving-03" in replacement
    assert "problem_solving-01" not in replacement
    q4 = next(line for line in lines if line.startswith("4. customer_focus-02"))
    assert "answers 2" in q4 and "too few answers to judge (need 5)" in q4


def test_itemstats_needs_a_job(seeded: Chat) -> None:
    assert "Usage: /itemstats" in seeded.send("viewer", "/itemstats")[0].text
    assert "no job with the code nope" in seeded.send("viewer", "/itemstats nope")[0].text


# ------------------------------------------------------------------ the chart job
def chart_jobs(chat: Chat) -> list[BackgroundJob]:
    with chat.app.db.session() as session:
        return list(
            session.exec(select(BackgroundJob).where(BackgroundJob.kind == stats.CHART_JOB)).all()
        )


def test_a_candidate_answers_while_the_chart_is_drawn(seeded: Chat) -> None:
    seeded.create_job()
    token, code = seeded.invite("Zoe Park")
    seeded.start_interview("zoe", "Zoe Park", token, code)
    numbers = seeded.send("viewer", "/stats stats")
    assert [d.kind for d in numbers] == ["send"] and "📈 stats" in numbers[0].text

    busy = AnswerWhileBusy(seeded, "zoe", "I called the client every day.", stats.stats_chart_png)
    delivered = run_jobs(seeded, handlers={stats.CHART_JOB: stats.chart_job(render=busy)})
    busy.join()

    assert busy.seconds is not None and busy.seconds < 3.0, busy.seconds
    assert any("Question 2" in getattr(i, "text", "") for i in busy.intents)
    [chart] = [d for d in delivered if d.kind == "file"]
    assert any("Question 2" in d.text for d in delivered if d.chat_id == "zoe")
    assert chart.chat_id == "viewer" and chart.filename == "stats-stats.png"
    assert chart.text == "Statistics: stats"
    assert chart.file_data is not None and chart.file_data.startswith(b"\x89PNG")


class Recorder:
    """A fake renderer that keeps what it was asked to draw."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[stats.JobStats]]] = []

    def __call__(self, lang: str, all_stats: list[stats.JobStats]) -> bytes:
        self.calls.append((lang, all_stats))
        return b"\x89PNG fake"


def test_the_chart_gets_the_numbers_the_text_showed(seeded: Chat) -> None:
    seeded.send("viewer", "/stats stats", lang="zh")
    recorder = Recorder()
    [chart] = run_jobs(seeded, handlers={stats.CHART_JOB: stats.chart_job(render=recorder)})
    [(lang, [drawn])] = recorder.calls
    assert lang == "zh" and chart.text == "统计：stats"
    assert drawn.job.code == "stats"
    assert drawn.funnel == {
        "invited": 8,
        "scheduled": 7,
        "completed": 6,
        "passed": 3,
        "signed": 1,
    }
    assert drawn.average == pytest.approx(62.5)
    assert drawn.per_competency == pytest.approx(
        {"customer_focus": 65.0, "communication": 60.0, "problem_solving": 50.0}
    )


def test_stats_twice_in_a_minute_draws_one_chart(seeded: Chat, clock: FakeClock) -> None:
    first = seeded.send("viewer", "/stats stats")
    second = seeded.send("viewer", "/stats stats")
    assert first[0].text == second[0].text  # the numbers every time
    assert len(chart_jobs(seeded)) == 1
    assert len(run_jobs(seeded, stats.CHART_JOB)) == 1
    clock.advance(minutes=1)
    assert len(with_chart(seeded, "viewer", "/stats stats")) == 2


def test_a_chart_job_run_again_after_a_crash_sends_nothing_twice(seeded: Chat) -> None:
    seeded.send("viewer", "/stats stats")
    crash_after_result(seeded, stats.CHART_JOB, seeded.app.handlers[stats.CHART_JOB])
    seeded.flush()
    assert run_jobs(seeded, stats.CHART_JOB) == []
    assert len([d for d in seeded.messenger.to("viewer") if d.kind == "file"]) == 1


def test_a_chart_that_cannot_be_drawn_leaves_the_numbers(seeded: Chat) -> None:
    def broken(lang: str, all_stats: list[stats.JobStats]) -> bytes:
        raise RuntimeError("no font")

    numbers = seeded.send("viewer", "/stats stats")
    assert "Average AI total 62.5/100" in numbers[0].text
    assert run_jobs(seeded, handlers={stats.CHART_JOB: stats.chart_job(render=broken)}) == []
    [job] = chart_jobs(seeded)
    assert job.status == "done"  # not retried: a drawing error would repeat
