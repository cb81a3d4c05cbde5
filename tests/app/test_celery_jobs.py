"""Jobs through the broker (``[workers] backend = "celery"``): the relay, the start rules
and the routing table on SQLite and PostgreSQL; worker processes on the real RabbitMQ
and Redis of this machine in tests/app/test_celery_broker.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from app.celery_jobs import (
    QUEUES,
    ROUTES,
    TASK_NAME,
    Relay,
    make_celery,
    publisher,
    queue_for,
    worker_argv,
)
from app.wiring import App
from core.clock import FakeClock
from core.errors import InterviewerError
from core.settings import Settings
from dialogs.kernel.worker import JobContext
from storage import queue, queue_relay
from storage.models import BackgroundJob
from tests.conftest import make_settings


def test_every_job_kind_the_app_handles_has_a_queue(app: App) -> None:
    assert set(ROUTES.values()) <= set(QUEUES)
    assert sorted(set(app.handlers) - set(ROUTES)) == []
    assert queue_for("transcribe") == "asr" and queue_for("evaluate") == "llm"
    assert queue_for("something.new") == "default"


def test_worker_refuses_an_unknown_queue(settings: Settings) -> None:
    assert "--queues=asr,llm" in worker_argv(settings, ["asr", "llm"], concurrency=1, name="g")
    with pytest.raises(ValueError, match="gpu"):
        worker_argv(settings, ["asr", "gpu"], concurrency=1, name="g")


def _add(app: App, kind: str = "evaluate", key: str = "k1") -> int:
    with app.db.transaction() as session:
        queue.add(session, kind, {"answer_id": 0}, key=key, now=app.services.clock.now())
    with app.db.session() as session:
        job = session.exec(select(BackgroundJob).where(BackgroundJob.key == key)).one()
        assert job.id is not None
        return job.id


def _job(app: App, job_id: int) -> BackgroundJob:
    with app.db.session() as session:
        job = session.get(BackgroundJob, job_id)
        assert job is not None
        return job


def test_relay_publishes_a_committed_job_once_and_gives_back_what_the_broker_refused(
    app: App, clock: FakeClock
) -> None:
    job_id = _add(app)
    sent: list[tuple[int, str]] = []
    relay = Relay(app, lambda i, k: sent.append((i, k)))
    assert relay.publish_once() == 1 and sent == [(job_id, "evaluate")]
    assert relay.publish_once() == 0, "a queued job is not published again at once"
    assert _job(app, job_id).status == queue_relay.QUEUED

    # Published an hour ago and never started (relay died before publishing): again.
    clock.advance(seconds=app.settings.workers.republish_after_seconds + 1)
    assert relay.publish_once() == 1 and sent[-1] == (job_id, "evaluate")

    other = _add(app, key="k2")

    def refuse(i: int, k: str) -> None:
        raise ConnectionError("broker away")

    clock.advance(seconds=app.settings.workers.republish_after_seconds + 1)
    with pytest.raises(ConnectionError):
        Relay(app, refuse).publish_once()
    assert _job(app, job_id).status == "pending" and _job(app, other).status == "pending"


def test_a_duplicate_message_does_nothing_and_a_redelivered_one_takes_over(
    app: App, clock: FakeClock
) -> None:
    job_id = _add(app)
    Relay(app, lambda i, k: None).publish_once()
    first = queue_relay.start(app.db, job_id, worker="a", clock=clock, redelivered=False)
    assert first is not None and first.status == "running" and first.attempts == 1
    assert queue_relay.start(app.db, job_id, worker="b", clock=clock, redelivered=False) is None
    again = queue_relay.start(app.db, job_id, worker="b", clock=clock, redelivered=True)
    assert again is not None and again.attempts == 2 and again.locked_by == "b"

    # Done is done: a late copy of the message runs nothing.
    runs: list[int] = []

    def handler(job: BackgroundJob, ctx: JobContext) -> None:
        with ctx.db.transaction() as session:
            if ctx.claim_result(session, job):
                runs.append(job.id or 0)

    app.handlers["evaluate"] = handler
    assert app.worker().execute(again) == "done"
    assert queue_relay.start(app.db, job_id, worker="c", clock=clock, redelivered=True) is None
    assert runs == [job_id]


def test_a_job_whose_workers_keep_dying_ends_failed(app: App, clock: FakeClock) -> None:
    job_id = _add(app)
    Relay(app, lambda i, k: None).publish_once()
    for _ in range(3):
        assert queue_relay.start(app.db, job_id, worker="w", clock=clock, redelivered=True)
    assert queue_relay.start(app.db, job_id, worker="w", clock=clock, redelivered=True) is None
    job = _job(app, job_id)
    assert job.status == "failed" and "worker lost 3 times" in (job.error or "")


def test_a_failing_job_is_published_again_after_its_backoff_then_fails(
    app: App, clock: FakeClock
) -> None:
    job_id = _add(app)

    def broken(job: BackgroundJob, ctx: JobContext) -> None:
        raise InterviewerError("model server away")

    app.handlers["evaluate"] = broken
    sent: list[int] = []
    relay = Relay(app, lambda i, k: sent.append(i))
    statuses = []
    for _ in range(3):
        assert relay.publish_once() == 1
        job = queue_relay.start(app.db, job_id, worker="w", clock=clock, redelivered=False)
        assert job is not None
        statuses.append(app.worker().execute(job))
        assert relay.publish_once() == 0, "not before its backoff"
        clock.advance(seconds=301)
    assert statuses == ["pending", "pending", "failed"]
    assert relay.publish_once() == 0
    failed = _job(app, job_id)
    assert failed.status == "failed" and failed.attempts == 3
    assert queue.retry(app.db, job_id, clock=clock)  # `jobs retry` puts it back
    assert relay.publish_once() == 1


class RecordingCelery:
    """Stands in for the Celery app's ``send_task``: records what would be published."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[int], str, str]] = []

    def send_task(
        self, name: str, *, args: list[int], queue: str, routing_key: str, retry: bool
    ) -> None:
        self.sent.append((name, args, queue, routing_key))


def test_the_relay_publishes_each_kind_to_its_queue_under_the_prefix(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, workers={"backend": "celery", "queue_prefix": "p1."})
    celery = RecordingCelery()
    publish = publisher(settings, celery)
    publish(7, "transcribe")
    publish(8, "stats_chart")
    publish(9, "a.kind.nobody.routed")
    assert celery.sent == [
        (TASK_NAME, [7], "p1.asr", "p1.asr"),
        (TASK_NAME, [8], "p1.render", "p1.render"),
        (TASK_NAME, [9], "p1.default", "p1.default"),
    ]
    conf = make_celery(settings).conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert sorted(q.name for q in conf.task_queues) == sorted(f"p1.{q}" for q in QUEUES)
