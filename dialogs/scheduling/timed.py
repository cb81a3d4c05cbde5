"""The scheduling feature's timed rules: before the slot, at its start, and no-shows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from core.settings import Settings
from dialogs.kernel.catalog import t
from dialogs.kernel.intents import Button, Intent, Send
from dialogs.kernel.slot_time import duration_text, slot_text, zone
from dialogs.kernel.timers import (
    FINAL_STATES,
    add_reminder,
    candidate_chat,
    hr_intents,
    job_title,
    record_funnel,
)
from dialogs.kernel.timing import Outcome, ReminderRule
from storage.models import AuditEvent
from storage.schedule_models import Booking, Preference, Reminder, Slot

SLOT_BEFORE = "slot_before"
SLOT_START = "slot_start"
NO_SHOW = "no_show"


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


def _booking(session: Session, reminder: Reminder) -> tuple[Booking, Slot] | None:
    booking = session.get(Booking, reminder.booking_id) if reminder.booking_id else None
    if booking is None:
        return None
    slot = session.get(Slot, booking.slot_id)
    return None if slot is None else (booking, slot)


def _tz(session: Session, candidate_id: int, settings: Settings) -> Any:
    pref = session.get(Preference, candidate_id)
    return zone(pref.tz if pref else None, settings.app.timezone)


def slot_before(
    session: Session,
    reminder: Reminder,
    payload: dict[str, Any],
    now: dt.datetime,
    settings: Settings,
) -> Outcome:
    found = _booking(session, reminder)
    if found is None or found[0].status != "booked":
        return Outcome("skipped", "booking no longer active")
    booking, slot = found
    if now >= slot.start_at:
        return Outcome("stale", "the slot has already begun")
    late = now - reminder.due_at
    if late > dt.timedelta(minutes=settings.schedule.stale_after_minutes):
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
    chat = candidate_chat(session, booking.candidate_id)
    if chat is None:
        return Outcome("skipped", "the candidate has no chat")
    lang = chat.language
    text = t(
        lang,
        "schedule.remind_before",
        job=job_title(session, slot.job_id, lang),
        when=slot_text(
            lang, slot.start_at, slot.end_at, _tz(session, booking.candidate_id, settings)
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


def slot_start(
    session: Session,
    reminder: Reminder,
    payload: dict[str, Any],
    now: dt.datetime,
    settings: Settings,
) -> Outcome:
    found = _booking(session, reminder)
    if found is None or found[0].status != "booked":
        return Outcome("skipped", "booking no longer active")
    booking, slot = found
    if now >= slot.end_at:
        return Outcome("stale", "the slot is over")
    chat = candidate_chat(session, booking.candidate_id)
    if chat is None or chat.state in FINAL_STATES:
        return Outcome("skipped", "no open interview")
    lang = chat.language
    text = t(lang, "schedule.remind_start", job=job_title(session, slot.job_id, lang))
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


def no_show(
    session: Session,
    reminder: Reminder,
    payload: dict[str, Any],
    now: dt.datetime,
    settings: Settings,
) -> Outcome:
    # A fact, not a message: recorded however late, once.
    found = _booking(session, reminder)
    if found is None or found[0].status != "booked":
        return Outcome("skipped", "booking no longer active")
    booking, slot = found
    chat = candidate_chat(session, booking.candidate_id)
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
    company_tz = zone(None, settings.app.timezone)
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


RULES: dict[str, ReminderRule] = {
    SLOT_BEFORE: slot_before,
    SLOT_START: slot_start,
    NO_SHOW: no_show,
}
