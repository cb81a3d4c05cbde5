"""The contracting feature's timed rule: HR hears before a contract ends."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlmodel import Session

from core.settings import Settings
from dialogs.kernel.catalog import t
from dialogs.kernel.slot_time import duration_text, zone
from dialogs.kernel.timers import (
    add_reminder,
    hr_intents,
)
from dialogs.kernel.timing import Outcome, ReminderRule
from storage.schedule_models import Reminder

CONTRACT_EXPIRY = "contract_expiry"


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


def contract_expiry(
    session: Session,
    reminder: Reminder,
    payload: dict[str, Any],
    now: dt.datetime,
    settings: Settings,
) -> Outcome:
    ends = dt.datetime.fromisoformat(str(payload.get("ends_at")))
    if now >= ends:
        return Outcome("stale", "the contract has already ended")
    if reminder.job_id is None:
        return Outcome("skipped", "no job")
    local = ends.astimezone(zone(None, settings.app.timezone))

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


RULES: dict[str, ReminderRule] = {CONTRACT_EXPIRY: contract_expiry}
