"""Runs background jobs from the database queue in a thread pool, off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlmodel import Session, select

from core.errors import InterviewerError
from dialogs.kernel.context import Services
from dialogs.kernel.intents import Intent
from dialogs.kernel.outbox import write_intents
from storage import queue
from storage.db import Database
from storage.models import BackgroundJob

log = logging.getLogger(__name__)


@dataclass
class JobContext:
    db: Database
    services: Services

    def emit(self, session: Session, intents: Sequence[Intent], *, source: str) -> None:
        """Write intents to the outbox inside the handler's transaction."""
        write_intents(session, intents, source_event=source, now=self.services.clock.now())

    def enqueue(
        self, session: Session, kind: str, payload: dict[str, object], *, key: str | None = None
    ) -> None:
        queue.enqueue(session, kind, dict(payload), key=key, now=self.services.clock.now())

    def claim_result(self, session: Session, job: BackgroundJob) -> bool:
        """Inside the handler's result transaction: True the first time only.

        Marks the job done in the same transaction that writes its messages, so a job
        run again (the worker died after the commit, or a restart's
        :func:`storage.queue.recover_stale` handed a still-running job to a second
        worker) finds it done and sends nothing twice. The row is locked
        (``FOR UPDATE`` on PostgreSQL; SQLite has one writer) so two runs cannot both
        pass.
        """
        row = session.exec(
            select(BackgroundJob).where(BackgroundJob.id == job.id).with_for_update()
        ).first()
        if row is None or row.status == "done":
            return False
        queue.finish(session, job.id or 0, now=self.services.clock.now())
        return True

    def emit_once(
        self, job: BackgroundJob, intents: Sequence[Intent], *, source: str, forget: str = ""
    ) -> bool:
        """Send ``intents`` for ``job`` unless an earlier run did; False if it had.

        Claims the result and writes the intents in one transaction; ``forget`` names a
        payload field (sealed tokens) blanked in that transaction once it is used.
        """
        with self.db.transaction() as session:
            if not self.claim_result(session, job):
                return False
            self.emit(session, intents, source=source)
            row = session.get(BackgroundJob, job.id)
            if forget and row is not None:
                row.payload = {**row.payload, forget: ""}
                session.add(row)
        return True


class JobHandler(Protocol):
    def __call__(self, job: BackgroundJob, ctx: JobContext, /) -> None:
        """Do the work; commit results (and intents) in its own transaction.

        Raise ``InterviewerError`` with a message for a failure worth retrying or
        recording; the job keeps its payload and error for an admin retry.
        """
        ...


class Worker:
    def __init__(
        self,
        db: Database,
        services: Services,
        handlers: dict[str, JobHandler],
        *,
        name: str | None = None,
        others: Collection[str] = (),
    ) -> None:
        self.db = db
        self.services = services
        self.handlers = handlers
        # kinds another worker of this process takes (its own queue): not "unhandled"
        self.others = frozenset(others)
        self.name = name or f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.ctx = JobContext(db=db, services=services)

    def run_one(self) -> bool:
        """Claim and run one due job; False when there was none."""
        if not self.handlers:
            return False
        job = queue.claim(
            self.db, worker=self.name, kinds=list(self.handlers), clock=self.services.clock
        )
        if job is None:
            return False
        self.execute(job)
        return True

    def execute(self, job: BackgroundJob) -> str:
        """Run a claimed job's handler and record the outcome; the job's new status.

        Shared by the in-process loop and the Celery task (``app/celery_jobs.py``).
        """
        handler = self.handlers.get(job.kind)
        if handler is None:
            return queue.fail(
                self.db,
                job.id or 0,
                InterviewerError("no handler for this job kind"),
                clock=self.services.clock,
                retryable=False,
            )
        try:
            handler(job, self.ctx)
        except InterviewerError as exc:
            status = queue.fail(
                self.db,
                job.id or 0,
                exc,
                clock=self.services.clock,
                retryable=True,
            )
            log.warning(
                "job %s (%s) failed: %s -> %s", job.id, job.kind, type(exc).__name__, status
            )
            return status
        except Exception as exc:
            log.exception("job %s (%s) crashed", job.id, job.kind)
            return queue.fail(
                self.db,
                job.id or 0,
                exc,
                clock=self.services.clock,
                retryable=True,
            )
        with self.db.transaction() as session:
            queue.finish(session, job.id or 0, now=self.services.clock.now())
        return "done"

    def drain(self, limit: int = 10_000) -> int:
        """Run jobs until none is due (demo, tests)."""
        done = 0
        while done < limit and self.run_one():
            done += 1
        return done

    def unhandled(self) -> dict[str, int]:
        """Waiting jobs of kinds no handler here takes (a feature or channel not running)."""
        waiting = queue.pending_kinds(self.db)
        return {
            kind: n
            for kind, n in sorted(waiting.items())
            if kind not in self.handlers and kind not in self.others
        }

    def reject_unhandled(self) -> dict[str, int]:
        """At start-up: waiting jobs of a kind no handler takes (a feature removed, a
        channel switched off) are failed with the reason, not left waiting unseen."""
        unknown = self.unhandled()
        queue.fail_kinds(self.db, sorted(unknown), clock=self.services.clock)
        for kind, count in unknown.items():
            log.error(
                "jobs: %d waiting of kind %r, which no handler takes: marked failed "
                "(python main.py jobs failed; jobs retry ID once a handler exists)",
                count,
                kind,
            )
        return unknown

    async def run(self, stop: asyncio.Event, *, concurrency: int | None = None) -> None:
        queue.recover_stale(self.db, clock=self.services.clock)
        await asyncio.to_thread(self.reject_unhandled)
        count = concurrency or self.services.settings.workers.count
        poll = self.services.settings.workers.poll_seconds

        async def loop() -> None:
            while not stop.is_set():
                ran = await asyncio.to_thread(self.run_one)
                if not ran:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=poll)

        await asyncio.gather(*(loop() for _ in range(count)))
