"""Reminders driven by a FakeClock: every kind, restarts, races, the one-scheduler lease.

The FakeClock starts on Monday 2026-01-05 09:00 UTC. The booked slot in most tests is
Wednesday 2026-01-07 09:00-09:30 Shanghai time (01:00 UTC).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlmodel import select

from app.wiring import App, build_app
from core.clock import FakeClock
from core.settings import Settings
from dialogs.contracting.timed import CONTRACT_EXPIRY, schedule_contract_expiry
from dialogs.invitations.timed import plan_invitation, plan_invitations
from dialogs.kernel.timers import Reminders, ReminderScheduler, add_reminder, take_lease
from storage.models import FunnelEvent, Invitation, Job
from storage.schedule_models import APSCHEDULER_TABLE, Booking
from tests.dialogs.schedule_helpers import (
    bookings,
    candidate_id,
    local,
    outbox_texts,
    reminders,
    to_schedule,
)
from tests.harness import Chat, RecordingMessenger

SLOT = local(2026, 1, 7, 9)


@pytest.fixture
def sched(chat: Chat) -> Chat:
    chat.create_job()
    chat.send("admin", "/bind sales", group="hr-room")
    return chat


def book(chat: Chat, user: str = "alex", name: str = "Alex Chen") -> Booking:
    chat.send("hr", "/slots add sales 2026-01-07 09:00-09:30")
    to_schedule(chat, user, name)
    chat.send(user, "/press sch:day:any")
    offered = chat.send(user, "/press sch:part:any")[-1].button_data
    chat.send(user, f"/press {offered[0]}")
    return bookings(chat.app)[-1]


def fire_due(chat: Chat) -> list[tuple[int, str]]:
    fired = Reminders(chat.app.db, chat.app.services).run_due()
    chat.flush()
    return fired


def texts(chat: Chat, chat_id: str, needle: str) -> list[str]:
    return [t for t in outbox_texts(chat.app, chat_id) if needle in t]


def test_before_and_start_reminders_fire_once_each_on_time(sched: Chat, clock: FakeClock) -> None:
    book(sched)
    assert fire_due(sched) == []
    clock.set(SLOT - dt.timedelta(hours=24, seconds=1))
    assert fire_due(sched) == []  # one second early
    clock.advance(seconds=1)
    assert [o for _, o in fire_due(sched)] == ["sent"]
    assert texts(sched, "alex", "Reminder:") == [
        "Reminder: your interview for Sales rep is at Wed 2026-01-07 09:00-09:30 (Asia/Shanghai) — in 24 hours."
    ]
    assert fire_due(sched) == []  # nothing twice

    clock.set(SLOT - dt.timedelta(hours=1))
    assert [o for _, o in fire_due(sched)] == ["sent"]
    assert texts(sched, "alex", "Reminder:")[-1].endswith("in 60 minutes.")
    clock.set(SLOT)
    assert [o for _, o in fire_due(sched)] == ["sent"]
    start = [d for d in sched.messenger.to("alex") if "starts now" in d.text]
    assert len(start) == 1 and start[0].button_data == ["sch:go"]
    assert fire_due(sched) == []
    assert len(texts(sched, "alex", "Reminder:")) == 2


def test_reminders_of_a_cancelled_booking_never_fire(sched: Chat, clock: FakeClock) -> None:
    booking = book(sched)
    sched.send("alex", "/press sch:cx")
    assert {r.status for r in reminders(sched.app, booking_id=booking.id)} == {"cancelled"}
    clock.set(SLOT + dt.timedelta(hours=3))
    fire_due(sched)
    assert texts(sched, "alex", "Reminder:") == []
    assert bookings(sched.app)[0].status == "cancelled"


def test_no_show_is_marked_after_the_slot(sched: Chat, clock: FakeClock) -> None:
    book(sched)
    clock.set(SLOT + dt.timedelta(minutes=30 + 15))
    outcomes = dict((r.kind, r.status) for r in reminders(sched.app))
    assert outcomes["no_show"] == "pending"
    fire_due(sched)
    by_kind = {r.kind: r.status for r in reminders(sched.app)}
    # everything was due at once after a quiet period: the old ones are stale, the no-show is recorded
    assert by_kind == {"slot_before": "stale", "slot_start": "stale", "no_show": "sent"}
    assert bookings(sched.app)[0].status == "no_show"
    cid = candidate_id(sched.app, "alex")
    with sched.app.db.session() as session:
        stages = set(
            session.exec(select(FunnelEvent.stage).where(FunnelEvent.candidate_id == cid)).all()
        )
    assert {"scheduled", "no_show"} <= stages
    missed = [d for d in sched.messenger.to("alex") if "missed you" in d.text]
    assert len(missed) == 1 and missed[0].button_data == ["sch:rs"]
    assert any(
        d.text
        == f"⏰ Candidate #{cid} did not show up for Wed 2026-01-07 09:00-09:30 (Asia/Shanghai)."
        for d in sched.messenger.to("hr-room")
    )
    # the candidate can book again after a no-show
    sched.send("hr", "/slots add sales 2026-01-09 09:00-09:30")
    replies = sched.send("alex", "/press sch:rs")
    assert any(d.startswith("sch:b:") for d in replies[-1].button_data)


def test_invitation_expiry_warning_and_expiry(sched: Chat, clock: FakeClock) -> None:
    token, _ = sched.invite("Opened Only")
    sched.invite("Never Opened")
    sched.send("olly", f"/start {token}", lang="en")  # opened, never confirmed identity
    with sched.app.db.session() as session:
        invs = list(session.exec(select(Invitation).order_by(Invitation.id)).all())  # type: ignore[arg-type]
    expires = invs[0].expires_at
    scheduler = ReminderScheduler(sched.app.db, sched.app.services, use_apscheduler=False)

    clock.set(expires - dt.timedelta(hours=30))
    scheduler.tick()  # plans the invitation reminders (expiry within the horizon)
    invite_kinds = sorted(r.kind for r in reminders(sched.app) if r.kind.startswith("invite"))
    assert invite_kinds == ["invite_expired"] * 2 + ["invite_expiring"] * 2
    clock.set(expires - dt.timedelta(hours=24))
    scheduler.tick()
    sched.flush()
    warned = texts(sched, "olly", "expires in")
    assert warned == [
        "Your invitation for Sales rep expires in 24 hours. Send /resume to continue your interview."
    ]
    assert {r.note for r in reminders(sched.app, kind="invite_expiring")} == {
        "",
        "the candidate has no open chat",
    }

    clock.set(expires + dt.timedelta(minutes=1))
    scheduler.tick()
    sched.flush()
    with sched.app.db.session() as session:
        assert {i.status for i in session.exec(select(Invitation)).all()} == {"expired"}
        assert (
            len(session.exec(select(FunnelEvent).where(FunnelEvent.stage == "expired")).all()) == 2
        )
    assert texts(sched, "olly", "expired") == [
        "This invitation has expired. Please ask the company's HR for a new one."
    ]
    assert sum("expired unused" in d.text for d in sched.messenger.to("hr-room")) == 2
    scheduler.tick()
    assert len(texts(sched, "olly", "expired")) == 1


def test_many_invitations_are_planned_in_one_statement_and_only_once(
    sched: Chat, clock: FakeClock
) -> None:
    for name in ("Ann Bo", "Ben Cu", "Cat Du"):
        sched.invite(name)
    with sched.app.db.session() as session:
        invs = list(session.exec(select(Invitation).order_by(Invitation.id)).all())  # type: ignore[arg-type]
    settings = sched.app.settings
    invs[2].expires_at = clock.now() + dt.timedelta(hours=2)  # too close for a warning
    with sched.app.db.transaction() as session:
        assert plan_invitations(session, settings, invs, now=clock.now()) == 5
    with sched.app.db.transaction() as session:  # again, as a re-run would: nothing added
        plan_invitations(session, settings, invs, now=clock.now())
    planned = reminders(sched.app)
    assert [(r.kind, r.candidate_id, r.due_at) for r in planned] == [
        ("invite_expired", invs[2].candidate_id, invs[2].expires_at),
        ("invite_expiring", invs[0].candidate_id, invs[0].expires_at - dt.timedelta(hours=24)),
        ("invite_expiring", invs[1].candidate_id, invs[1].expires_at - dt.timedelta(hours=24)),
        ("invite_expired", invs[0].candidate_id, invs[0].expires_at),
        ("invite_expired", invs[1].candidate_id, invs[1].expires_at),
    ]
    assert {r.dedupe_key for r in planned} == {
        *(f"invite_expired:{i.id}" for i in invs),
        *(f"invite_expiring:{i.id}" for i in invs[:2]),
    }
    with sched.app.db.transaction() as session:  # one invitation: the same rows back
        again = plan_invitation(session, settings, invs[0], now=clock.now())
    assert sorted(r.id or 0 for r in again) == sorted(
        r.id or 0 for r in planned if r.candidate_id == invs[0].candidate_id
    )
    # the scheduler's sweep finds them planned and adds none
    clock.set(invs[0].expires_at - dt.timedelta(hours=30))
    assert Reminders(sched.app.db, sched.app.services).plan() == 0
    assert len(reminders(sched.app)) == 5


def test_nudge_once_per_idle_period_and_never_after_completion(
    sched: Chat, clock: FakeClock
) -> None:
    token, code = sched.invite("Alex Chen")
    sched.start_interview("alex", "Alex Chen", token, code)  # no slots: straight to questions
    scheduler = ReminderScheduler(sched.app.db, sched.app.services, use_apscheduler=False)
    clock.advance(hours=23)
    scheduler.tick()
    assert reminders(sched.app, kind="nudge") == []
    clock.advance(hours=2)
    scheduler.tick()
    scheduler.tick()
    assert texts(sched, "alex", "unfinished interview") == [
        "You have an unfinished interview for Sales rep. Send /resume to continue where you stopped."
    ]
    # activity, then another idle day: one more nudge
    sched.send("alex", "My answer to the first question.")
    clock.advance(hours=25)
    scheduler.tick()
    assert len(texts(sched, "alex", "unfinished interview")) == 2
    assert [r.status for r in reminders(sched.app, kind="nudge")] == ["sent", "sent"]


def test_nudge_skipped_when_the_candidate_came_back(sched: Chat, clock: FakeClock) -> None:
    token, code = sched.invite("Alex Chen")
    sched.start_interview("alex", "Alex Chen", token, code)
    svc = Reminders(sched.app.db, sched.app.services)
    clock.advance(hours=25)
    assert svc.plan() == 1
    sched.send("alex", "An answer, just before the nudge fires.")
    fire_due(sched)
    assert [(r.status, r.note) for r in reminders(sched.app, kind="nudge")] == [
        ("skipped", "the candidate was active again")
    ]
    assert texts(sched, "alex", "unfinished interview") == []


def test_contract_expiry_reminders_for_hr(sched: Chat, clock: FakeClock) -> None:
    sched.send("admin", "/bind sales", group="hr-zh", lang="zh")
    ends = clock.now() + dt.timedelta(days=40)
    with sched.app.db.transaction() as session:
        job = session.exec(select(Job)).one()
        planned = schedule_contract_expiry(
            session,
            sched.app.settings,
            contract_id=12,
            job_id=job.id or 0,
            ends_at=ends,
            now=clock.now(),
            label="#12 李娜",
        )
        again = schedule_contract_expiry(
            session,
            sched.app.settings,
            contract_id=12,
            job_id=job.id or 0,
            ends_at=ends,
            now=clock.now(),
            label="#12 李娜",
        )
    assert [r.due_at for r in planned] == [
        ends - dt.timedelta(days=30),
        ends - dt.timedelta(days=7),
    ]
    assert [r.id for r in again] == [r.id for r in planned]
    clock.set(ends - dt.timedelta(days=30))
    fire_due(sched)
    # each HR group reads it in its own language
    assert [d.text for d in sched.messenger.to("hr-room") if "#12" in d.text] == [
        "📄 Contract #12 李娜 ends on 2026-02-14 (in 30 days)."
    ]
    assert [d.text for d in sched.messenger.to("hr-zh") if "#12" in d.text] == [
        "📄 合同 #12 李娜 将于 2026-02-14 到期（还有 30 天）。"
    ]
    # the 7-day reminder, processed only after the contract ended, is dropped
    clock.set(ends + dt.timedelta(hours=1))
    assert [o for _, o in fire_due(sched)] == ["stale"]
    # a contract ending sooner than every reminder day gets one reminder now
    with sched.app.db.transaction() as session:
        soon = schedule_contract_expiry(
            session,
            sched.app.settings,
            contract_id=13,
            job_id=job.id or 0,
            ends_at=clock.now() + dt.timedelta(days=3),
            now=clock.now(),
        )
    assert [r.dedupe_key for r in soon] == ["contract_expiry:13:now"]
    with pytest.raises(ValueError, match="timezone-aware"), sched.app.db.session() as session:
        schedule_contract_expiry(
            session,
            sched.app.settings,
            contract_id=14,
            job_id=1,
            ends_at=dt.datetime(2027, 1, 1),
            now=clock.now(),
        )  # noqa: DTZ001


def test_restart_with_reminders_due_during_downtime(
    sched: Chat, clock: FakeClock, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """A crash, then downtime across two reminders: the stale one is dropped and logged,
    the relevant one fires once, and further restarts fire nothing again."""
    book(sched)
    first = ReminderScheduler(
        sched.app.db, sched.app.services, use_apscheduler=False, owner="proc-1"
    )
    first.tick()
    assert first.leader
    sched.app.db.engine.dispose()  # the process dies without releasing its lease

    clock.set(
        SLOT - dt.timedelta(minutes=50)
    )  # the 24 h reminder is 23 h late, the 1 h one 10 min late

    def restart(owner: str) -> tuple[App, ReminderScheduler]:
        app = build_app(settings, clock=clock)
        app.channels["console"] = sched.messenger
        scheduler = ReminderScheduler(app.db, app.services, use_apscheduler=False, owner=owner)
        scheduler.tick()
        return app, scheduler

    with caplog.at_level(logging.INFO, logger="dialogs.kernel.timers"):
        app2, second = restart("proc-2")
    assert second.leader
    stale = [r for r in caplog.records if "dropped as stale" in r.getMessage()]
    assert len(stale) == 1 and "slot_before" in stale[0].getMessage()
    by_minutes = {
        r.dedupe_key.rsplit(":", 1)[1]: r.status for r in reminders(app2, kind="slot_before")
    }
    assert by_minutes == {"1440": "stale", "60": "sent"}
    assert len(texts(sched, "alex", "Reminder:")) == 1
    second.tick()
    app2.db.engine.dispose()

    # another crash and restart: nothing fires twice
    app3, third = restart("proc-3")
    third.tick()
    assert len(texts(sched, "alex", "Reminder:")) == 1
    assert third.leader is False  # proc-2's lease is still valid
    app3.db.engine.dispose()

    # long downtime over the whole slot: the start message is stale, the no-show is still recorded once
    clock.set(SLOT + dt.timedelta(hours=3))
    app4, fourth = restart("proc-4")
    assert fourth.leader
    assert {r.kind: r.status for r in reminders(app4, kind="slot_start")} == {"slot_start": "stale"}
    assert bookings(app4)[0].status == "no_show"
    fourth.tick()
    assert sum("missed you" in t for t in outbox_texts(app4, "alex")) == 1
    assert texts(sched, "alex", "starts now") == []
    app4.db.engine.dispose()


def test_two_processes_fire_the_same_reminder_at_once(sched: Chat, clock: FakeClock) -> None:
    book(sched)
    clock.set(SLOT - dt.timedelta(hours=1))
    rid = next(
        r.id for r in reminders(sched.app, kind="slot_before") if r.dedupe_key.endswith(":60")
    )
    assert rid is not None
    barrier = threading.Barrier(2)
    results: list[str] = []

    def fire() -> None:
        barrier.wait(timeout=10)
        results.append(Reminders(sched.app.db, sched.app.services).fire(rid))

    threads = [threading.Thread(target=fire) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert sorted(results) == ["noop", "sent"]
    assert len(texts(sched, "alex", "in 60 minutes")) == 1


def test_exactly_one_scheduler_leads(sched: Chat, clock: FakeClock) -> None:
    a = ReminderScheduler(sched.app.db, sched.app.services, use_apscheduler=False, owner="a")
    b = ReminderScheduler(sched.app.db, sched.app.services, use_apscheduler=False, owner="b")
    a.tick()
    b.tick()
    assert (a.leader, b.leader) == (True, False)
    clock.advance(seconds=30)
    a.tick()  # renews
    clock.advance(seconds=45)
    b.tick()
    assert b.leader is False  # a renewed 45 s ago; the lease lasts 60 s
    clock.advance(seconds=20)  # a stopped renewing (hung or dead)
    b.tick()
    a.tick()
    assert (a.leader, b.leader) == (False, True)
    b.stop()  # a clean shutdown hands over at once
    a.tick()
    assert a.leader
    assert take_lease(sched.app.db, owner="c", ttl_s=60, now=clock.now()) is False


@pytest.fixture
def live_app(settings: Settings) -> Iterator[tuple[App, RecordingMessenger]]:
    """An app on the real clock, for APScheduler (which waits in real time)."""
    app = build_app(settings)
    messenger = RecordingMessenger()
    app.channels["console"] = messenger
    yield app, messenger
    app.db.engine.dispose()


def _contract_reminder(app: App, job_id: int, key: str, in_seconds: float) -> int:
    now = app.services.clock.now()
    with app.db.transaction() as session:
        r = add_reminder(
            session,
            kind=CONTRACT_EXPIRY,
            key=key,
            due_at=now + dt.timedelta(seconds=in_seconds),
            now=now,
            job_id=job_id,
            payload={
                "contract_id": key,
                "label": key,
                "ends_at": (now + dt.timedelta(days=10)).isoformat(),
            },
        )
        return r.id or 0


def _store_ids(app: App) -> set[str]:
    with app.db.engine.connect() as conn:
        return {row[0] for row in conn.execute(text(f"SELECT id FROM {APSCHEDULER_TABLE}"))}


def _wait(predicate: object, timeout: float = 8.0) -> bool:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_apscheduler_fires_from_its_persistent_job_store(
    live_app: tuple[App, RecordingMessenger],
) -> None:
    app, messenger = live_app
    chat = Chat(app, messenger)
    chat.languages["admin"] = "en"
    job = chat.create_job()
    chat.send("admin", "/bind sales", group="hr-room")

    # on time: APScheduler triggers it (the sweep ran before it was due)
    rid = _contract_reminder(app, job.id or 0, "c-1", 1.0)
    scheduler = ReminderScheduler(app.db, app.services, owner="live-1")
    scheduler.tick()
    try:
        assert f"reminder:{rid}" in _store_ids(app)
        assert _wait(lambda: reminders(app, id=rid)[0].status == "sent")
    finally:
        scheduler.stop()
    assert sum("c-1" in t for t in outbox_texts(app, "hr-room")) == 1

    # registered, then the process stops before it is due; it comes due during the downtime
    rid2 = _contract_reminder(app, job.id or 0, "c-2", 0.8)
    scheduler = ReminderScheduler(app.db, app.services, owner="live-2")
    scheduler.tick()
    scheduler.stop()
    assert f"reminder:{rid2}" in _store_ids(app)  # persisted across the stop
    time.sleep(1.2)
    restarted = ReminderScheduler(app.db, app.services, owner="live-3")
    restarted.tick()  # the job store and the sweep both see it: it fires once
    try:
        assert _wait(lambda: f"reminder:{rid2}" not in _store_ids(app))
        time.sleep(0.3)
    finally:
        restarted.stop()
    assert reminders(app, id=rid2)[0].status == "sent"
    assert sum("c-2" in t for t in outbox_texts(app, "hr-room")) == 1
