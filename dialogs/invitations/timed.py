"""The invitations feature's timed rules: a warning before an invitation expires, and its expiry."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from core.settings import Settings
from dialogs.kernel.catalog import t
from dialogs.kernel.intents import Intent, Send
from dialogs.kernel.slot_time import duration_text
from dialogs.kernel.timers import (
    FINAL_STATES,
    candidate_chat,
    hr_intents,
    job_title,
    record_funnel,
)
from dialogs.kernel.timing import Outcome, ReminderRule
from storage.db import table_of
from storage.models import AuditEvent, Invitation
from storage.schedule_models import Reminder

INVITE_EXPIRING = "invite_expiring"
INVITE_EXPIRED = "invite_expired"
_REMINDERS = table_of(Reminder)
# INSERT … ON CONFLICT (dedupe_key) DO NOTHING, per dialect: a reminder planned before stays.
_PLAN = {
    "sqlite": sqlite_insert(_REMINDERS).on_conflict_do_nothing(index_elements=["dedupe_key"]),
    "postgresql": pg_insert(_REMINDERS).on_conflict_do_nothing(index_elements=["dedupe_key"]),
}


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


def plan_missing(session: Session, settings: Settings, now: dt.datetime, limit: int) -> int:
    """Expiry reminders of open invitations that have none (made before reminders were)."""
    horizon = now + dt.timedelta(hours=settings.schedule.invite_expiry_warning_hours + 24)
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
    plan_invitations(session, settings, missing, now=now)
    return len(missing)


def _invitation(session: Session, payload: dict[str, Any]) -> Invitation | None:
    inv_id = payload.get("invitation_id")
    return session.get(Invitation, int(inv_id)) if inv_id is not None else None


def invite_expiring(
    session: Session,
    reminder: Reminder,
    payload: dict[str, Any],
    now: dt.datetime,
    settings: Settings,
) -> Outcome:
    inv = _invitation(session, payload)
    if inv is None or inv.status not in ("pending", "opened"):
        return Outcome("skipped", "invitation no longer open")
    if now >= inv.expires_at:
        return Outcome("stale", "the invitation has already expired")
    chat = candidate_chat(session, inv.candidate_id)
    if chat is None or chat.state in FINAL_STATES:
        return Outcome("skipped", "the candidate has no open chat")
    lang = chat.language
    text = t(
        lang,
        "schedule.invite_expiring",
        job=job_title(session, inv.job_id, lang),
        left=duration_text(lang, inv.expires_at - now),
    )
    return Outcome("sent", "", [Send(platform=chat.platform, chat_id=chat.chat_id, text=text)])


def invite_expired(
    session: Session,
    reminder: Reminder,
    payload: dict[str, Any],
    now: dt.datetime,
    settings: Settings,
) -> Outcome:
    inv = _invitation(session, payload)
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
    chat = candidate_chat(session, inv.candidate_id)
    if chat is not None and chat.state not in FINAL_STATES:
        intents.append(
            Send(
                platform=chat.platform,
                chat_id=chat.chat_id,
                text=t(chat.language, "invite.expired"),
            )
        )
    return Outcome("sent", "", intents)


RULES: dict[str, ReminderRule] = {INVITE_EXPIRING: invite_expiring, INVITE_EXPIRED: invite_expired}
