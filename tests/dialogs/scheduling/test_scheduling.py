"""Scheduling as conversations: preference, offers, booking, reschedule, cancel, start.

The FakeClock starts on Monday 2026-01-05 09:00 UTC (17:00 in Shanghai); invitations
last 14 days, so they expire on 2026-01-19 09:00 UTC.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid

import pytest
from icalendar import Calendar
from sqlmodel import select

from core.clock import FakeClock
from dialogs.kernel.events import ButtonPressed
from dialogs.kernel.timers import Reminders
from storage.models import FunnelEvent
from storage.schedule_models import Booking
from tests.dialogs.schedule_helpers import (
    bookings,
    candidate_id,
    local,
    outbox_texts,
    reminders,
    slot_at,
    slot_ids,
    state_of,
    to_schedule,
)
from tests.harness import Chat


@pytest.fixture
def sched(chat: Chat) -> Chat:
    chat.create_job()
    return chat


def pick(chat: Chat, user: str, day: str = "any", part: str = "any") -> list[str]:
    """Answer the preference questions; returns the slot buttons offered."""
    chat.send(user, f"/press sch:day:{day}")
    replies = chat.send(user, f"/press sch:part:{part}")
    return [d for d in replies[-1].button_data if d.startswith("sch:b:")]


def test_job_without_slots_goes_straight_to_questions(chat: Chat) -> None:
    chat.create_job()
    token, code = chat.invite("Alex Chen")
    chat.send("alex", f"/start {token}", lang="en")
    chat.send("alex", "/press lang:en")
    chat.send("alex", "/press consent:yes")
    chat.send("alex", "/press sens:yes")
    replies = chat.send("alex", f"Alex Chen {code}")
    assert "practice question" in replies[-1].text
    assert state_of(chat.app, "alex") == "practice"


def test_slots_command_cuts_window_into_slots(sched: Chat) -> None:
    replies = sched.send("hr", "/slots add sales 2026-01-07 09:00-10:30 2")
    assert "3 slot(s) added for sales" in replies[-1].text
    ids = slot_ids(sched.app)
    assert len(ids) == 3
    first = slot_at(sched.app, local(2026, 1, 7, 9))
    assert first.capacity == 2
    assert first.end_at - first.start_at == dt.timedelta(minutes=30)
    assert first.interviewer == "console:hr"
    # the same window again adds nothing
    replies = sched.send("hr", "/slots add sales 2026-01-07 09:00-10:30 2")
    assert "0 slot(s) added" in replies[-1].text and "3 already existed" in replies[-1].text
    listing = sched.send("hr", "/slots sales")[-1].text
    assert "0/2 booked" in listing


def test_slots_command_refuses_viewers_and_bad_input(sched: Chat) -> None:
    assert (
        "needs the HR manager role for this job"
        in sched.send("viewer", "/slots add sales 2026-01-07 09:00-10:00")[-1].text
    )
    assert "not valid" in sched.send("hr", "/slots add sales 2026-13-07 09:00-10:00")[-1].text
    assert "not valid" in sched.send("hr", "/slots add sales 2026-01-07 10:00-09:00")[-1].text
    assert (
        "Usage: /slots" in sched.send("hr", "/slots add sales 2026-01-07 09:00-10:00 lots")[-1].text
    )
    assert slot_ids(sched.app) == []


def test_identity_then_preference_then_offers_honouring_preference(sched: Chat) -> None:
    sched.send("hr", "/slots add sales 2026-01-07 09:00-10:00")  # Wednesday morning
    sched.send("hr", "/slots add sales 2026-01-10 19:00-20:00")  # Saturday evening
    sched.send("hr", "/slots add sales 2026-01-08 14:00-15:00")  # Thursday afternoon
    replies = to_schedule(sched, "alex", "Alex Chen")
    assert "Identity confirmed" in replies[0].text
    assert "Which days suit you" in replies[-1].text
    assert replies[-1].button_data == ["sch:day:weekday", "sch:day:weekend", "sch:day:any"]
    assert state_of(sched.app, "alex") == "schedule"

    sched.send("alex", "/press sch:day:weekend")
    replies = sched.send("alex", "/press sch:part:evening")
    assert "suit your preference" in replies[-1].text
    offered = [b for row in replies[-1].buttons for b in row if b.data.startswith("sch:b:")]
    assert [b.label for b in offered] == ["Sat 01-10 19:00", "Sat 01-10 19:30", "Wed 01-07 09:00"]
    assert "sch:now" in replies[-1].button_data  # the default policy allows starting now

    # change preference: weekday morning puts Wednesday first
    sched.send("alex", "/press sch:pref")
    labels = pick(sched, "alex", "weekday", "morning")
    first = slot_at(sched.app, local(2026, 1, 7, 9))
    assert labels[0] == f"sch:b:{first.id}"


def test_no_slot_matches_preference_offers_nearest(sched: Chat) -> None:
    sched.send("hr", "/slots add sales 2026-01-07 09:00-09:30")
    to_schedule(sched, "alex", "Alex Chen")
    sched.send("alex", "/press sch:day:weekend")
    replies = sched.send("alex", "/press sch:part:evening")
    assert "No free time matches your preference" in replies[-1].text
    assert any(d.startswith("sch:b:") for d in replies[-1].button_data)


def test_min_notice_deadline_and_past_slots_are_not_offered(sched: Chat, clock: FakeClock) -> None:
    sched.send(
        "hr", "/slots add sales 2026-01-05 17:30-18:00"
    )  # in 30 minutes: below the 60-minute notice
    sched.send("hr", "/slots add sales 2026-01-20 09:00-09:30")  # after the invitation expires
    sched.send("hr", "/slots add sales 2026-01-06 09:00-09:30")  # fine
    to_schedule(sched, "alex", "Alex Chen")
    offered = pick(sched, "alex")
    assert offered == [f"sch:b:{slot_at(sched.app, local(2026, 1, 6, 9)).id}"]


def test_booking_sends_ics_plans_reminders_and_records_funnel(sched: Chat) -> None:
    sched.send("hr", "/slots add sales 2026-01-07 09:00-09:30")
    to_schedule(sched, "alex", "Alex Chen")
    offered = pick(sched, "alex")
    replies = sched.send("alex", f"/press {offered[0]}")
    booked = [d for d in replies if d.kind == "send"][-1]
    assert "Booked: Wed 2026-01-07 09:00-09:30 (Asia/Shanghai)" in booked.text
    assert booked.button_data == ["sch:rs", "sch:cx", "sch:now"]
    ics = next(d for d in replies if d.kind == "file")
    assert ics.filename == "interview.ics"
    assert ics.file_data is not None
    cal = Calendar.from_ical(ics.file_data)
    event = next(iter(cal.walk("VEVENT")))
    assert event.decoded("dtstart") == local(2026, 1, 7, 9)
    assert event.decoded("dtend") == local(2026, 1, 7, 9, 30)

    cid = candidate_id(sched.app, "alex")
    kinds = [(r.kind, r.due_at) for r in reminders(sched.app, candidate_id=cid)]
    start = local(2026, 1, 7, 9)
    assert kinds == [
        ("slot_before", start - dt.timedelta(hours=24)),
        ("slot_before", start - dt.timedelta(hours=1)),
        ("slot_start", start),
        ("no_show", start + dt.timedelta(minutes=30 + 15)),
    ]
    with sched.app.db.session() as session:
        stages = session.exec(
            select(FunnelEvent.stage).where(FunnelEvent.candidate_id == cid)
        ).all()
    assert "scheduled" in stages
    # /resume shows the booking
    assert "booked for Wed 2026-01-07 09:00" in sched.send("alex", "/resume")[-1].text


def test_capacity_and_interviewer_conflicts(sched: Chat) -> None:
    sched.create_job("ops")
    # hr interviews in overlapping slots of two jobs; an AI slot has two seats.
    sched.send("hr", "/slots add sales 2026-01-07 09:00-09:30")
    sched.send("hr", "/slots add ops 2026-01-07 09:15-09:45")
    sched.send("hr", "/slots add sales 2026-01-08 10:00-10:30 2 ai")
    human = slot_at(sched.app, local(2026, 1, 7, 9))
    ops_slot = slot_at(sched.app, local(2026, 1, 7, 9, 15), "ops")
    ai = slot_at(sched.app, local(2026, 1, 8, 10))
    to_schedule(sched, "alex", "Alex Chen")
    assert pick(sched, "alex") == [f"sch:b:{human.id}", f"sch:b:{ai.id}"]
    sched.send("alex", f"/press sch:b:{human.id}")

    # an ops candidate no longer sees hr's overlapping 09:15 slot: hr is busy then
    token, code = sched.invite("Oz Ops", "ops")
    sched.start_interview("oz", "Oz Ops", token, code)
    sched.send("oz", "/press sch:day:any")
    replies = sched.send("oz", "/press sch:part:any")
    assert f"sch:b:{ops_slot.id}" not in replies[-1].button_data
    assert "no free interview times right now" in replies[-1].text

    # the AI slot takes two candidates, then it is full
    for user, name in (("bea", "Bea Wu"), ("cy", "Cy Li")):
        to_schedule(sched, user, name)
        assert pick(sched, user) == [f"sch:b:{ai.id}"]
        sched.send(user, f"/press sch:b:{ai.id}")
    to_schedule(sched, "dee", "Dee Ma")
    sched.send("dee", "/press sch:day:any")
    replies = sched.send("dee", "/press sch:part:any")
    assert "no free interview times right now" in replies[-1].text
    seats = sorted((b.slot_id, b.seat) for b in bookings(sched.app))
    assert seats == sorted([(human.id, 0), (ai.id, 0), (ai.id, 1)])


def test_stale_button_for_taken_slot(sched: Chat) -> None:
    sched.send("hr", "/slots add sales 2026-01-07 09:00-09:30")
    sched.send("hr", "/slots add sales 2026-01-07 10:00-10:30")
    to_schedule(sched, "alex", "Alex Chen")
    to_schedule(sched, "bea", "Bea Wu")
    alex_offer = pick(sched, "alex")
    bea_offer = pick(sched, "bea")
    assert alex_offer[0] == bea_offer[0]
    sched.send("alex", f"/press {alex_offer[0]}")
    replies = sched.send("bea", f"/press {bea_offer[0]}")
    assert any("just taken" in d.text for d in replies)
    assert [d for d in replies if d.kind == "send"][-1].button_data[0] == alex_offer[1]


def test_reschedule_and_cancel_free_the_seat(sched: Chat) -> None:
    sched.send("hr", "/slots add sales 2026-01-07 09:00-10:00")
    to_schedule(sched, "alex", "Alex Chen")
    first, second = pick(sched, "alex")[:2]
    sched.send("alex", f"/press {first}")
    replies = sched.send("alex", "/press sch:rs")
    assert "Pick a new time" in replies[-1].text
    assert first not in replies[-1].button_data
    sched.send("alex", f"/press {second}")
    old, new = bookings(sched.app)
    assert (old.status, old.seat) == ("rescheduled", None)
    assert (new.status, new.seat) == ("booked", 0)
    assert {r.status for r in reminders(sched.app, booking_id=old.id)} == {"cancelled"}

    replies = sched.send("alex", "/press sch:cx")
    assert any("booking is cancelled" in d.text for d in replies)
    assert bookings(sched.app)[1].status == "cancelled"
    assert bookings(sched.app)[1].seat is None
    # the freed seat can be booked again
    sched.send("alex", f"/press {second}")
    assert bookings(sched.app)[-1].status == "booked"


def test_start_button_before_during_and_start_now_policy(sched: Chat, clock: FakeClock) -> None:
    sched.send("hr", "/slots add sales 2026-01-07 09:00-09:30")
    to_schedule(sched, "alex", "Alex Chen")
    sched.send("alex", f"/press {pick(sched, 'alex')[0]}")
    replies = sched.send("alex", "/press sch:go")
    assert "Your interview is at Wed 2026-01-07 09:00" in replies[-1].text
    assert state_of(sched.app, "alex") == "schedule"

    # the slot begins: the reminder says so, with a Start button
    clock.set(local(2026, 1, 7, 9))
    Reminders(sched.app.db, sched.app.services).run_due()
    sched.flush()
    start_msg = [d for d in sched.messenger.to("alex") if "starts now" in d.text]
    assert len(start_msg) == 1 and start_msg[0].button_data == ["sch:go"]
    replies = sched.send("alex", "/press sch:go")
    assert "practice question" in replies[-1].text
    assert state_of(sched.app, "alex") == "practice"
    assert bookings(sched.app)[0].status == "started"
    # the no-show check is cancelled with the booking's other reminders
    clock.advance(hours=2)
    Reminders(sched.app.db, sched.app.services).run_due()
    assert bookings(sched.app)[0].status == "started"


def test_start_now_can_be_switched_off_per_job(sched: Chat) -> None:
    sched.send("hr", "/slots add sales 2026-01-07 09:00-09:30")
    assert (
        "may start before their slot: No"
        in sched.send("hr", "/slots policy sales startnow off")[-1].text
    )
    to_schedule(sched, "alex", "Alex Chen")
    offered = pick(sched, "alex")
    replies = sched.send("alex", "/press sch:now")
    assert replies[-1].kind == "answer" and replies[-1].alert
    assert "sch:now" not in sched.send("alex", f"/press {offered[0]}")[-2].button_data
    assert state_of(sched.app, "alex") == "schedule"

    sched.send("hr", "/slots policy sales startnow on")
    replies = sched.send("alex", "/press sch:now")
    assert "practice question" in replies[-1].text


def test_time_zone_changes_how_times_are_shown(sched: Chat) -> None:
    sched.send("hr", "/slots add sales 2026-01-07 09:00-09:30")
    to_schedule(sched, "alex", "Alex Chen")
    replies = sched.send("alex", "Europe/London")
    assert "shown in Europe/London" in replies[0].text
    sched.send("alex", "/press sch:day:any")
    replies = sched.send("alex", "/press sch:part:any")
    assert "times in Europe/London" in replies[-1].text
    assert replies[-1].buttons[0][0].label == "Wed 01-07 01:00"  # 09:00 Shanghai = 01:00 London
    assert "Please choose with the buttons" in sched.send("alex", "hello")[-1].text


def test_no_slots_then_new_slots_reach_waiting_candidates(sched: Chat) -> None:
    sched.send("hr", "/slots add sales 2026-01-07 09:00-09:30")
    sched.send("admin", "/bind sales", group="hr-room")
    to_schedule(sched, "alex", "Alex Chen")
    sched.send("alex", f"/press {pick(sched, 'alex')[0]}")
    to_schedule(sched, "bea", "Bea Wu")
    sched.send("bea", "/press sch:day:any")
    replies = sched.send("bea", "/press sch:part:any")
    assert "no free interview times right now" in replies[-1].text
    assert any("found no free interview time" in d.text for d in sched.messenger.to("hr-room"))

    replies = sched.send("hr", "/slots add sales 2026-01-08 09:00-09:30")
    to_bea = [d for d in replies if d.chat_id == "bea"]
    assert "New interview times" in to_bea[0].text
    assert any(d.startswith("sch:b:") for d in to_bea[-1].button_data)


def test_ics_import_adds_availability(sched: Chat) -> None:
    ics = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
        b"BEGIN:VEVENT\r\nUID:a@test\r\nDTSTART:20260107T010000Z\r\nDTEND:20260107T020000Z\r\nSUMMARY:free\r\nEND:VEVENT\r\n"
        b"BEGIN:VEVENT\r\nUID:b@test\r\nDTSTART;TZID=Asia/Shanghai:20260108T140000\r\nDURATION:PT30M\r\n"
        b"RRULE:FREQ=DAILY;COUNT=3\r\nEND:VEVENT\r\n"
        b"BEGIN:VEVENT\r\nUID:c@test\r\nDTSTART;VALUE=DATE:20260109\r\nEND:VEVENT\r\n"
        b"END:VCALENDAR\r\n"
    )
    path, digest = sched.app.db.media.put(ics, ".ics")
    from dialogs.kernel.events import FileReceived, MediaRef

    event = FileReceived(
        event_id=f"console:{uuid.uuid4().hex}",
        platform="console",
        chat_id="hr",
        user_id="hr",
        media=MediaRef(path=path, sha256=digest, file_name="free.ics", size_bytes=len(ics)),
        caption="/slots sales 3 ai",
        language_hint="en",
    )
    replies = sched.deliver(event)
    assert "5 slot(s) added for sales" in replies[-1].text  # 2 from the hour + 3 daily
    assert "all-day" in replies[-1].text
    first = slot_at(sched.app, local(2026, 1, 7, 9))
    assert (first.interviewer, first.capacity, first.source) == ("ai", 3, "ics")
    assert slot_at(sched.app, local(2026, 1, 10, 14)).source_uid == "b@test"
    # importing it again adds nothing
    assert (
        "0 slot(s) added"
        in sched.deliver(event.model_copy(update={"event_id": "console:again"}))[-1].text
    )


def _press_together(app_chat: Chat, users: list[str], data: str) -> list[BaseException]:
    """Each user presses the same button in their own thread, released at the same moment."""
    barrier = threading.Barrier(len(users))
    errors: list[BaseException] = []

    def press(user: str) -> None:
        event = ButtonPressed(
            event_id=f"console:{uuid.uuid4().hex}",
            platform="console",
            chat_id=user,
            user_id=user,
            data=data,
            callback_id=uuid.uuid4().hex,
        )
        try:
            barrier.wait(timeout=10)
            app_chat.app.engine.handle(event)
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=press, args=(u,)) for u in users]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    return errors


def test_two_candidates_press_the_last_seat_at_the_same_moment(sched: Chat) -> None:
    """Two threads, one database, one seat: exactly one booking wins, every round."""
    for n in range(3):
        day = 7 + n
        sched.send("hr", f"/slots add sales 2026-01-{day:02d} 09:00-09:30")
        users = [f"a{n}", f"b{n}"]
        for user in users:
            to_schedule(sched, user, f"Person {user}")
        slot = slot_at(sched.app, local(2026, 1, day, 9))
        for user in users:
            assert f"sch:b:{slot.id}" in pick(sched, user)
        assert _press_together(sched, users, f"sch:b:{slot.id}") == []
        won = [b for b in bookings(sched.app) if b.slot_id == slot.id and b.seat is not None]
        assert len(won) == 1
        loser = next(u for u in users if candidate_id(sched.app, u) != won[0].candidate_id)
        assert any("just taken" in text for text in outbox_texts(sched.app, loser))


def test_unique_seat_constraint_is_the_last_line_of_defence(sched: Chat) -> None:
    from sqlalchemy.exc import IntegrityError

    sched.send("hr", "/slots add sales 2026-01-07 09:00-09:30")
    to_schedule(sched, "alex", "Alex Chen")
    to_schedule(sched, "bea", "Bea Wu")
    slot = slot_at(sched.app, local(2026, 1, 7, 9))
    a, b = candidate_id(sched.app, "alex"), candidate_id(sched.app, "bea")
    with sched.app.db.transaction() as session:
        session.add(Booking(slot_id=slot.id or 0, seat=0, candidate_id=a))
    with sched.app.db.session() as session:
        session.add(Booking(slot_id=slot.id or 0, seat=0, candidate_id=b))
        with pytest.raises(IntegrityError):
            session.flush()


def send_calendar(chat: Chat, ics: bytes, lang: str = "en", caption: str = "/slots sales") -> str:
    from dialogs.kernel.events import FileReceived, MediaRef

    path, digest = chat.app.db.media.put(ics, ".ics")
    event = FileReceived(
        event_id=f"console:{uuid.uuid4().hex}",
        platform="console",
        chat_id="hr",
        user_id="hr",
        media=MediaRef(path=path, sha256=digest, file_name="free.ics", size_bytes=len(ics)),
        caption=caption,
        language_hint=lang,
    )
    return chat.deliver(event)[-1].text


def vevent(uid: str, *lines: str) -> bytes:
    body = "".join(f"{line}\r\n" for line in lines)
    return f"BEGIN:VEVENT\r\nUID:{uid}\r\n{body}END:VEVENT\r\n".encode()


def calendar(*events: bytes) -> bytes:
    return (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n"
        + b"".join(events)
        + (b"END:VCALENDAR\r\n")
    )


def test_calendar_events_with_absurd_values_are_skipped_one_by_one(
    sched: Chat, caplog: pytest.LogCaptureFixture
) -> None:
    ics = calendar(
        vevent("ok@t", "DTSTART:20260107T010000Z", "DTEND:20260107T020000Z"),
        vevent("year1@t", "DTSTART;TZID=Asia/Shanghai:00010101T000000", "DURATION:PT1H"),
        vevent("y9999@t", "DTSTART:99991231T230000Z", "DURATION:PT2H"),
        vevent("forever@t", "DTSTART:20260107T030000Z", "DTEND:99991231T000000Z"),
        vevent("huge@t", "DTSTART:20260107T030000Z", "DURATION:P999999999D"),
        vevent("rule@t", "DTSTART:20260107T030000Z", "DURATION:PT1H", "RRULE:FREQ=SOMETIMES"),
        vevent("far@t", "DTSTART:20300107T030000Z", "DURATION:PT1H"),
    )
    text = send_calendar(sched, ics)
    assert "2 slot(s) added for sales" in text, text
    for uid in ("year1@t", "y9999@t", "forever@t", "huge@t", "rule@t", "far@t"):
        assert f"event {uid}:" in text, (uid, text)
    assert "more than 14 days long" in text and "more than a year ahead" in text
    assert "事件 year1@t" in send_calendar(sched, ics, "zh")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_calendar_file_that_is_too_big_or_no_calendar_is_refused(sched: Chat) -> None:
    assert "not a calendar (.ics) I can read" in send_calendar(sched, b"\x00\xff not text")
    big = calendar(vevent("x@t", "DTSTART:20260107T010000Z", "DURATION:PT1H", "X-PAD:" + "x" * 70))
    big += b"X" * (2 * 1024 * 1024)
    assert "larger than 1 MB" in send_calendar(sched, big)
    assert "大于 1 MB" in send_calendar(sched, big, "zh")


def test_slots_add_refuses_absurd_dates_and_numbers(sched: Chat) -> None:
    for line, expected in (
        ("/slots add sales 0001-01-01 00:00-01:00", "not valid"),
        ("/slots add sales 9999-12-31 22:00-23:00", "more than a year ahead"),
        ("/slots add sales 2025-01-07 09:00-10:00", "already over"),
        ("/slots add sales 2026-01-07 09:00-10:00 99999999999999999999999", "Usage"),
        ("/slots add sales 2026-01-07 25:00-26:00", "not valid"),
    ):
        assert expected in sched.send("hr", line, lang="en")[-1].text, line


def test_a_forged_booking_button_books_nothing(
    sched: Chat, caplog: pytest.LogCaptureFixture
) -> None:
    sched.send("hr", "/slots add sales 2026-01-07 09:00-10:00")
    to_schedule(sched, "alex", "Alex Chen")
    for data in ("sch:b:²", "sch:b:" + "9" * 25, "sch:b:" + "9" * 50, "sch:b:-1"):
        reply = sched.send("alex", f"/press {data}")[-1]
        assert reply.kind == "answer" and "use the buttons" in reply.text, data
    assert bookings(sched.app) == []
    assert state_of(sched.app, "alex") == "schedule"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_time_zone_folder_or_path_is_not_a_time_zone(
    sched: Chat, caplog: pytest.LogCaptureFixture
) -> None:
    sched.send("hr", "/slots add sales 2026-01-07 09:00-09:30")
    to_schedule(sched, "alex", "Alex Chen")
    for text in ("America/Argentina", "Etc/", "America/../Asia/Tokyo", "Asia/"):
        assert "Please choose with the buttons" in sched.send("alex", text)[-1].text, text
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
