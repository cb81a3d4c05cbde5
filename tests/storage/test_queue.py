from __future__ import annotations

from app.wiring import App
from core.clock import FakeClock
from core.errors import EvaluationError
from dialogs.kernel.worker import JobContext, Worker
from storage import queue
from storage.models import BackgroundJob


def test_jobs_are_idempotent_by_key_and_resume_after_a_crash(app: App, clock: FakeClock) -> None:
    with app.db.transaction() as session:
        first = queue.enqueue(
            session, "evaluate", {"answer_id": 1}, key="evaluate:1", now=clock.now()
        )
        again = queue.enqueue(
            session, "evaluate", {"answer_id": 1}, key="evaluate:1", now=clock.now()
        )
        assert first.id == again.id
    job = queue.claim(app.db, worker="w1", kinds=["evaluate"], clock=clock)
    assert job is not None and job.status == "running"
    assert queue.claim(app.db, worker="w2", kinds=["evaluate"], clock=clock) is None
    # the worker died: at start the job goes back to pending
    assert queue.recover_stale(app.db, clock=clock) == 1
    assert queue.claim(app.db, worker="w2", kinds=["evaluate"], clock=clock) is not None


def test_failing_job_retries_then_keeps_error_for_admin_retry(app: App, clock: FakeClock) -> None:
    calls: list[int] = []

    def handler(job: BackgroundJob, ctx: JobContext) -> None:
        calls.append(job.id or 0)
        raise EvaluationError("model output invalid")

    with app.db.transaction() as session:
        queue.enqueue(session, "evaluate", {"answer_id": 7}, now=clock.now())
    worker = Worker(app.db, app.services, {"evaluate": handler})
    for _ in range(5):
        worker.run_one()
        clock.advance(seconds=600)
    with app.db.session() as session:
        job = session.get(BackgroundJob, 1)
        assert (
            job is not None
            and job.status == "failed"
            # the type and where it was raised: a message can quote the candidate
            and (job.error or "").startswith("EvaluationError at tests.storage.test_queue:")
        )
        assert job.payload == {"answer_id": 7}
    assert len(calls) == 3
    assert queue.retry(app.db, 1, clock=clock)
    worker.run_one()
    assert len(calls) == 4
