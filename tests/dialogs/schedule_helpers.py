"""Helpers for the scheduling, reminder and invitation tests (fixtures live in tests/conftest.py)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from app.wiring import App
from storage.models import Candidate, InterviewSession, Job, OutboxMessage
from storage.schedule_models import Booking, Reminder, Slot
from tests.harness import Chat, Delivered

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A Shanghai wall-clock time as UTC."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(dt.UTC)


def to_schedule(chat: Chat, user: str, name: str, *, lang: str = "en") -> list[Delivered]:
    """Invite ``name`` and take them through consent and identity (the scheduling step starts)."""
    token, code = chat.invite(name)
    return chat.start_interview(user, name, token, code, lang=lang)


def slot_ids(app: App) -> list[int]:
    with app.db.session() as session:
        return [
            s.id or 0
            for s in session.exec(select(Slot).order_by(col(Slot.start_at), col(Slot.id))).all()
        ]


def slot_at(app: App, start: dt.datetime, job_code: str = "sales") -> Slot:
    with app.db.session() as session:
        job = session.exec(select(Job).where(Job.code == job_code)).one()
        return session.exec(select(Slot).where(Slot.start_at == start, Slot.job_id == job.id)).one()


def bookings(app: App) -> list[Booking]:
    with app.db.session() as session:
        return list(session.exec(select(Booking).order_by(col(Booking.id))).all())


def candidate_id(app: App, user: str) -> int:
    with app.db.session() as session:
        s = session.exec(select(InterviewSession).where(InterviewSession.user_id == user)).one()
        return s.candidate_id


def state_of(app: App, user: str) -> str:
    with app.db.session() as session:
        return (
            session.exec(select(InterviewSession).where(InterviewSession.user_id == user))
            .one()
            .state
        )


def reminders(app: App, **where: object) -> list[Reminder]:
    with app.db.session() as session:
        query = select(Reminder).order_by(col(Reminder.due_at), col(Reminder.id))
        for name, value in where.items():
            query = query.where(getattr(Reminder, name) == value)
        return list(session.exec(query).all())


def outbox_texts(app: App, chat_id: str) -> list[str]:
    """Texts of the intents written to the outbox for one chat (delivered or not)."""
    import json

    with app.db.session() as session:
        rows = session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.chat_id == chat_id)
            .order_by(col(OutboxMessage.id))
        ).all()
        return [str(json.loads(r.payload).get("text", "")) for r in rows]


def candidates(app: App) -> list[Candidate]:
    with app.db.session() as session:
        return list(session.exec(select(Candidate).order_by(col(Candidate.id))).all())
