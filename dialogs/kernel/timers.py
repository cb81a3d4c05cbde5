"""Reminders and timed actions that survive restarts and never fire twice: the machinery.

The ``schedule_reminder`` table is the truth: a row per reminder with a unique dedupe
key and a status. Firing one is a single database transaction that claims the row
with ``UPDATE ... SET status='sent' WHERE id=? AND status='pending'``, asks the rule of
its kind (declared by a feature: ``Feature.reminders``) whether it still makes sense and
what to send, and writes the messages to the outbox. A crash before the commit leaves
it pending; a second firer finds nothing to claim. A reminder that is no longer
relevant is marked ``skipped``; one that comes too late to help is marked ``stale`` and
logged.

APScheduler (3.x) with a SQLAlchemy job store in the same database triggers each
reminder on time, in exactly one process of the deployment: the holder of the
``schedule_lease`` row (taken and renewed with an atomic UPDATE). Every tick the
leader also sweeps due reminders, so a job lost by the job store is still fired, runs
the features' planners (reminders nobody planned at creation) and their periodic tasks.

The kinds and their rules live with their features: ``slot_before``, ``slot_start``,
``no_show`` (:mod:`dialogs.scheduling.timed`), ``invite_expiring``, ``invite_expired``
(:mod:`dialogs.invitations.timed`), ``nudge`` (:mod:`dialogs.interview.timed`) and
``contract_expiry`` (:mod:`dialogs.contracting.timed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import socket
import uuid
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.errors import describe_error
from core.settings import Settings
from dialogs.kernel.catalog import t
from dialogs.kernel.context import Services
from dialogs.kernel.intents import Intent, Send
from dialogs.kernel.notify import hr_group_chats
from dialogs.kernel.outbox import write_intents
from dialogs.kernel.timing import Outcome
from storage.db import Database
from storage.models import Candidate, FunnelEvent, InterviewSession, Job
from storage.schedule_models import APSCHEDULER_TABLE, Lease, Reminder

log = logging.getLogger(__name__)

# Interview states in which nobody is reminded of anything any more.
FINAL_STATES = ("done", "declined", "locked")
LEASE_NAME = "reminder-scheduler"
# How APScheduler's job store refers to the function it calls (stored in its rows).
FIRE_REFERENCE = "dialogs.kernel.timers:fire_reminder"


# ====================================================================== planning
def add_reminder(
    session: Session,
    *,
    kind: str,
    key: str,
    due_at: dt.datetime,
    now: dt.datetime,
    candidate_id: int | None = None,
    booking_id: int | None = None,
    job_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> Reminder:
    """Add a reminder inside the caller's transaction; the same ``key`` twice adds one."""
    existing = session.exec(select(Reminder).where(Reminder.dedupe_key == key)).first()
    if existing is not None:
        return existing
    reminder = Reminder(
        kind=kind,
        dedupe_key=key,
        due_at=due_at,
        candidate_id=candidate_id,
        booking_id=booking_id,
        job_id=job_id,
        payload=json.dumps(payload or {}, ensure_ascii=False),
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(reminder)
            session.flush()
    except IntegrityError:
        # Another transaction planned the same reminder first: keep theirs.
        return session.exec(select(Reminder).where(Reminder.dedupe_key == key)).one()
    return reminder


# ====================================================================== firing
class Reminders:
    """Fires reminders against the database; driven by a clock (FakeClock in tests)."""

    def __init__(self, db: Database, services: Services) -> None:
        self.db = db
        self.services = services

    @property
    def settings(self) -> Settings:
        return self.services.settings

    def fire(self, reminder_id: int) -> str:
        """Fire one reminder at most once.

        Returns:
            ``sent``, ``stale``, ``skipped``, ``rearm``, ``failed``, ``not_due`` or
            ``noop`` (already fired, cancelled or claimed by another process).
        """
        now = self.services.clock.now()
        try:
            with self.db.transaction() as session:
                claimed = session.execute(
                    update(Reminder)
                    .where(
                        col(Reminder.id) == reminder_id,
                        col(Reminder.status) == "pending",
                        col(Reminder.due_at) <= now,
                    )
                    .values(status="sent", fired_at=now)
                )
                if claimed.rowcount != 1:  # type: ignore[attr-defined]
                    row = session.get(Reminder, reminder_id)
                    return "not_due" if row is not None and row.status == "pending" else "noop"
                reminder = session.exec(
                    select(Reminder)
                    .where(Reminder.id == reminder_id)
                    .execution_options(populate_existing=True)
                ).one()
                outcome = self._apply(session, reminder, now)
                if outcome.status == "rearm" and outcome.due_at is not None:
                    reminder.status = "pending"
                    reminder.fired_at = None
                    reminder.due_at = outcome.due_at
                    reminder.registered = False
                elif outcome.status != "sent":
                    reminder.status = outcome.status
                reminder.note = outcome.note[:500]
                session.add(reminder)
                write_intents(
                    session, outcome.intents, source_event=f"reminder:{reminder_id}", now=now
                )
                kind, due = reminder.kind, reminder.due_at
        except Exception as exc:
            log.exception("reminder %s failed", reminder_id)
            with self.db.transaction() as session:
                session.execute(
                    update(Reminder)
                    .where(col(Reminder.id) == reminder_id, col(Reminder.status) == "pending")
                    .values(status="failed", note=describe_error(exc)[:500])
                )
            return "failed"
        if outcome.status == "stale":
            log.warning(
                "reminder %s (%s, due %s) dropped as stale: %s",
                reminder_id,
                kind,
                due.isoformat(),
                outcome.note,
            )
        elif outcome.status == "skipped":
            log.info("reminder %s (%s) skipped: %s", reminder_id, kind, outcome.note)
        else:
            log.info("reminder %s (%s) %s", reminder_id, kind, outcome.status)
        return outcome.status

    def run_due(self, limit: int = 500) -> list[tuple[int, str]]:
        """Fire every pending reminder that is due (start-up recovery and the sweep)."""
        now = self.services.clock.now()
        with self.db.session() as session:
            ids = session.exec(
                select(Reminder.id)
                .where(Reminder.status == "pending", Reminder.due_at <= now)
                .order_by(col(Reminder.due_at), col(Reminder.id))
                .limit(limit)
            ).all()
        return [(rid, self.fire(rid)) for rid in ids if rid is not None]

    def plan(self, limit: int = 500) -> int:
        """Plan reminders nobody planned at creation (the features' planners)."""
        now = self.services.clock.now()
        added = 0
        with self.db.transaction() as session:
            for planner in self.services.features.planners():
                added += planner(session, self.settings, now, limit)
        return added

    def _apply(self, session: Session, reminder: Reminder, now: dt.datetime) -> Outcome:
        rule = self.services.features.reminder_rule(reminder.kind)
        if rule is None:
            return Outcome("skipped", f"unknown kind {reminder.kind}")
        return rule(session, reminder, json.loads(reminder.payload or "{}"), now, self.settings)


# ====================================================================== helpers for rules
def candidate_chat(session: Session, candidate_id: int) -> InterviewSession | None:
    """The candidate's interview chat, if they opened their invitation."""
    return session.exec(
        select(InterviewSession).where(InterviewSession.candidate_id == candidate_id)
    ).first()


def job_title(session: Session, job_id: int, lang: str) -> str:
    job = session.get(Job, job_id)
    if job is None:
        return ""
    return job.title_zh if lang == "zh" else job.title_en


def record_funnel(
    session: Session, candidate_id: int, job_id: int, stage: str, now: dt.datetime
) -> None:
    exists = session.exec(
        select(FunnelEvent.id).where(
            FunnelEvent.candidate_id == candidate_id, FunnelEvent.stage == stage
        )
    ).first()
    if exists is None and session.get(Candidate, candidate_id) is not None:
        session.add(FunnelEvent(candidate_id=candidate_id, job_id=job_id, stage=stage, at=now))


def hr_intents(session: Session, job_id: int, key: str, **kwargs: Any) -> list[Intent]:
    """A catalogue message to every HR group of the job, each in the group's language.

    A keyword value that is callable is called with the group's language (dates, durations).
    """
    out: list[Intent] = []
    for group in hr_group_chats(session, job_id):
        args = {k: (v(group.lang) if callable(v) else v) for k, v in kwargs.items()}
        out.append(
            Send(platform=group.platform, chat_id=group.chat_id, text=t(group.lang, key, **args))
        )
    return out


# ====================================================================== the one scheduler
def take_lease(
    db: Database, *, owner: str, ttl_s: float, now: dt.datetime, name: str = LEASE_NAME
) -> bool:
    """Take or renew the scheduler lease; True if ``owner`` holds it now.

    One atomic ``UPDATE ... WHERE owner = me OR expired``; the first start inserts the row.
    """
    until = now + dt.timedelta(seconds=ttl_s)
    with db.transaction() as session:
        result = session.execute(
            update(Lease)
            .where(
                col(Lease.name) == name,
                or_(col(Lease.owner) == owner, col(Lease.expires_at) <= now),
            )
            .values(owner=owner, expires_at=until, renewed_at=now)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            return True
        if session.get(Lease, name) is not None:
            return False
        try:
            with session.begin_nested():
                session.add(Lease(name=name, owner=owner, expires_at=until, renewed_at=now))
                session.flush()
        except IntegrityError:
            return False
        return True


def release_lease(db: Database, *, owner: str, name: str = LEASE_NAME) -> None:
    """Give the lease up at shutdown so a standby takes over at once."""
    with db.transaction() as session:
        session.execute(
            update(Lease)
            .where(col(Lease.name) == name, col(Lease.owner) == owner)
            .values(owner="", expires_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        )


# The Reminders of the process that leads; APScheduler jobs call fire_reminder(id).
_ACTIVE: Reminders | None = None


def fire_reminder(reminder_id: int) -> None:
    """The APScheduler job function (stored by reference in the job store)."""
    active = _ACTIVE
    if active is None:
        log.warning("reminder %s triggered but no scheduler is active in this process", reminder_id)
        return
    active.fire(reminder_id)


class ReminderScheduler:
    """Leads (lease held) or stands by; the leader runs APScheduler and the sweep.

    ``tick()`` is one step: renew or take the lease; as leader, plan, fire what is
    due, and hand upcoming reminders to APScheduler's persistent job store.
    """

    def __init__(
        self,
        db: Database,
        services: Services,
        *,
        owner: str | None = None,
        use_apscheduler: bool = True,
    ) -> None:
        self.db = db
        self.services = services
        self.reminders = Reminders(db, services)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.use_apscheduler = use_apscheduler
        self.leader = False
        self._aps: Any = None

    def tick(self) -> None:
        settings = self.services.settings.schedule
        now = self.services.clock.now()
        if take_lease(self.db, owner=self.owner, ttl_s=settings.lease_seconds, now=now):
            if not self.leader:
                log.info("reminder scheduler %s leads", self.owner)
                self.leader = True
                self._start_aps()
            self.reminders.plan()
            self.reminders.run_due()
            self._register()
            # Features' periodic tasks (the daily retention sweep) ride on the leader.
            for task in self.services.features.periodic_tasks():
                task(self.db, self.services)
        elif self.leader:
            log.warning("reminder scheduler %s lost its lease; standing by", self.owner)
            self._stop_aps()
            self.leader = False

    def stop(self) -> None:
        self._stop_aps()
        if self.leader:
            release_lease(self.db, owner=self.owner)
            self.leader = False

    async def run(self, stop: asyncio.Event) -> None:
        """Tick every ``schedule.sync_seconds`` until ``stop`` is set."""
        interval = self.services.settings.schedule.sync_seconds
        try:
            while not stop.is_set():
                try:
                    await asyncio.to_thread(self.tick)
                except Exception:
                    log.exception("reminder scheduler tick failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval)
        finally:
            await asyncio.to_thread(self.stop)

    # -- APScheduler ---------------------------------------------------------------
    def _start_aps(self) -> None:
        global _ACTIVE
        _ACTIVE = self.reminders
        if not self.use_apscheduler or self._aps is not None:
            return
        from zoneinfo import ZoneInfo

        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from apscheduler.schedulers.background import BackgroundScheduler

        self._aps = BackgroundScheduler(
            jobstores={
                "default": SQLAlchemyJobStore(engine=self.db.engine, tablename=APSCHEDULER_TABLE)
            },
            executors={"default": ThreadPoolExecutor(2)},
            # No misfire limit: late jobs run once and fire() decides if they are stale.
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
            timezone=ZoneInfo("UTC"),
        )
        self._aps.start()

    def _stop_aps(self) -> None:
        global _ACTIVE
        if self._aps is not None:
            self._aps.shutdown(wait=True)
            self._aps = None
        if _ACTIVE is self.reminders:
            _ACTIVE = None

    def _register(self, limit: int = 500) -> int:
        """Hand pending reminders to the job store (once each; re-armed ones again)."""
        if self._aps is None:
            return 0
        with self.db.session() as session:
            rows = session.exec(
                select(Reminder.id, Reminder.due_at)
                .where(Reminder.status == "pending", Reminder.registered == False)  # noqa: E712
                .order_by(col(Reminder.due_at))
                .limit(limit)
            ).all()
        for rid, due in rows:
            self._aps.add_job(
                FIRE_REFERENCE,
                trigger="date",
                run_date=due,
                args=[rid],
                id=f"reminder:{rid}",
                replace_existing=True,
            )
            with self.db.transaction() as session:
                session.execute(
                    update(Reminder).where(col(Reminder.id) == rid).values(registered=True)
                )
        return len(rows)
