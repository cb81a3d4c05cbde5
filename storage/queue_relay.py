"""The job table as the outbox of a message broker (``[workers] backend = "celery"``).

The table stays the source of truth: a job row is written in the transaction of the
state change that needs it (:func:`storage.queue.add`), exactly as with the
in-process queue. A relay then takes committed, due ``pending`` rows, marks them
``queued`` and commits, and only then publishes their ids (never inside the
transaction: a worker could run before the commit is visible). A worker marks the
row ``running`` when the message arrives (:func:`start`); the result is claimed with
:meth:`dialogs.kernel.worker.JobContext.claim_result` as before, so a message
delivered twice runs the work at most twice and sends its result once.

Statuses: ``pending`` (due at ``run_after``) -> ``queued`` (published at ``locked_at``)
-> ``running`` -> ``done`` | ``pending`` again with backoff | ``failed``.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import and_, or_, update
from sqlmodel import col, select

from core.clock import Clock
from storage.db import Database
from storage.models import BackgroundJob

log = logging.getLogger(__name__)

QUEUED = "queued"


def take_for_publish(
    db: Database, *, clock: Clock, limit: int = 200, republish_after_s: float = 3600
) -> list[tuple[int, str]]:
    """Mark up to ``limit`` due jobs ``queued`` and return their (id, kind), committed.

    Also returns jobs published more than ``republish_after_s`` ago and never started
    (the relay died between this commit and the publish, or the broker lost the
    message): publishing one twice is harmless, :func:`start` runs it once. Rows are
    locked with ``SKIP LOCKED`` on PostgreSQL, so relays in several front processes
    do not take the same rows.
    """
    now = clock.now()
    stale = now - dt.timedelta(seconds=republish_after_s)
    with db.transaction() as session:
        rows = session.execute(
            select(BackgroundJob.id, BackgroundJob.kind)
            .where(
                or_(
                    and_(
                        col(BackgroundJob.status) == "pending",
                        col(BackgroundJob.run_after) <= now,
                    ),
                    and_(
                        col(BackgroundJob.status) == QUEUED,
                        col(BackgroundJob.locked_at) <= stale,
                    ),
                )
            )
            .order_by(col(BackgroundJob.run_after), col(BackgroundJob.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        taken = [(int(job_id), str(kind)) for job_id, kind in rows]
        if taken:
            session.execute(
                update(BackgroundJob)
                .where(col(BackgroundJob.id).in_([job_id for job_id, _ in taken]))
                .values(status=QUEUED, locked_at=now, locked_by=None)
            )
    return taken


def unpublish(db: Database, job_ids: list[int]) -> None:
    """The broker refused these: back to ``pending`` for the next relay pass."""
    if not job_ids:
        return
    with db.transaction() as session:
        session.execute(
            update(BackgroundJob)
            .where(col(BackgroundJob.id).in_(job_ids), col(BackgroundJob.status) == QUEUED)
            .values(status="pending", locked_at=None)
        )


def start(
    db: Database,
    job_id: int,
    *,
    worker: str,
    clock: Clock,
    redelivered: bool,
    stale_after_s: float = 3600,
) -> BackgroundJob | None:
    """A message for ``job_id`` arrived: mark the job ``running`` and return it, or None
    when it is not to run (done, failed, already running elsewhere, not due yet).

    A job found ``running`` is taken over only when the broker says the message is
    redelivered (the worker that had it died; RabbitMQ flags this) or the run started
    more than ``stale_after_s`` ago (brokers that don't flag it). A job whose workers
    died ``max_attempts`` times is failed (``jobs failed`` shows it), not run again.
    """
    now = clock.now()
    with db.transaction() as session:
        job = session.exec(
            select(BackgroundJob).where(BackgroundJob.id == job_id).with_for_update()
        ).first()
        if job is None:
            return None
        if job.status == "running":
            started = job.locked_at
            stale = started is None or started <= now - dt.timedelta(seconds=stale_after_s)
            if not (redelivered or stale):
                return None
            if job.attempts >= job.max_attempts:
                job.status = "failed"
                job.finished_at = now
                job.error = f"worker lost {job.attempts} times while running this job"
                session.add(job)
                log.error(
                    "job %s (%s): worker lost %d times; failed", job.id, job.kind, job.attempts
                )
                return None
        elif job.status not in (QUEUED, "pending") or job.run_after > now:
            return None
        job.status = "running"
        job.locked_by = worker
        job.locked_at = now
        job.attempts += 1
        session.add(job)
        session.flush()
        return job
