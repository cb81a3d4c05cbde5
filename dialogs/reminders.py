"""Reminders and timed actions that survive restarts and never fire twice.

The ``schedule_reminder`` table is the truth: a row per reminder with a unique dedupe
key and a status. Firing one is a single database transaction that claims the row
with ``UPDATE ... SET status='sent' WHERE id=? AND status='pending'``, checks that the
reminder still makes sense (booking still active, slot not over ...) and writes the
messages to the outbox. A crash before the commit leaves it pending; a second firer
finds nothing to claim. A reminder that is no longer relevant is marked ``skipped``;
one that comes too late to help is marked ``stale`` and logged.

APScheduler (3.x) with a SQLAlchemy job store in the same database triggers each
reminder on time, in exactly one process of the deployment: the holder of the
``schedule_lease`` row (taken and renewed with an atomic UPDATE). Every tick the
leader also sweeps due reminders, so a job lost by the job store is still fired.

Kinds: ``slot_before`` (24 h / 1 h before, configurable), ``slot_start`` ("your
interview starts now" with a button), ``no_show`` (after the slot), ``invite_expiring``,
``invite_expired``, ``nudge`` (started but did not finish) and ``contract_expiry``
(for HR, see :func:`schedule_contract_expiry`).
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.errors import describe_error
from core.settings import Settings
from dialogs.catalog import t
from dialogs.context import Services
from dialogs.intents import Button, Intent, Send
from dialogs.notify import hr_group_chats
from dialogs.outbox import write_intents
from dialogs.slot_time import duration_text, slot_text, zone
from storage.db import Database, table_of
from storage.models import (
    AuditEvent,
    Candidate,
    FunnelEvent,
    InterviewSession,
    Invitation,
    Job,
)
from storage.schedule_models import APSCHEDULER_TABLE, Booking, Lease, Preference, Reminder, Slot

log = logging.getLogger(__name__)

SLOT_BEFORE = "slot_before"
SLOT_START = "slot_start"
NO_SHOW = "no_show"
INVITE_EXPIRING = "invite_expiring"
INVITE_EXPIRED = "invite_expired"
NUDGE = "nudge"
CONTRACT_EXPIRY = "contract_expiry"

FINAL_STATES = ("done", "declined", "locked")
LEASE_NAME = "reminder-scheduler"
_REMINDERS = table_of(Reminder)
# INSERT … ON CONFLICT (dedupe_key) DO NOTHING, per dialect: a reminder planned before stays.
_PLAN = {
    "sqlite": sqlite_insert(_REMINDERS).on_conflict_do_nothing(index_elements=["dedupe_key"]),
    "postgresql": pg_insert(_REMINDERS).on_conflict_do_nothing(index_elements=["dedupe_key"]),
}


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


def plan_booking(
    session: Session, settings: Settings, booking: Booking, slot: Slot, *, now: dt.datetime
) -> list[Reminder]:
    """Reminders before the slot, the start message and the no-show check."""
    bid = booking.id or 0

    def add(
        kind: str, key: str, due: dt.datetime, payload: dict[str, Any] | None = None
    ) -> Reminder:
        return add_reminder(
            session,
            kind=kind,
            key=key,
            due_at=due,
            now=now,
            candidate_id=booking.candidate_id,
            booking_id=bid,
            job_id=slot.job_id,
            payload=payload,
        )

    planned: list[Reminder] = []
    for hours in sorted(set(settings.schedule.remind_before_hours), reverse=True):
        due = slot.start_at - dt.timedelta(hours=hours)
        if due > now:
            minutes = round(hours * 60)
            planned.append(
                add(SLOT_BEFORE, f"{SLOT_BEFORE}:{bid}:{minutes}", due, {"minutes": minutes})
            )
    planned.append(add(SLOT_START, f"{SLOT_START}:{bid}", slot.start_at))
    grace = dt.timedelta(minutes=settings.schedule.no_show_grace_minutes)
    planned.append(add(NO_SHOW, f"{NO_SHOW}:{bid}", slot.end_at + grace))
    return planned


def cancel_for_booking(session: Session, booking_id: int, *, note: str) -> int:
    """Cancel the pending reminders of a booking (cancelled, rescheduled or started)."""
    result = session.execute(
        update(Reminder)
        .where(col(Reminder.booking_id) == booking_id, col(Reminder.status) == "pending")
        .values(status="cancelled", note=note)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def plan_invitation(
    session: Session, settings: Settings, invitation: Invitation, *, now: dt.datetime
) -> list[Reminder]:
    """A warning before an invitation expires, and the expiry itself."""
    plan_invitations(session, settings, [invitation], now=now)
    keys = [f"{kind}:{invitation.id}" for kind in (INVITE_EXPIRING, INVITE_EXPIRED)]
    return list(
        session.exec(
            select(Reminder).where(col(Reminder.dedupe_key).in_(keys)).order_by(col(Reminder.id))
        ).all()
    )


class PlannedInvitation(Protocol):
    """What planning needs of an invitation (an :class:`Invitation` or a plain row)."""

    @property
    def id(self) -> int | None: ...
    @property
    def candidate_id(self) -> int: ...
    @property
    def job_id(self) -> int: ...
    @property
    def expires_at(self) -> dt.datetime: ...


def plan_invitations(
    session: Session,
    settings: Settings,
    invitations: Sequence[PlannedInvitation],
    *,
    now: dt.datetime,
) -> int:
    """:func:`plan_invitation` for many invitations in one statement.

    One prebuilt ``INSERT … ON CONFLICT (dedupe_key) DO NOTHING`` executed for all the
    rows: no SELECT first and no savepoint per reminder (an invitation planned before,
    by another transaction too, keeps its reminders). A bulk import plans a batch of 25
    invitations in about a millisecond instead of a SELECT, a savepoint and a flush
    per reminder.

    Returns:
        how many reminders were asked for (existing ones included).
    """
    warning = dt.timedelta(hours=settings.schedule.invite_expiry_warning_hours)
    rows: list[dict[str, Any]] = []

    def row(kind: str, invitation: PlannedInvitation, due: dt.datetime) -> dict[str, Any]:
        return {
            "kind": kind,
            "dedupe_key": f"{kind}:{invitation.id}",
            "due_at": due,
            "status": "pending",
            "fired_at": None,
            "candidate_id": invitation.candidate_id,
            "booking_id": None,
            "job_id": invitation.job_id,
            "payload": json.dumps({"invitation_id": invitation.id}),
            "note": "",
            "registered": False,
            "created_at": now,
        }

    for invitation in invitations:
        if invitation.id is None:
            raise ValueError("plan_invitations needs flushed invitations (with ids)")
        if warning and invitation.expires_at - warning > now:
            rows.append(row(INVITE_EXPIRING, invitation, invitation.expires_at - warning))
        rows.append(row(INVITE_EXPIRED, invitation, invitation.expires_at))
    if rows:  # executemany of one prebuilt statement: compiled once per process
        session.execute(_PLAN[session.get_bind().dialect.name], rows)
    return len(rows)


def schedule_contract_expiry(
    session: Session,
    settings: Settings,
    *,
    contract_id: int | str,
    job_id: int,
    ends_at: dt.datetime,
    now: dt.datetime,
    label: str = "",
    candidate_id: int | None = None,
    days_before: list[int] | None = None,
) -> list[Reminder]:
    """Remind the job's HR groups before a contract ends (for the contracts flow).

    Call it inside the transaction that creates the signed contract. Reminders are
    due ``days_before`` (default ``schedule.contract_remind_days``) days before
    ``ends_at``; if all of those are already past, one reminder is due now. Calling it
    again for the same contract adds nothing.

    Args:
        session: the open transaction.
        settings: for the default days.
        contract_id: the contract's id (part of the dedupe key).
        job_id: whose HR groups are told.
        ends_at: when the contract ends (timezone-aware).
        now: the current time.
        label: how HR recognises the contract, e.g. "#12 Li Na, sales" (stored encrypted).
        candidate_id: the employee's candidate id, if any.
        days_before: override of the reminder days.

    Returns:
        The reminders planned (existing ones when called twice).
    """
    if ends_at.tzinfo is None:
        raise ValueError("ends_at must be timezone-aware")
    days = sorted(
        set(days_before if days_before is not None else settings.schedule.contract_remind_days),
        reverse=True,
    )
    payload = {"contract_id": str(contract_id), "label": label, "ends_at": ends_at.isoformat()}
    planned: list[Reminder] = []
    for day in days:
        due = ends_at - dt.timedelta(days=day)
        if due > now:
            planned.append(
                add_reminder(
                    session,
                    kind=CONTRACT_EXPIRY,
                    key=f"{CONTRACT_EXPIRY}:{contract_id}:{day}",
                    due_at=due,
                    now=now,
                    candidate_id=candidate_id,
                    job_id=job_id,
                    payload=payload,
                )
            )
    if not planned and ends_at > now:
        planned.append(
            add_reminder(
                session,
                kind=CONTRACT_EXPIRY,
                key=f"{CONTRACT_EXPIRY}:{contract_id}:now",
                due_at=now,
                now=now,
                candidate_id=candidate_id,
                job_id=job_id,
                payload=payload,
            )
        )
    return planned


# ====================================================================== firing
@dataclass
class Outcome:
    status: str  # sent | stale | skipped | rearm
    note: str = ""
    intents: list[Intent] = field(default_factory=list)
    due_at: dt.datetime | None = None  # for rearm


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
        """Plan reminders nobody planned at creation: invitation expiry and nudges."""
        now = self.services.clock.now()
        settings = self.settings.schedule
        added = 0
        with self.db.transaction() as session:
            horizon = now + dt.timedelta(hours=settings.invite_expiry_warning_hours + 24)
            invitations = session.exec(
                select(Invitation)
                .where(
                    col(Invitation.status).in_(("pending", "opened")),
                    Invitation.expires_at <= horizon,
                )
                .order_by(col(Invitation.expires_at))
                .limit(limit)
            ).all()
            by_key = {f"{INVITE_EXPIRED}:{inv.id}": inv for inv in invitations}
            planned = (
                set(
                    session.exec(
                        select(Reminder.dedupe_key).where(col(Reminder.dedupe_key).in_(by_key))
                    ).all()
                )
                if by_key
                else set()
            )
            missing = [inv for key, inv in by_key.items() if key not in planned]
            plan_invitations(session, self.settings, missing, now=now)
            added += len(missing)
            idle = now - dt.timedelta(hours=settings.nudge_after_hours)
            sessions = session.exec(
                select(InterviewSession)
                .where(
                    col(InterviewSession.state).not_in(FINAL_STATES),
                    InterviewSession.updated_at <= idle,
                )
                .order_by(col(InterviewSession.updated_at))
                .limit(limit)
            ).all()
            for s in sessions:
                if s.state == "schedule" and _active_booking(session, s.candidate_id) is not None:
                    continue  # waiting for the slot is not "stuck"
                stamp = int(s.updated_at.timestamp())
                key = f"{NUDGE}:{s.id}:{stamp}"
                if (
                    session.exec(select(Reminder.id).where(Reminder.dedupe_key == key)).first()
                    is None
                ):
                    add_reminder(
                        session,
                        kind=NUDGE,
                        key=key,
                        due_at=s.updated_at + dt.timedelta(hours=settings.nudge_after_hours),
                        now=now,
                        candidate_id=s.candidate_id,
                        job_id=s.job_id,
                        payload={"session_id": s.id, "stamp": stamp},
                    )
                    added += 1
        return added

    # -- the rules, one per kind ---------------------------------------------------
    def _apply(self, session: Session, reminder: Reminder, now: dt.datetime) -> Outcome:
        handler: Callable[[Session, Reminder, dict[str, Any], dt.datetime], Outcome] = {
            SLOT_BEFORE: self._slot_before,
            SLOT_START: self._slot_start,
            NO_SHOW: self._no_show,
            INVITE_EXPIRING: self._invite_expiring,
            INVITE_EXPIRED: self._invite_expired,
            NUDGE: self._nudge,
            CONTRACT_EXPIRY: self._contract_expiry,
        }.get(reminder.kind, self._unknown)
        return handler(session, reminder, json.loads(reminder.payload or "{}"), now)

    def _unknown(
        self, session: Session, reminder: Reminder, payload: dict[str, Any], now: dt.datetime
    ) -> Outcome:
        return Outcome("skipped", f"unknown kind {reminder.kind}")

    def _booking(self, session: Session, reminder: Reminder) -> tuple[Booking, Slot] | None:
        booking = session.get(Booking, reminder.booking_id) if reminder.booking_id else None
        if booking is None:
            return None
        slot = session.get(Slot, booking.slot_id)
        return None if slot is None else (booking, slot)

    def _slot_before(
        self, session: Session, reminder: Reminder, payload: dict[str, Any], now: dt.datetime
    ) -> Outcome:
        found = self._booking(session, reminder)
        if found is None or found[0].status != "booked":
            return Outcome("skipped", "booking no longer active")
        booking, slot = found
        if now >= slot.start_at:
            return Outcome("stale", "the slot has already begun")
        late = now - reminder.due_at
        if late > dt.timedelta(minutes=self.settings.schedule.stale_after_minutes):
            return Outcome("stale", f"{round(late.total_seconds() / 60)} minutes late")
        later = session.exec(
            select(Reminder.id).where(
                Reminder.booking_id == booking.id,
                Reminder.kind == SLOT_BEFORE,
                Reminder.status == "pending",
                Reminder.due_at > reminder.due_at,
                Reminder.due_at <= now,
            )
        ).first()
        if later is not None:
            return Outcome("stale", f"superseded by reminder {later}")
        chat = _chat(session, booking.candidate_id)
        if chat is None:
            return Outcome("skipped", "the candidate has no chat")
        lang = chat.language
        text = t(
            lang,
            "schedule.remind_before",
            job=_job_title(session, slot.job_id, lang),
            when=slot_text(
                lang, slot.start_at, slot.end_at, self._tz(session, booking.candidate_id)
            ),
            left=duration_text(lang, slot.start_at - now),
        )
        buttons = [
            [
                Button(label=t(lang, "schedule.btn_reschedule"), data="sch:rs"),
                Button(label=t(lang, "schedule.btn_cancel"), data="sch:cx"),
            ]
        ]
        return Outcome(
            "sent",
            "",
            [Send(platform=chat.platform, chat_id=chat.chat_id, text=text, buttons=buttons)],
        )

    def _slot_start(
        self, session: Session, reminder: Reminder, payload: dict[str, Any], now: dt.datetime
    ) -> Outcome:
        found = self._booking(session, reminder)
        if found is None or found[0].status != "booked":
            return Outcome("skipped", "booking no longer active")
        booking, slot = found
        if now >= slot.end_at:
            return Outcome("stale", "the slot is over")
        chat = _chat(session, booking.candidate_id)
        if chat is None or chat.state in FINAL_STATES:
            return Outcome("skipped", "no open interview")
        lang = chat.language
        text = t(lang, "schedule.remind_start", job=_job_title(session, slot.job_id, lang))
        buttons = [[Button(label=t(lang, "schedule.btn_start"), data="sch:go")]]
        return Outcome(
            "sent",
            "",
            [
                Send(
                    platform=chat.platform,
                    chat_id=chat.chat_id,
                    text=text,
                    buttons=buttons,
                    ref=f"sch-start:{booking.id}",
                )
            ],
        )

    def _no_show(
        self, session: Session, reminder: Reminder, payload: dict[str, Any], now: dt.datetime
    ) -> Outcome:
        # A fact, not a message: recorded however late, once.
        found = self._booking(session, reminder)
        if found is None or found[0].status != "booked":
            return Outcome("skipped", "booking no longer active")
        booking, slot = found
        chat = _chat(session, booking.candidate_id)
        if chat is not None and chat.state != "schedule":
            return Outcome("skipped", f"interview moved on ({chat.state})")
        booking.status = "no_show"
        booking.ended_at = now
        session.add(booking)
        record_funnel(session, booking.candidate_id, slot.job_id, "no_show", now)
        session.add(
            AuditEvent(
                at=now,
                actor="system",
                action="no_show",
                subject=f"candidate:{booking.candidate_id}",
                details={"slot": slot.id},
            )
        )
        company_tz = zone(None, self.settings.app.timezone)
        intents: list[Intent] = hr_intents(
            session,
            slot.job_id,
            "schedule.hr_no_show",
            id=booking.candidate_id,
            when=lambda lang: slot_text(lang, slot.start_at, slot.end_at, company_tz),
        )
        if chat is not None:
            lang = chat.language
            buttons = [[Button(label=t(lang, "schedule.btn_reschedule"), data="sch:rs")]]
            intents.append(
                Send(
                    platform=chat.platform,
                    chat_id=chat.chat_id,
                    text=t(lang, "schedule.no_show"),
                    buttons=buttons,
                )
            )
        return Outcome("sent", "", intents)

    def _invitation(self, session: Session, payload: dict[str, Any]) -> Invitation | None:
        inv_id = payload.get("invitation_id")
        return session.get(Invitation, int(inv_id)) if inv_id is not None else None

    def _invite_expiring(
        self, session: Session, reminder: Reminder, payload: dict[str, Any], now: dt.datetime
    ) -> Outcome:
        inv = self._invitation(session, payload)
        if inv is None or inv.status not in ("pending", "opened"):
            return Outcome("skipped", "invitation no longer open")
        if now >= inv.expires_at:
            return Outcome("stale", "the invitation has already expired")
        chat = _chat(session, inv.candidate_id)
        if chat is None or chat.state in FINAL_STATES:
            return Outcome("skipped", "the candidate has no open chat")
        lang = chat.language
        text = t(
            lang,
            "schedule.invite_expiring",
            job=_job_title(session, inv.job_id, lang),
            left=duration_text(lang, inv.expires_at - now),
        )
        return Outcome("sent", "", [Send(platform=chat.platform, chat_id=chat.chat_id, text=text)])

    def _invite_expired(
        self, session: Session, reminder: Reminder, payload: dict[str, Any], now: dt.datetime
    ) -> Outcome:
        inv = self._invitation(session, payload)
        if inv is None or inv.status not in ("pending", "opened"):
            return Outcome("skipped", "invitation no longer open")
        if inv.expires_at > now:
            return Outcome("rearm", "the invitation was extended", due_at=inv.expires_at)
        inv.status = "expired"
        session.add(inv)
        record_funnel(session, inv.candidate_id, inv.job_id, "expired", now)
        session.add(
            AuditEvent(
                at=now,
                actor="system",
                action="invitation_expired",
                subject=f"candidate:{inv.candidate_id}",
            )
        )
        intents: list[Intent] = hr_intents(
            session, inv.job_id, "schedule.hr_expired", id=inv.candidate_id
        )
        chat = _chat(session, inv.candidate_id)
        if chat is not None and chat.state not in FINAL_STATES:
            intents.append(
                Send(
                    platform=chat.platform,
                    chat_id=chat.chat_id,
                    text=t(chat.language, "invite.expired"),
                )
            )
        return Outcome("sent", "", intents)

    def _nudge(
        self, session: Session, reminder: Reminder, payload: dict[str, Any], now: dt.datetime
    ) -> Outcome:
        s = session.get(InterviewSession, int(payload.get("session_id", 0)))
        if s is None or s.state in FINAL_STATES:
            return Outcome("skipped", "interview closed")
        if int(s.updated_at.timestamp()) != int(payload.get("stamp", 0)):
            return Outcome("skipped", "the candidate was active again")
        inv = session.get(Invitation, s.invitation_id)
        if inv is not None and inv.status in ("expired", "revoked"):
            return Outcome("skipped", "invitation closed")
        lang = s.language
        text = t(lang, "schedule.nudge", job=_job_title(session, s.job_id, lang))
        return Outcome("sent", "", [Send(platform=s.platform, chat_id=s.chat_id, text=text)])

    def _contract_expiry(
        self, session: Session, reminder: Reminder, payload: dict[str, Any], now: dt.datetime
    ) -> Outcome:
        ends = dt.datetime.fromisoformat(str(payload.get("ends_at")))
        if now >= ends:
            return Outcome("stale", "the contract has already ended")
        if reminder.job_id is None:
            return Outcome("skipped", "no job")
        local = ends.astimezone(zone(None, self.settings.app.timezone))

        def left(lang: str) -> str:
            if ends - now < dt.timedelta(days=2):
                return duration_text(lang, ends - now)
            return t(lang, "schedule.in_days", n=(ends - now).days)

        intents = hr_intents(
            session,
            reminder.job_id,
            "schedule.contract_expiry",
            label=payload.get("label") or f"#{payload.get('contract_id')}",
            ends=f"{local:%Y-%m-%d}",
            left=left,
        )
        if not intents:
            return Outcome("skipped", "no HR group is bound to the job")
        return Outcome("sent", "", intents)

    def _tz(self, session: Session, candidate_id: int) -> Any:
        pref = session.get(Preference, candidate_id)
        return zone(pref.tz if pref else None, self.settings.app.timezone)


# ====================================================================== helpers
def _chat(session: Session, candidate_id: int) -> InterviewSession | None:
    return session.exec(
        select(InterviewSession).where(InterviewSession.candidate_id == candidate_id)
    ).first()


def _active_booking(session: Session, candidate_id: int) -> Booking | None:
    return session.exec(
        select(Booking).where(Booking.candidate_id == candidate_id, Booking.status == "booked")
    ).first()


def _job_title(session: Session, job_id: int, lang: str) -> str:
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
                "dialogs.reminders:fire_reminder",
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
