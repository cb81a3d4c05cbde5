"""Interviewer availability: ``/slots`` commands and ``.ics`` imports become slots.

A window (``2026-12-01 09:00-12:00`` or a calendar event) is cut into slots of
``schedule.slot_minutes``; each slot has a capacity (1 for a person, more for AI
interviews, which run in parallel). Times typed in a command are local to
``app.timezone``; calendar events carry their own zone. Importing the same calendar
twice adds nothing new: a slot is unique per job, interviewer and start.

One module (about 550 lines): the ``/slots`` command and the calendar import share the
window rules (how far ahead, how many, how a window is cut) and the one place slots
are stored; splitting them would put those rules in a third module both import.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from dialogs.kernel.access import Access, check, job_arg, parse_id, target_job
from dialogs.kernel.context import Ctx, Target
from dialogs.kernel.events import CommandReceived, FileReceived
from dialogs.kernel.slot_time import slot_text, zone
from storage.models import Job
from storage.schedule_models import AI_INTERVIEWER, Booking, JobPolicy, Slot

MAX_SLOTS_PER_IMPORT = 2000
RRULE_HORIZON_DAYS = 120
MAX_EVENTS = 2000  # VEVENTs read from one calendar file
MAX_ICS_BYTES = 1024 * 1024
MAX_WINDOW = dt.timedelta(days=14)  # one stretch of availability
MAX_AHEAD = dt.timedelta(days=366)  # how far ahead slots may be declared
_ADD = re.compile(
    r"^(?:(?P<job>[A-Za-z0-9_.-]+)\s+)?(?P<date>\d{4}-\d{2}-\d{2})\s+"
    r"(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})"
    r"(?P<rest>(?:\s+\S+)*)\s*$"
)

# Called after slots were added to a job (scheduling tells the candidates who waited).
OnAdded = Callable[[Ctx, int], object]


@dataclass(frozen=True)
class Window:
    """A span of availability (UTC-aware)."""

    start: dt.datetime
    end: dt.datetime
    uid: str | None = None


@dataclass
class AddResult:
    added: list[Slot] = field(default_factory=list)
    existing: int = 0
    truncated: bool = False  # more than MAX_SLOTS_PER_IMPORT


# ------------------------------------------------------------------ parsing
def parse_window(date: str, start: str, end: str, tz_name: str) -> Window:
    """A window typed in a command, local to ``tz_name``.

    Raises:
        ValueError: for an impossible date or time, or an end not after the start.
    """
    tz = zone(tz_name, "UTC")
    day = dt.date.fromisoformat(date)
    t0 = dt.time.fromisoformat(start.zfill(5))
    t1 = dt.time.fromisoformat(end.zfill(5))
    local_start = dt.datetime.combine(day, t0, tzinfo=tz)
    local_end = dt.datetime.combine(day, t1, tzinfo=tz)
    if local_end <= local_start:
        raise ValueError("end must be after start")
    try:
        return Window(local_start.astimezone(dt.UTC), local_end.astimezone(dt.UTC))
    except OverflowError as exc:  # 0001-01-01 east of UTC, 9999-12-31 west of it
        raise ValueError("date out of range") from exc


def window_problem(window: Window, now: dt.datetime) -> str | None:
    """Why a window cannot become slots (``past``, ``far``, ``toolong``), or None."""
    if window.end <= now:
        return "past"
    if window.start > now + MAX_AHEAD:
        return "far"
    if window.end - window.start > MAX_WINDOW:
        return "toolong"
    return None


def _as_utc(value: Any, tz_name: str) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=zone(tz_name, "UTC"))
        utc: dt.datetime = value.astimezone(dt.UTC)
        return utc
    return None  # an all-day date is not a time one can interview in


def parse_ics(
    data: bytes, tz_name: str, *, now: dt.datetime
) -> tuple[list[Window], list[tuple[str, str]]]:
    """Availability windows from a calendar file (VEVENTs, RRULEs expanded ahead).

    Returns:
        (windows in the future, problems as (event UID, code): nostart, allday, backwards)

    Raises:
        ValueError: when the file is not a calendar at all.
    """
    from icalendar import Calendar

    try:
        cal = Calendar.from_ical(data)
        events = cal.walk("VEVENT")
    except Exception as exc:  # icalendar raises ValueError and friends; RecursionError
        raise ValueError(f"not an iCalendar file: {exc}") from exc
    windows: list[Window] = []
    problems: list[tuple[str, str]] = []
    for event in events[:MAX_EVENTS]:
        uid = (str(event.get("UID") or "") or "?")[:80]
        try:
            problem = _event_windows(event, uid, tz_name, now, windows)
        except (ValueError, TypeError, AttributeError, OverflowError, KeyError, IndexError):
            problem = "invalid"  # a value icalendar or dateutil cannot use
        if problem is not None:
            problems.append((uid, problem))
    if len(events) > MAX_EVENTS:
        problems.append(("…", "too_many"))
    return windows, problems


def _event_windows(
    event: Any, uid: str, tz_name: str, now: dt.datetime, windows: list[Window]
) -> str | None:
    """Add the event's future windows to ``windows``; returns a problem code or None."""
    start_prop = event.get("DTSTART")
    if start_prop is None:
        return "nostart"
    start = _as_utc(start_prop.dt, tz_name)
    end_prop = event.get("DTEND")
    end: dt.datetime | None
    if end_prop is not None:
        end = _as_utc(end_prop.dt, tz_name)
    elif event.get("DURATION") is not None and start is not None:
        end = start + event.get("DURATION").dt
    else:
        end = None
    if start is None or end is None:
        return "allday"
    if end <= start:
        return "backwards"
    if end - start > MAX_WINDOW:
        return "toolong"
    starts = [start]
    if event.get("RRULE") is not None:
        starts = _expand(event, start, now)
    elif start > now + MAX_AHEAD:
        return "far"
    for begin in starts:
        if begin + (end - start) > now:
            windows.append(Window(begin, begin + (end - start), uid))
    return None


def _expand(event: Any, start: dt.datetime, now: dt.datetime) -> list[dt.datetime]:
    from dateutil.rrule import rrulestr  # type: ignore[import-untyped]

    rule_text = event.get("RRULE").to_ical().decode()
    rule = rrulestr(rule_text, dtstart=start)
    horizon = now + dt.timedelta(days=RRULE_HORIZON_DAYS)
    found: list[dt.datetime] = []
    for occurrence in rule:
        if occurrence > horizon or len(found) >= 500:
            break
        found.append(occurrence.astimezone(dt.UTC))
    exdates = event.get("EXDATE")
    if exdates is not None:
        skip: set[dt.datetime] = set()
        for entry in exdates if isinstance(exdates, list) else [exdates]:
            for item in entry.dts:
                value = _as_utc(item.dt, "UTC")
                if value is not None:
                    skip.add(value)
        found = [f for f in found if f not in skip]
    return found


def split(window: Window, minutes: int) -> list[tuple[dt.datetime, dt.datetime]]:
    """Cut a window into consecutive slots; a window shorter than one slot is one slot."""
    length = dt.timedelta(minutes=minutes)
    if window.end - window.start <= length:
        return [(window.start, window.end)]
    out: list[tuple[dt.datetime, dt.datetime]] = []
    begin = window.start
    while begin + length <= window.end:
        out.append((begin, begin + length))
        begin += length
    return out


# ------------------------------------------------------------------ storage
def add_windows(
    session: Session,
    *,
    job_id: int,
    interviewer: str,
    windows: list[Window],
    capacity: int,
    slot_minutes: int,
    source: str,
    created_by: str,
    now: dt.datetime,
) -> AddResult:
    """Create the slots of ``windows`` that do not exist yet."""
    result = AddResult()
    for window in windows:
        for start, end in split(window, slot_minutes):
            if start <= now:
                continue
            if len(result.added) >= MAX_SLOTS_PER_IMPORT:
                result.truncated = True
                return result
            exists = session.exec(
                select(Slot).where(
                    Slot.job_id == job_id, Slot.interviewer == interviewer, Slot.start_at == start
                )
            ).first()
            if exists is not None:
                if exists.status == "cancelled":
                    exists.status = "open"
                    exists.end_at = end
                    exists.capacity = capacity
                    session.add(exists)
                    result.added.append(exists)
                else:
                    result.existing += 1
                continue
            slot = Slot(
                job_id=job_id,
                interviewer=interviewer,
                start_at=start,
                end_at=end,
                capacity=capacity,
                source=source,
                source_uid=window.uid,
                created_by=created_by,
                created_at=now,
            )
            session.add(slot)
            session.flush()
            result.added.append(slot)
    return result


def active_bookings(session: Session, slot_id: int) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(Booking)
            .where(Booking.slot_id == slot_id, col(Booking.seat).is_not(None))
        ).one()
    )


def allow_start_now(session: Session, job_id: int, default: bool) -> bool:
    policy = session.get(JobPolicy, job_id)
    return default if policy is None else policy.allow_start_now


# ------------------------------------------------------------------ chat commands
def _resolve_job(ctx: Ctx, _code: str | None = None) -> Job | None:
    """The checked job of this command (named, or the one job bound to this group chat)."""
    return target_job(ctx, "schedule.usage_slots")


def slots_target(ctx: Ctx, args: str) -> Target:
    """What ``/slots …`` acts on: the job named (or bound), or the job of the slot removed;
    listing needs a viewer, changing needs a manager of that job."""
    words = args.split()
    action = words[0].lower() if words else "list"
    if action == "remove":
        slot_id = parse_id(words[1]) if len(words) == 2 else None
        slot = ctx.session.get(Slot, slot_id) if slot_id is not None else None
        job = ctx.session.get(Job, slot.job_id) if slot is not None else None
        raw = words[1][:40] if len(words) == 2 else ""
        return Target(job=job, raw=raw, action="invite")
    if action == "add":
        match = _ADD.match(" ".join(words[1:]))
        code = match["job"] if match and match["job"] else ""
    elif action == "policy":
        code = words[1] if len(words) > 1 else ""
    else:
        rest = words[1:] if action == "list" else words
        code = rest[0] if rest else ""
    target = job_arg(0, bound=True)(ctx, code)
    target.action = "view" if action not in ("add", "remove", "policy") else "invite"
    return target


def _options(words: list[str], default_capacity: int = 1) -> tuple[int, bool] | None:
    """``[capacity] [ai]`` in any order; None if a word is neither."""
    capacity, ai = default_capacity, False
    for word in words:
        if word.lower() == AI_INTERVIEWER:
            ai = True
        elif word.isascii() and word.isdigit() and 1 <= int(word) <= 500:
            capacity = int(word)
        else:
            return None
    return capacity, ai


def slots_command(ctx: Ctx, ev: CommandReceived, on_added: OnAdded) -> None:
    """``/slots``: list, add or remove a job's interview slots, or set its policy."""
    words = ev.args.split()
    action = words[0].lower() if words else "list"
    if action not in ("add", "remove", "policy"):
        # "/slots", "/slots list [JOB]" or "/slots JOB"
        rest = words[1:] if action == "list" else words
        _list(ctx, rest[0] if rest else None)
        return
    if action == "add":
        _add(ctx, " ".join(words[1:]), on_added)
    elif action == "remove" and len(words) == 2:
        _remove(ctx, words[1])
    elif (
        action == "policy"
        and len(words) == 4
        and words[2].lower() == "startnow"
        and words[3].lower() in ("on", "off")
    ):
        _policy(ctx, words[1], words[3].lower() == "on")
    else:
        ctx.reply("schedule.usage_slots")


def _add(ctx: Ctx, args: str, on_added: OnAdded) -> None:
    match = _ADD.match(args.strip())
    if match is None:
        ctx.reply("schedule.usage_slots")
        return
    options = _options(match["rest"].split())
    if options is None:
        ctx.reply("schedule.usage_slots")
        return
    capacity, ai = options
    job = _resolve_job(ctx, match["job"])
    if job is None:
        return
    try:
        window = parse_window(
            match["date"], match["start"], match["end"], ctx.settings.app.timezone
        )
    except ValueError:
        ctx.reply("schedule.bad_window")
        return
    problem = window_problem(window, ctx.now)
    if problem is not None:
        ctx.reply(f"schedule.window_{problem}", days=MAX_AHEAD.days)
        return
    _store(
        ctx,
        job,
        [window],
        capacity=capacity,
        ai=ai,
        source="command",
        problems=[],
        on_added=on_added,
    )


def _store(
    ctx: Ctx,
    job: Job,
    windows: list[Window],
    *,
    capacity: int,
    ai: bool,
    source: str,
    problems: list[tuple[str, str]],
    on_added: OnAdded,
) -> None:
    result = add_windows(
        ctx.session,
        job_id=job.id or 0,
        interviewer=AI_INTERVIEWER if ai else ctx.actor,
        windows=windows,
        capacity=capacity,
        slot_minutes=ctx.settings.schedule.slot_minutes,
        source=source,
        created_by=ctx.actor,
        now=ctx.now,
    )
    ctx.audit(
        "slots_added",
        f"job:{job.id}",
        added=len(result.added),
        existing=result.existing,
        source=source,
    )
    lines = [
        ctx.text(
            "schedule.slots_added", added=len(result.added), existing=result.existing, code=job.code
        )
    ]
    tz = zone(None, ctx.settings.app.timezone)
    for slot in result.added[:10]:
        lines.append(
            ctx.text(
                "schedule.slots_line",
                id=slot.id,
                when=slot_text(ctx.lang, slot.start_at, slot.end_at, tz),
                capacity=slot.capacity,
                who=slot.interviewer,
            )
        )
    for uid, code in problems[:20]:
        lines.append(ctx.text(f"schedule.ics_{code}", uid=uid, days=MAX_AHEAD.days, n=MAX_EVENTS))
    if result.truncated:
        lines.append(ctx.text("schedule.slots_truncated", n=MAX_SLOTS_PER_IMPORT))
    ctx.say("\n".join(lines))
    if result.added:
        on_added(ctx, job.id or 0)


def _list(ctx: Ctx, code: str | None) -> None:
    job = _resolve_job(ctx, code)
    if job is None:
        return
    slots = ctx.session.exec(
        select(Slot)
        .where(Slot.job_id == job.id, Slot.status == "open", Slot.end_at > ctx.now)
        .order_by(col(Slot.start_at), col(Slot.id))
        .limit(40)
    ).all()
    if not slots:
        ctx.reply("schedule.slots_none", code=job.code)
        return
    tz = zone(None, ctx.settings.app.timezone)
    lines = [ctx.text("schedule.slots_header", code=job.code, count=len(slots))]
    for slot in slots:
        lines.append(
            ctx.text(
                "schedule.slots_line_booked",
                id=slot.id,
                when=slot_text(ctx.lang, slot.start_at, slot.end_at, tz),
                booked=active_bookings(ctx.session, slot.id or 0),
                capacity=slot.capacity,
                who=slot.interviewer,
            )
        )
    ctx.say("\n".join(lines))


def _remove(ctx: Ctx, raw: str) -> None:
    slot_id = parse_id(raw)
    slot = (
        ctx.session.get(Slot, slot_id, with_for_update=True)
        if slot_id is not None and ctx.target.job is not None
        else None
    )
    if slot is None or slot.id is None or slot.status != "open" or slot.job_id != ctx.target.job_id:
        ctx.reply("schedule.slot_unknown", id=raw[:20])
        return
    slot_id = slot.id
    booked = active_bookings(ctx.session, slot_id)
    if booked:
        ctx.reply("schedule.slot_has_bookings", id=slot_id, n=booked)
        return
    slot.status = "cancelled"
    ctx.session.add(slot)
    ctx.audit("slot_removed", f"slot:{slot_id}")
    ctx.reply("schedule.slot_removed", id=slot_id)


def _policy(ctx: Ctx, code: str, start_now: bool) -> None:
    job = _resolve_job(ctx, code)
    if job is None:
        return
    policy = ctx.session.get(JobPolicy, job.id) or JobPolicy(job_id=job.id or 0)
    policy.allow_start_now = start_now
    policy.updated_at = ctx.now
    ctx.session.add(policy)
    ctx.audit("schedule_policy", f"job:{job.id}", allow_start_now=start_now)
    ctx.reply(
        "schedule.policy_set",
        code=job.code,
        value=ctx.text("common.yes") if start_now else ctx.text("common.no"),
    )


def import_calendar(ctx: Ctx, on_added: OnAdded) -> bool:
    """A ``.ics`` file sent by staff (caption: ``/slots [JOB] [capacity] [ai]``).

    Returns:
        True when the file was a calendar and has been handled.
    """
    event = ctx.event
    if not isinstance(event, FileReceived):
        return False
    name = (event.media.file_name or "").lower()
    if not (name.endswith(".ics") or (event.media.mime_type or "").startswith("text/calendar")):
        return False
    words = event.caption.split()
    if words and words[0].lower().lstrip("/") == "slots":
        words = words[1:]
    code = (
        words[0]
        if words and not (words[0].isdigit() or words[0].lower() == AI_INTERVIEWER)
        else None
    )
    if not check(ctx, CALENDAR_ACCESS, code or ""):
        return True
    options = _options(words[1:] if code else words)
    if options is None or not event.media.path:
        ctx.reply("schedule.usage_slots")
        return True
    job = _resolve_job(ctx, code)
    if job is None:
        return True
    too_big = (event.media.size_bytes or 0) > MAX_ICS_BYTES
    data = b"" if too_big else ctx.services.media.get(event.media.path)
    if too_big or len(data) > MAX_ICS_BYTES:
        ctx.reply("schedule.calendar_too_big", limit=MAX_ICS_BYTES // (1024 * 1024))
        return True
    try:
        windows, problems = parse_ics(data, ctx.settings.app.timezone, now=ctx.now)
    except ValueError:
        ctx.reply("schedule.bad_calendar")
        return True
    capacity, ai = options
    _store(
        ctx,
        job,
        windows,
        capacity=capacity,
        ai=ai,
        source="ics",
        problems=problems,
        on_added=on_added,
    )
    return True


CALENDAR_ACCESS = Access("invite", "job", job_arg(0, bound=True))
