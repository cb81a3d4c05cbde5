"""Names the database keeps outlive the code's layout: job kinds in the queue, button
data in old chat messages, dialog flows, reminder kinds, interview states, and the
APScheduler job references written by the code before the features moved."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlmodel import select

from app.features import FEATURES
from app.wiring import App, build_app
from core.settings import Settings
from dialogs.contracting.timed import CONTRACT_EXPIRY
from dialogs.interview.timed import NUDGE
from dialogs.invitations.timed import INVITE_EXPIRED, INVITE_EXPIRING
from dialogs.kernel.registry import Registry
from dialogs.kernel.timers import ReminderScheduler, add_reminder
from dialogs.scheduling.timed import NO_SHOW, SLOT_BEFORE, SLOT_START
from storage.schedule_models import APSCHEDULER_TABLE, Reminder
from tests.harness import RecordingMessenger

# As stored by the code before features were packages (2026-12): never rename these.
JOB_KINDS = {
    "data_export",
    "finalize",
    "human_report",
    "rank",
    "ranking_chart",
    "schedule.import_candidates",
    "schedule.invite_sheet",
    "schedule.mail_invite",
    "stats_chart",
}
MODEL_JOB_KINDS = {"transcribe", "evaluate", "interview_completed", "code"}
BUTTON_PREFIXES = {"ask", "ct", "dec", "del", "hs"}
DIALOG_FLOWS = {"ask", "newjob"}
CANDIDATE_STATES = {"details_address", "details_id", "schedule"}
REMINDER_KINDS = {
    "slot_before",
    "slot_start",
    "no_show",
    "invite_expiring",
    "invite_expired",
    "nudge",
    "contract_expiry",
}
OLD_FIRE_REFERENCE = "dialogs.reminders:fire_reminder"


def test_the_features_keep_the_names_the_database_holds(settings: Settings) -> None:
    registry = Registry(FEATURES)
    assert set(registry.jobs) == JOB_KINDS
    assert set(registry.buttons) == BUTTON_PREFIXES
    assert set(registry.dialogs) == DIALOG_FLOWS
    assert set(registry.candidate_states) == CANDIDATE_STATES
    kinds = {SLOT_BEFORE, SLOT_START, NO_SHOW, INVITE_EXPIRING, INVITE_EXPIRED, NUDGE}
    assert kinds | {CONTRACT_EXPIRY} == REMINDER_KINDS
    assert set(registry.reminders) == REMINDER_KINDS
    app = build_app(settings)
    try:
        assert set(app.handlers) == JOB_KINDS | MODEL_JOB_KINDS
    finally:
        app.db.engine.dispose()


@pytest.fixture
def live_app(settings: Settings) -> Iterator[App]:
    """On the real clock: APScheduler waits in real time."""
    app = build_app(settings)
    app.channels["console"] = RecordingMessenger()
    yield app
    app.db.engine.dispose()


def _status(app: App, rid: int) -> str:
    with app.db.session() as session:
        row = session.exec(
            select(Reminder).where(Reminder.id == rid).execution_options(populate_existing=True)
        ).one()
        return row.status


def test_a_job_store_written_before_the_move_still_fires(live_app: App) -> None:
    app = live_app
    now = app.services.clock.now()
    with app.db.transaction() as session:
        row = add_reminder(
            session,
            kind=CONTRACT_EXPIRY,
            key="old-store",
            due_at=now + dt.timedelta(seconds=1.5),
            now=now,
            payload={
                "contract_id": "c-old",
                "label": "c-old",
                "ends_at": (now + dt.timedelta(days=10)).isoformat(),
            },
        )
        row.registered = True  # handed to the job store by the old code
        session.add(row)
        session.flush()
        rid = row.id or 0
    # What the old code wrote: a job whose function is referenced by its old path.
    old = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=app.db.engine, tablename=APSCHEDULER_TABLE)}
    )
    old.start(paused=True)
    old.add_job(
        OLD_FIRE_REFERENCE,
        trigger="date",
        run_date=now + dt.timedelta(seconds=1.5),
        args=[rid],
        id=f"reminder:{rid}",
        replace_existing=True,
    )
    old.shutdown(wait=False)

    scheduler = ReminderScheduler(app.db, app.services, owner="after-the-move")
    scheduler.tick()  # not due yet: only APScheduler, loading the old job, can fire it
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _status(app, rid) == "pending":
            time.sleep(0.05)
    finally:
        scheduler.stop()
    # fired once, by the old reference (sent, or skipped: no HR group is bound here)
    assert _status(app, rid) in ("sent", "skipped")
