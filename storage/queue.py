"""Background jobs in the database: enqueue, claim, finish, retry, resume after restart."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import func, or_, update
from sqlmodel import Session, col, select

from core.clock import Clock
from core.errors import describe_error
from storage.db import Database, insert_ignoring_duplicates, table_of
from storage.models import BackgroundJob

log = logging.getLogger(__name__)

_JOBS = table_of(BackgroundJob)
# Per dialect: a repeated key inserts nothing (the unique index decides, no SELECT first).
_ADD = {name: insert_ignoring_duplicates(_JOBS, name, "key") for name in ("sqlite", "postgresql")}


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    now: dt.datetime,
    key: str | None = None,
    delay_s: float = 0,
    max_attempts: int = 3,
) -> BackgroundJob:
    """Add a job inside the caller's transaction; a repeated ``key`` returns the existing job."""
    if key:
        existing = session.exec(select(BackgroundJob).where(BackgroundJob.key == key)).first()
        if existing is not None:
            return existing
    job = BackgroundJob(
        kind=kind,
        key=key,
        payload=dict(payload),
        max_attempts=max_attempts,
        run_after=now + dt.timedelta(seconds=delay_s),
        created_at=now,
    )
    session.add(job)
    session.flush()
    return job


def add(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    now: dt.datetime,
    key: str | None = None,
    delay_s: float = 0,
    max_attempts: int = 3,
) -> bool:
    """Like :func:`enqueue` in one statement, without loading the job; False if ``key``
    is already queued (the existing job is kept)."""
    row = {
        "kind": kind,
        "key": key,
        "payload": dict(payload),
        "status": "pending",
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_after": now + dt.timedelta(seconds=delay_s),
        "locked_by": None,
        "locked_at": None,
        "error": None,
        "created_at": now,
        "finished_at": None,
    }
    return session.execute(_ADD[session.get_bind().dialect.name], row).first() is not None


def pending_kinds(db: Database) -> dict[str, int]:
    """Kinds of the jobs waiting to run, with how many wait of each."""
    with db.session() as session:
        rows = session.execute(
            select(BackgroundJob.kind, func.count())
            .where(BackgroundJob.status == "pending")
            .group_by(col(BackgroundJob.kind))
        ).all()
    return {str(kind): int(count) for kind, count in rows}


def claim(db: Database, *, worker: str, kinds: list[str], clock: Clock) -> BackgroundJob | None:
    """Atomically take the oldest due job of the given kinds, or None."""
    now = clock.now()
    with db.transaction() as session:
        candidates = session.exec(
            select(BackgroundJob.id)
            .where(BackgroundJob.status == "pending")
            .where(col(BackgroundJob.kind).in_(kinds))
            .where(BackgroundJob.run_after <= now)
            .order_by(col(BackgroundJob.run_after), col(BackgroundJob.id))
            .limit(5)
        ).all()
        for job_id in candidates:
            result = session.execute(
                update(BackgroundJob)
                .where(col(BackgroundJob.id) == job_id, col(BackgroundJob.status) == "pending")
                .values(
                    status="running",
                    locked_by=worker,
                    locked_at=now,
                    attempts=BackgroundJob.attempts + 1,
                )
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                return session.get(BackgroundJob, job_id)
    return None


def finish(session: Session, job_id: int, *, now: dt.datetime) -> None:
    job = session.get(BackgroundJob, job_id)
    if job is not None:
        job.status = "done"
        job.finished_at = now
        job.error = None
        session.add(job)


def fail(
    db: Database, job_id: int, error: BaseException, *, clock: Clock, retryable: bool = True
) -> str:
    """Record a failure; retry later with backoff unless attempts are used up.

    The job keeps :func:`~core.errors.describe_error` of ``error`` (type and a safe
    message, or where it was raised), never the exception's text: it can hold user input.

    Returns:
        the job's new status (``pending`` or ``failed``).
    """
    now = clock.now()
    with db.transaction() as session:
        job = session.get(BackgroundJob, job_id)
        if job is None:
            return "missing"
        job.error = describe_error(error)[:2000]
        job.locked_by = None
        if retryable and job.attempts < job.max_attempts:
            job.status = "pending"
            job.run_after = now + dt.timedelta(seconds=min(300, 2**job.attempts))
        else:
            job.status = "failed"
            job.finished_at = now
        session.add(job)
        return job.status


def fail_kinds(db: Database, kinds: list[str], *, clock: Clock) -> int:
    """Fail the waiting jobs of ``kinds`` (no handler takes them), so that they show in
    ``python main.py jobs failed`` and can be retried once one does; how many."""
    if not kinds:
        return 0
    now = clock.now()
    with db.transaction() as session:
        result = session.execute(
            update(BackgroundJob)
            .where(col(BackgroundJob.status) == "pending", col(BackgroundJob.kind).in_(kinds))
            .values(status="failed", finished_at=now, error="no handler for this job kind")
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def retry(db: Database, job_id: int, *, clock: Clock) -> bool:
    """Put a failed job back in the queue (admin command)."""
    with db.transaction() as session:
        job = session.get(BackgroundJob, job_id)
        if job is None or job.status != "failed":
            return False
        job.status = "pending"
        job.attempts = 0
        job.run_after = clock.now()
        job.error = None
        session.add(job)
        return True


def recover_stale(db: Database, *, clock: Clock, older_than_s: float = 0) -> int:
    """Jobs left ``running`` by a dead worker go back to ``pending`` (run at start)."""
    cutoff = clock.now() - dt.timedelta(seconds=older_than_s)
    with db.transaction() as session:
        result = session.execute(
            update(BackgroundJob)
            .where(col(BackgroundJob.status) == "running")
            .where(
                or_(col(BackgroundJob.locked_at).is_(None), col(BackgroundJob.locked_at) <= cutoff)
            )
            .values(status="pending", locked_by=None)
        )
        count = int(result.rowcount)  # type: ignore[attr-defined]
    if count:
        log.info("resumed %d background jobs left running by a previous process", count)
    return count
