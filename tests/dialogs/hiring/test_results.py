"""Rankings and finalize posts: charts drawn outside the event's transaction, sent once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import col, select

from app.wiring import App
from core.clock import FakeClock
from core.settings import Settings
from dialogs.hiring import decisions, results
from dialogs.kernel.intents import Send, SendFile
from dialogs.kernel.worker import Worker
from storage.models import BackgroundJob
from tests.dialogs.hr_helpers import GROUP, STRONG, WEAK, interview, pipeline_app, setup_job
from tests.dialogs.job_helpers import AnswerWhileBusy, crash_after_result, run_jobs
from tests.harness import Chat, RecordingMessenger


@pytest.fixture
def app(settings: Settings, clock: FakeClock, messenger: RecordingMessenger) -> Iterator[App]:
    application = pipeline_app(settings, clock, messenger)
    yield application
    application.db.engine.dispose()


@pytest.fixture
def ranked(chat: Chat) -> Chat:
    """Two candidates interviewed, scored and ranked; jobs then run only when asked."""
    setup_job(chat)
    interview(chat, "ann", "Ann Lee", [STRONG, STRONG, STRONG])
    interview(chat, "bob", "Bob Ray", [WEAK, WEAK, WEAK])
    chat.run_jobs = False
    return chat


def jobs_of(app: App, kind: str) -> list[BackgroundJob]:
    with app.db.session() as session:
        return list(
            session.exec(
                select(BackgroundJob)
                .where(BackgroundJob.kind == kind)
                .order_by(col(BackgroundJob.id))
            ).all()
        )


def test_ranking_command_answers_with_the_table_and_the_chart_follows(
    app: App, ranked: Chat
) -> None:
    intents = app.engine.handle(ranked.event("viewer", "/ranking sales", group=GROUP))
    assert not [i for i in intents if isinstance(i, SendFile)]  # nothing drawn in the event
    [table] = [i for i in intents if isinstance(i, Send) and i.text.startswith("🏆")]
    assert table.text.index("Ann Lee") < table.text.index("Bob Ray")
    ranked.flush()

    token, code = ranked.invite("Zoe Park")
    ranked.start_interview("zoe", "Zoe Park", token, code)
    busy = AnswerWhileBusy(ranked, "zoe", STRONG, results.ranking_chart)
    handlers = {results.RANKING_CHART_JOB: results.ranking_chart_job(draw=busy)}
    delivered = run_jobs(ranked, handlers=handlers)
    busy.join()
    assert busy.seconds is not None and busy.seconds < 3.0, busy.seconds
    [chart] = [d for d in delivered if d.kind == "file"]
    assert chart.chat_id == GROUP and chart.filename == "ranking-sales.png"
    assert chart.file_data is not None and chart.file_data.startswith(b"\x89PNG")
    assert chart.text == "Ranking chart for Sales rep"


def test_ranking_twice_in_a_minute_draws_one_chart(app: App, ranked: Chat) -> None:
    first = ranked.send("viewer", "/ranking sales", group=GROUP)
    second = ranked.send("viewer", "/ranking sales", group=GROUP)
    assert first[-1].text == second[-1].text
    assert len(jobs_of(app, results.RANKING_CHART_JOB)) == 1
    assert [d.kind for d in run_jobs(ranked, results.RANKING_CHART_JOB)] == ["file"]


def test_nothing_to_rank_queues_no_chart(app: App, chat: Chat) -> None:
    chat.create_job()
    replies = chat.send("viewer", "/ranking sales")
    assert replies[-1].text == "No scored candidates yet for Sales rep."
    assert jobs_of(app, results.RANKING_CHART_JOB) == []


def test_a_ranking_chart_job_run_again_after_a_crash_sends_nothing(app: App, ranked: Chat) -> None:
    def charts() -> int:
        return len([d for d in ranked.messenger.to(GROUP) if d.filename == "ranking-sales.png"])

    before = charts()
    ranked.send("viewer", "/ranking sales", group=GROUP)
    crash_after_result(ranked, results.RANKING_CHART_JOB, results.ranking_chart_job())
    ranked.flush()
    assert run_jobs(ranked, results.RANKING_CHART_JOB) == []
    assert charts() == before + 1


def test_finalize_and_rank_jobs_do_not_post_twice_when_run_again(app: App, ranked: Chat) -> None:
    posts = len(ranked.messenger.to(GROUP))
    ctx = Worker(app.db, app.services, {}).ctx
    rank_jobs = jobs_of(app, "rank")
    finalize_jobs = jobs_of(app, "finalize")
    assert rank_jobs and len(finalize_jobs) == 2
    assert all(job.status == "done" for job in rank_jobs + finalize_jobs)
    # As if the worker had died after each job's transaction and run them again.
    for job in rank_jobs:
        results.rank(job, ctx)
    for job in finalize_jobs:
        decisions.finalize(job, ctx)
    ranked.flush()
    assert len(ranked.messenger.to(GROUP)) == posts
    summaries = [d for d in ranked.messenger.to(GROUP) if d.text.startswith("📊")]
    assert len(summaries) == 2
