"""The interview's timed rule: a nudge for a candidate who started and stopped."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlmodel import Session, col, select

from core.settings import Settings
from dialogs.kernel.catalog import t
from dialogs.kernel.intents import Send
from dialogs.kernel.timers import (
    FINAL_STATES,
    add_reminder,
    job_title,
)
from dialogs.kernel.timing import Outcome, ReminderRule
from storage.models import InterviewSession, Invitation
from storage.schedule_models import Booking, Reminder

NUDGE = "nudge"


def plan_nudges(session: Session, settings: Settings, now: dt.datetime, limit: int) -> int:
    """A nudge for each interview left idle (not while it waits for a booked slot)."""
    idle = now - dt.timedelta(hours=settings.schedule.nudge_after_hours)
    sessions = session.exec(
        select(InterviewSession)
        .where(
            col(InterviewSession.state).not_in(FINAL_STATES),
            InterviewSession.updated_at <= idle,
        )
        .order_by(col(InterviewSession.updated_at))
        .limit(limit)
    ).all()
    added = 0
    for s in sessions:
        if s.state == "schedule" and _booked(session, s.candidate_id):
            continue  # waiting for the slot is not "stuck"
        stamp = int(s.updated_at.timestamp())
        key = f"{NUDGE}:{s.id}:{stamp}"
        if session.exec(select(Reminder.id).where(Reminder.dedupe_key == key)).first() is None:
            add_reminder(
                session,
                kind=NUDGE,
                key=key,
                due_at=s.updated_at + dt.timedelta(hours=settings.schedule.nudge_after_hours),
                now=now,
                candidate_id=s.candidate_id,
                job_id=s.job_id,
                payload={"session_id": s.id, "stamp": stamp},
            )
            added += 1
    return added


def _booked(session: Session, candidate_id: int) -> bool:
    return (
        session.exec(
            select(Booking.id).where(
                Booking.candidate_id == candidate_id, Booking.status == "booked"
            )
        ).first()
        is not None
    )


def nudge(
    session: Session,
    reminder: Reminder,
    payload: dict[str, Any],
    now: dt.datetime,
    settings: Settings,
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
    text = t(lang, "schedule.nudge", job=job_title(session, s.job_id, lang))
    return Outcome("sent", "", [Send(platform=s.platform, chat_id=s.chat_id, text=text)])


RULES: dict[str, ReminderRule] = {NUDGE: nudge}
