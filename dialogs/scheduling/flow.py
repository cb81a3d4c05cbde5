"""The optional scheduling step of an interview: preference, slot offers, booking.

When a job has slots, a candidate whose identity is confirmed moves to the state
``schedule`` (see :func:`after_identity`): the bot asks weekday or weekend and morning,
afternoon or evening, then offers the best few slots as buttons. A booking comes with
an ``.ics`` file; reschedule and cancel are buttons; the questions start when the slot
begins (the reminder's "start" button) or at once with "start now" where the job allows.

A seat is never double-booked: the slot row (and, for a person, the interviewer's
overlapping slots) is locked ``FOR UPDATE`` on PostgreSQL (SQLite serialises writers),
and ``(slot_id, seat)`` is unique, so two presses at the same moment cannot both win.

One module (about 680 lines): one state machine (preference, offers, booking, its
buttons) whose steps share the locking that guards a seat; the slots themselves are
``availability.py``, the reminders ``timed.py``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.settings import Settings
from dialogs.kernel import timers
from dialogs.kernel.access import parse_id
from dialogs.kernel.catalog import t
from dialogs.kernel.context import Ctx, Services
from dialogs.kernel.events import ButtonPressed, TextReceived
from dialogs.kernel.intents import Button
from dialogs.kernel.notify import hr
from dialogs.kernel.slot_time import matches, parse_zone, slot_label, slot_text, zone
from dialogs.scheduling import availability, timed
from storage.db import Database
from storage.models import InterviewSession, Invitation, Job
from storage.schedule_models import AI_INTERVIEWER, Booking, Preference, Slot

STATE = "schedule"
PREFIX = "sch"
# A seat counts as taken while its booking holds one (cancelled bookings set seat NULL).
HOLDING = ("booked", "started")
# The "start" button works from a few minutes before the slot.
EARLY_START = dt.timedelta(minutes=5)
MAX_SCAN = 500


@dataclass
class Offer:
    slot: Slot
    free: int
    matched: bool


# ====================================================================== rules
def job_has_slots(session: Session, job_id: int, now: dt.datetime) -> bool:
    """True when the job has open slots in the future: scheduling is on for it."""
    return (
        session.exec(
            select(Slot.id)
            .where(Slot.job_id == job_id, Slot.status == "open", Slot.end_at > now)
            .limit(1)
        ).first()
        is not None
    )


def _busy(session: Session, slots: list[Slot]) -> list[tuple[str, dt.datetime, dt.datetime, int]]:
    """Booked times of the human interviewers of ``slots``: (who, start, end, slot id)."""
    people = {s.interviewer for s in slots if s.interviewer != AI_INTERVIEWER}
    if not people:
        return []
    lo = min(s.start_at for s in slots)
    hi = max(s.end_at for s in slots)
    rows = session.exec(
        select(Slot.interviewer, Slot.start_at, Slot.end_at, Slot.id)
        .join(Booking, col(Booking.slot_id) == col(Slot.id))
        .where(
            col(Slot.interviewer).in_(people),
            col(Booking.seat).is_not(None),
            col(Booking.status).in_(HOLDING),
            Slot.start_at < hi,
            Slot.end_at > lo,
        )
    ).all()
    return [(str(w), s, e, int(i or 0)) for w, s, e, i in rows]


def offer_slots(
    session: Session,
    settings: Settings,
    *,
    job_id: int,
    now: dt.datetime,
    deadline: dt.datetime,
    tz: ZoneInfo,
    day_kind: str | None,
    part: str | None,
    limit: int,
    exclude_slot_id: int | None = None,
) -> list[Offer]:
    """The best few bookable slots for a candidate.

    A slot is bookable when it is open, starts at least ``min_notice_minutes`` from
    now, ends before the invitation deadline, has a free seat, and (for a person)
    the interviewer is not booked in an overlapping slot of any job. Slots that fit
    the stated preference (read in the candidate's time zone) come first, earliest
    first; one offer per start time (the one with most free seats).
    """
    earliest = now + dt.timedelta(minutes=settings.schedule.min_notice_minutes)
    held = (
        select(col(Booking.slot_id).label("slot_id"), func.count().label("n"))
        .where(col(Booking.seat).is_not(None))
        .group_by(col(Booking.slot_id))
        .subquery()
    )
    taken_n = func.coalesce(held.c.n, 0)
    rows = session.exec(
        select(Slot, taken_n)
        .outerjoin(held, held.c.slot_id == col(Slot.id))
        .where(
            Slot.job_id == job_id,
            Slot.status == "open",
            Slot.start_at >= earliest,
            Slot.end_at <= deadline,
            taken_n < col(Slot.capacity),  # full slots never use up the scan
        )
        .order_by(col(Slot.start_at), col(Slot.id))
        .limit(MAX_SCAN)
    ).all()
    taken = {slot.id or 0: int(n) for slot, n in rows}
    slots = [slot for slot, _ in rows if slot.id != exclude_slot_id]
    busy = _busy(session, slots)
    by_start: dict[dt.datetime, Offer] = {}
    for slot in slots:
        free = slot.capacity - taken.get(slot.id or 0, 0)
        if free <= 0:
            continue
        if slot.interviewer != AI_INTERVIEWER and any(
            who == slot.interviewer
            and other != slot.id
            and start < slot.end_at
            and end > slot.start_at
            for who, start, end, other in busy
        ):
            continue
        offer = Offer(slot, free, matches(slot.start_at, tz, day_kind, part))
        best = by_start.get(slot.start_at)
        if best is None or offer.free > best.free:
            by_start[slot.start_at] = offer
    offers = sorted(
        by_start.values(), key=lambda o: (not o.matched, o.slot.start_at, o.slot.id or 0)
    )
    return offers[:limit]


def book_slot(
    session: Session,
    settings: Settings,
    *,
    slot_id: int,
    candidate_id: int,
    session_id: int | None,
    job_id: int,
    deadline: dt.datetime,
    now: dt.datetime,
) -> Booking | str:
    """Take a seat in a slot, atomically.

    Returns:
        the booking, or why not: ``gone`` (no such open slot of this job, or too late),
        ``full`` (no seat left) or ``busy`` (the interviewer is booked elsewhere).
    """
    slot = session.get(Slot, slot_id)
    if slot is None or slot.job_id != job_id or slot.status != "open":
        return "gone"
    # Lock the slot, and a person's overlapping slots, in id order (no deadlocks).
    lock = select(Slot).where(col(Slot.id) == slot_id)
    if slot.interviewer != AI_INTERVIEWER:
        lock = select(Slot).where(
            or_(
                col(Slot.id) == slot_id,
                and_(
                    col(Slot.interviewer) == slot.interviewer,
                    col(Slot.start_at) < slot.end_at,
                    col(Slot.end_at) > slot.start_at,
                ),
            )
        )
    locked = session.exec(
        lock.order_by(col(Slot.id)).with_for_update().execution_options(populate_existing=True)
    ).all()
    slot = next(s for s in locked if s.id == slot_id)
    if slot.status != "open" or slot.start_at <= now or slot.end_at > deadline:
        return "gone"
    others = [s.id for s in locked if s.id != slot_id]
    if (
        others
        and session.exec(
            select(Booking.id).where(
                col(Booking.slot_id).in_(others),
                col(Booking.seat).is_not(None),
                col(Booking.status).in_(HOLDING),
            )
        ).first()
        is not None
    ):
        return "busy"
    held = set(
        session.exec(
            select(Booking.seat).where(Booking.slot_id == slot_id, col(Booking.seat).is_not(None))
        ).all()
    )
    for seat in range(slot.capacity):
        if seat in held:
            continue
        booking = Booking(
            slot_id=slot_id,
            seat=seat,
            candidate_id=candidate_id,
            session_id=session_id,
            created_at=now,
        )
        try:
            with session.begin_nested():
                session.add(booking)
                session.flush()
        except IntegrityError:
            continue  # taken a moment ago by another transaction: try the next seat
        return booking
    return "full"


def active_booking(session: Session, candidate_id: int) -> Booking | None:
    return session.exec(
        select(Booking)
        .where(Booking.candidate_id == candidate_id, Booking.status == "booked")
        .order_by(col(Booking.id).desc())
    ).first()


def release(session: Session, booking: Booking, *, status: str, now: dt.datetime) -> None:
    """End a booking (cancelled, rescheduled) and give its seat back."""
    booking.status = status
    booking.seat = None
    booking.ended_at = now
    session.add(booking)
    timed.cancel_for_booking(session, booking.id or 0, note=status)


def booking_ics(*, booking: Booking, slot: Slot, job: Job, lang: str, now: dt.datetime) -> bytes:
    """An iCalendar file for the booked slot (UTC times, a 15-minute alarm)."""
    from icalendar import Alarm, Calendar, Event

    title = job.title_zh if lang == "zh" else job.title_en
    cal = Calendar()
    cal.add("prodid", "-//chat-interviewer//schedule//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"booking-{booking.id}@chat-interviewer")
    event.add("dtstamp", now)
    event.add("dtstart", slot.start_at)
    event.add("dtend", slot.end_at)
    event.add("summary", t(lang, "schedule.ics_summary", job=title))
    event.add("description", t(lang, "schedule.ics_description"))
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", t(lang, "schedule.ics_summary", job=title))
    alarm.add("trigger", dt.timedelta(minutes=-15))
    event.add_component(alarm)
    cal.add_component(event)
    return bytes(cal.to_ical())


# ====================================================================== the chat step
def after_identity(ctx: Ctx, s: InterviewSession) -> bool:
    """Called by the interview once identity is confirmed.

    Returns:
        True when the job has slots and scheduling took over (state ``schedule``);
        False to go on to the questions as before.
    """
    if not job_has_slots(ctx.session, s.job_id, ctx.now):
        return False
    s.state = STATE
    s.updated_at = ctx.now
    ctx.session.add(s)
    prompt(ctx, s, notify_hr=True)
    return True


def prompt(ctx: Ctx, s: InterviewSession, *, notify_hr: bool = False) -> None:
    """(Re-)send the current scheduling step to the candidate."""
    pref = _preference(ctx, s)
    booking = active_booking(ctx.session, s.candidate_id)
    if booking is not None:
        _show_booking(ctx, s, booking)
    elif pref.day_kind is None:
        _say(
            ctx,
            s,
            "schedule.ask_day",
            tz=_tz(ctx, pref).key,
            buttons=[
                [
                    _btn(ctx, s, f"schedule.day_{k}", f"day:{k}")
                    for k in ("weekday", "weekend", "any")
                ]
            ],
        )
    elif pref.part is None:
        _say(
            ctx,
            s,
            "schedule.ask_part",
            buttons=[
                [
                    _btn(ctx, s, f"schedule.part_{k}", f"part:{k}")
                    for k in ("morning", "afternoon", "evening")
                ],
                [_btn(ctx, s, "schedule.part_any", "part:any")],
            ],
        )
    else:
        _offer(ctx, s, pref, notify_hr=notify_hr)


def handle(ctx: Ctx, s: InterviewSession) -> None:
    """Any event of a candidate in the ``schedule`` state."""
    event = ctx.event
    if isinstance(event, ButtonPressed) and event.data.startswith(PREFIX + ":"):
        _button(ctx, s, event.data.split(":")[1:])
        return
    if isinstance(event, ButtonPressed):
        ctx.answer_button(ctx.text("common.press_button"))
        return
    if isinstance(event, TextReceived):
        name = parse_zone(event.text)
        if name is not None:
            pref = _preference(ctx, s)
            pref.tz = name
            pref.updated_at = ctx.now
            ctx.session.add(pref)
            _say(ctx, s, "schedule.tz_set", tz=name)
            prompt(ctx, s)
            return
        _say(ctx, s, "schedule.use_buttons")
        return
    prompt(ctx, s)


def slots_opened(ctx: Ctx, job_id: int, limit: int = 50) -> int:
    """New slots: send fresh offers to candidates of the job who were told none were free."""
    rows = ctx.session.exec(
        select(InterviewSession, Preference)
        .join(Preference, col(Preference.candidate_id) == col(InterviewSession.candidate_id))
        .where(
            InterviewSession.job_id == job_id,
            InterviewSession.state == STATE,
            col(Preference.waiting).is_(True),
        )
        .limit(limit)
    ).all()
    told = 0
    for s, pref in rows:
        if active_booking(ctx.session, s.candidate_id) is None:
            _say(ctx, s, "schedule.new_slots")
            _offer(ctx, s, pref)
            told += 1
    return told


# ---------------------------------------------------------------------- buttons
def _button(ctx: Ctx, s: InterviewSession, parts: list[str]) -> None:
    action = parts[0] if parts else ""
    arg = parts[1] if len(parts) > 1 else ""
    pref = _preference(ctx, s)
    if action == "day" and arg in ("weekday", "weekend", "any"):
        ctx.answer_button()
        pref.day_kind = arg
        pref.part = None
        _save(ctx, s, pref)
        prompt(ctx, s, notify_hr=True)
    elif (
        action == "part"
        and arg in ("morning", "afternoon", "evening", "any")
        and pref.day_kind is not None
    ):
        ctx.answer_button()
        pref.part = arg
        _save(ctx, s, pref)
        prompt(ctx, s, notify_hr=True)
    elif action == "pref":
        ctx.answer_button()
        pref.day_kind = None
        pref.part = None
        _save(ctx, s, pref)
        prompt(ctx, s)
    elif action == "b" and (slot_id := parse_id(arg)) is not None:
        _book(ctx, s, slot_id)
    elif action == "rs":
        ctx.answer_button()
        _reschedule(ctx, s, pref)
    elif action == "cx":
        ctx.answer_button()
        _cancel(ctx, s, pref)
    elif action == "go":
        _go(ctx, s, now_allowed=False)
    elif action == "now":
        _go(ctx, s, now_allowed=True)
    else:
        ctx.answer_button(ctx.text("common.press_button"))


def _book(ctx: Ctx, s: InterviewSession, slot_id: int) -> None:
    current = active_booking(ctx.session, s.candidate_id)
    if current is not None and current.slot_id == slot_id:
        ctx.answer_button()
        _show_booking(ctx, s, current)
        return
    inv = ctx.session.get(Invitation, s.invitation_id)
    job = ctx.session.get(Job, s.job_id)
    assert inv is not None
    assert job is not None
    result = book_slot(
        ctx.session,
        ctx.settings,
        slot_id=slot_id,
        candidate_id=s.candidate_id,
        session_id=s.id,
        job_id=s.job_id,
        deadline=inv.expires_at,
        now=ctx.now,
    )
    if isinstance(result, str):
        ctx.answer_button()
        ctx.audit("booking_refused", f"candidate:{s.candidate_id}", slot=slot_id, reason=result)
        _say(ctx, s, "schedule.slot_gone")
        _offer(ctx, s, _preference(ctx, s))
        return
    ctx.answer_button()
    if current is not None:
        release(ctx.session, current, status="rescheduled", now=ctx.now)
    slot = ctx.session.get(Slot, slot_id)
    assert slot is not None
    timed.plan_booking(ctx.session, ctx.settings, result, slot, now=ctx.now)
    pref = _preference(ctx, s)
    pref.waiting = False
    _save(ctx, s, pref)
    ctx.funnel(s.candidate_id, s.job_id, "scheduled")
    ctx.audit(
        "slot_booked",
        f"candidate:{s.candidate_id}",
        slot=slot_id,
        seat=result.seat,
        rescheduled=current is not None,
    )
    tz = _tz(ctx, pref)
    when = slot_text(s.language, slot.start_at, slot.end_at, tz)
    company_tz = zone(None, ctx.settings.app.timezone)
    ctx.intents.extend(
        timers.hr_intents(
            ctx.session,
            s.job_id,
            "schedule.hr_rescheduled" if current else "schedule.hr_booked",
            id=s.candidate_id,
            when=lambda lang: slot_text(lang, slot.start_at, slot.end_at, company_tz),
        )
    )
    _say(ctx, s, "schedule.booked", when=when, buttons=_booking_buttons(ctx, s))
    ics = booking_ics(booking=result, slot=slot, job=job, lang=s.language, now=ctx.now)
    path, _ = ctx.services.media.put(ics, ".ics")
    ctx.send_file(
        path,
        "interview.ics",
        caption=_text(s, "schedule.ics_caption"),
        mime_type="text/calendar",
        platform=s.platform,
        chat_id=s.chat_id,
    )


def _reschedule(ctx: Ctx, s: InterviewSession, pref: Preference) -> None:
    current = active_booking(ctx.session, s.candidate_id)
    _offer(
        ctx,
        s,
        pref,
        exclude_slot_id=current.slot_id if current else None,
        key="schedule.reschedule_pick",
    )


def _cancel(ctx: Ctx, s: InterviewSession, pref: Preference) -> None:
    current = active_booking(ctx.session, s.candidate_id)
    if current is None:
        prompt(ctx, s)
        return
    release(ctx.session, current, status="cancelled", now=ctx.now)
    ctx.audit("booking_cancelled", f"candidate:{s.candidate_id}", slot=current.slot_id)
    hr(ctx, s.job_id, "schedule.hr_cancelled", id=s.candidate_id)
    _say(ctx, s, "schedule.cancelled")
    _offer(ctx, s, pref)


def _go(ctx: Ctx, s: InterviewSession, *, now_allowed: bool) -> None:
    """ "Start" (the slot has begun) or "start now" (where the job allows it)."""
    booking = active_booking(ctx.session, s.candidate_id)
    slot = ctx.session.get(Slot, booking.slot_id) if booking else None
    in_slot = slot is not None and slot.start_at - EARLY_START <= ctx.now < slot.end_at
    allowed_now = availability.allow_start_now(
        ctx.session, s.job_id, ctx.settings.schedule.allow_start_now
    )
    if in_slot or (now_allowed and allowed_now):
        ctx.answer_button()
        _begin(ctx, s, booking)
        return
    if now_allowed:
        ctx.answer_button(_text(s, "schedule.start_now_off"), alert=True)
        return
    ctx.answer_button()
    if slot is not None and ctx.now >= slot.end_at:
        _say(ctx, s, "schedule.slot_over")
        _offer(ctx, s, _preference(ctx, s))
    elif slot is not None:
        _say(
            ctx,
            s,
            "schedule.not_yet",
            when=slot_text(s.language, slot.start_at, slot.end_at, _tz(ctx, _preference(ctx, s))),
        )
    else:
        prompt(ctx, s)


def _begin(ctx: Ctx, s: InterviewSession, booking: Booking | None) -> None:
    if booking is not None:
        booking.status = "started"
        ctx.session.add(booking)
        timed.cancel_for_booking(ctx.session, booking.id or 0, note="started")
    ctx.audit("interview_begun", f"candidate:{s.candidate_id}", booked=booking is not None)
    ctx.services.features.begin_questions(ctx, s)


# ---------------------------------------------------------------------- messages
def _offer(
    ctx: Ctx,
    s: InterviewSession,
    pref: Preference,
    *,
    exclude_slot_id: int | None = None,
    key: str = "schedule.offer",
    notify_hr: bool = False,
) -> None:
    inv = ctx.session.get(Invitation, s.invitation_id)
    assert inv is not None
    tz = _tz(ctx, pref)
    offers = offer_slots(
        ctx.session,
        ctx.settings,
        job_id=s.job_id,
        now=ctx.now,
        deadline=inv.expires_at,
        tz=tz,
        day_kind=pref.day_kind,
        part=pref.part,
        limit=ctx.settings.schedule.offer_count,
        exclude_slot_id=exclude_slot_id,
    )
    start_now = availability.allow_start_now(
        ctx.session, s.job_id, ctx.settings.schedule.allow_start_now
    )
    extra = [_btn(ctx, s, "schedule.btn_preference", "pref")]
    if start_now:
        extra.append(_btn(ctx, s, "schedule.btn_start_now", "now"))
    if not offers:
        pref.waiting = True
        _save(ctx, s, pref)
        _say(ctx, s, "schedule.no_slots_now" if start_now else "schedule.no_slots", buttons=[extra])
        if notify_hr:
            hr(ctx, s.job_id, "schedule.hr_no_slots", id=s.candidate_id)
        return
    buttons = [
        [
            Button(
                label=slot_label(s.language, o.slot.start_at, o.slot.end_at, tz),
                data=f"{PREFIX}:b:{o.slot.id}",
            )
        ]
        for o in offers
    ]
    buttons.append(extra)
    if not any(o.matched for o in offers):
        key = "schedule.offer_nomatch"
    _say(ctx, s, key, tz=tz.key, buttons=buttons)


def _show_booking(ctx: Ctx, s: InterviewSession, booking: Booking) -> None:
    slot = ctx.session.get(Slot, booking.slot_id)
    assert slot is not None
    when = slot_text(s.language, slot.start_at, slot.end_at, _tz(ctx, _preference(ctx, s)))
    if slot.start_at - EARLY_START <= ctx.now < slot.end_at:
        _say(
            ctx,
            s,
            "schedule.remind_start_short",
            buttons=[[_btn(ctx, s, "schedule.btn_start", "go")]],
        )
        return
    _say(ctx, s, "schedule.your_booking", when=when, buttons=_booking_buttons(ctx, s))


def _booking_buttons(ctx: Ctx, s: InterviewSession) -> list[list[Button]]:
    rows = [
        [_btn(ctx, s, "schedule.btn_reschedule", "rs"), _btn(ctx, s, "schedule.btn_cancel", "cx")]
    ]
    if availability.allow_start_now(ctx.session, s.job_id, ctx.settings.schedule.allow_start_now):
        rows.append([_btn(ctx, s, "schedule.btn_start_now", "now")])
    return rows


def _say(
    ctx: Ctx,
    s: InterviewSession,
    key: str,
    *,
    buttons: list[list[Button]] | None = None,
    **kwargs: Any,
) -> None:
    """To the candidate's chat in their language (also when HR's event caused it)."""
    ctx.send_to(s.platform, s.chat_id, _text(s, key, **kwargs), buttons=buttons)


def _text(s: InterviewSession, key: str, **kwargs: Any) -> str:
    return t(s.language, key, **kwargs)


def _btn(ctx: Ctx, s: InterviewSession, key: str, data: str) -> Button:
    return Button(label=_text(s, key), data=f"{PREFIX}:{data}")


def _preference(ctx: Ctx, s: InterviewSession) -> Preference:
    pref = ctx.session.get(Preference, s.candidate_id)
    if pref is None:
        pref = Preference(candidate_id=s.candidate_id, updated_at=ctx.now)
        ctx.session.add(pref)
        ctx.session.flush()
    return pref


def _save(ctx: Ctx, s: InterviewSession, pref: Preference) -> None:
    pref.updated_at = ctx.now
    ctx.session.add(pref)
    s.updated_at = ctx.now
    ctx.session.add(s)


def _tz(ctx: Ctx, pref: Preference) -> ZoneInfo:
    return zone(pref.tz, ctx.settings.app.timezone)


# ====================================================================== wiring
class _Built(Protocol):
    """What :func:`install` needs of the application (``app.wiring.App``)."""

    @property
    def db(self) -> Database: ...

    @property
    def services(self) -> Services: ...


def install(app: _Built) -> timers.ReminderScheduler:
    """Make the reminder scheduler of ``app``.

    The runner calls this once and runs ``await scheduler.run(stop)`` beside the
    dispatcher and the worker; every process may run one, only the lease holder leads.
    """
    return timers.ReminderScheduler(app.db, app.services)
