"""Retention: personal data is deleted when its time is up (``[retention]`` in config.toml).

One run (:func:`run_retention`) does, in small transactions:

* ``media_days_after_decision``: voice and video recordings of candidates a person (or
  the job's explicit auto-reject) decided on that many days ago are deleted; the
  transcripts and scores stay with the record.
* ``rejected_record_days``: the whole record of a rejected candidate is erased like a
  ``/deleteme`` (:func:`dialogs.privacy.erasure.erase_candidate`; legal holds respected).
* ``unfinished_days``: candidates who never finished (invited, started, declined, locked)
  and have had no activity and no open invitation for that long are erased.
* Employees whose archive period is over: the Labour Contract Law (Art. 50) makes the
  employer keep an ended contract at least two years, so signing records the date
  (``Employee.archive_until``, two years after a fixed term ends). Once every record
  the law keeps for a candidate has passed its date, the contracts (rows, audit trail,
  signing links, the encrypted PDFs and their folder) and the employee record are
  deleted, then the rest of the record is erased like a rejected candidate's; an audit
  event says so, with counts only. Open-ended and task-based contracts have no end date
  here, so they are kept.
* ``inbox_outbox_days``: raw chat events (processed, failed or throttled; never the
  unprocessed ones) and delivered or failed messages are deleted, with files only they
  referenced (exports, QR codes, charts, stray downloads). A delivered message that a
  later edit may target keeps its row, with its content blanked.
* ``audit_days``: older audit events are deleted.

It logs and audits counts only, never personal data. The reminder scheduler's leader
calls :func:`run_if_due` on every tick, which runs once a day; ``python main.py
retention run`` runs it by hand (cron, or a deployment without the scheduler).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from collections.abc import Sequence
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import delete
from sqlmodel import Session, col, select

from contracts.files import ContractFiles
from core.clock import Clock, as_utc
from core.settings import Settings
from dialogs.kernel.context import Services
from dialogs.kernel.events import parse_event
from dialogs.kernel.feature import Feature
from dialogs.kernel.intents import SendFile, parse_intent
from dialogs.privacy.erasure import (
    erase_candidate,
    legal_holds,
)
from storage.contract_models import Contract, Employee, SigningEvent, SigningLink
from storage.db import Database
from storage.models import (
    Answer,
    AuditEvent,
    Candidate,
    CandidateScore,
    Decision,
    GroupPost,
    InboxEvent,
    InterviewSession,
    Invitation,
    KeyValue,
    OutboxMessage,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
LAST_RUN_KEY = "retention:last_run"
RUN_EVERY = dt.timedelta(hours=24)
BATCH = 200
UNFINISHED = ("invited", "started", "withdrawn")
BLANK = "{}"


def run_retention(db: Database, settings: Settings, clock: Clock) -> dict[str, int]:
    """Delete what is due; returns counts per kind (no personal data)."""
    r = settings.retention
    now = clock.now()
    counts = {
        "recordings": 0,
        "rejected_candidates": 0,
        "unfinished_candidates": 0,
        "archived_employees": 0,
        "inbox_events": 0,
        "outbox_messages": 0,
        "files": 0,
        "audit_events": 0,
    }
    if not r.enabled:
        return counts
    counts["recordings"] = _recordings(db, now - dt.timedelta(days=r.media_days_after_decision))
    counts["rejected_candidates"] = _erase(
        db, settings, now, _rejected(db, now - dt.timedelta(days=r.rejected_record_days))
    )
    counts["unfinished_candidates"] = _erase(
        db, settings, now, _unfinished(db, now, now - dt.timedelta(days=r.unfinished_days))
    )
    today = now.astimezone(ZoneInfo(settings.app.timezone)).date()
    employees, contract_files = _purge_archived(db, settings, now, _archived(db, today))
    counts["archived_employees"] = employees
    inbox, outbox, files = _chat_logs(db, now - dt.timedelta(days=r.inbox_outbox_days))
    counts["inbox_events"], counts["outbox_messages"] = inbox, outbox
    counts["files"] = files + contract_files
    with db.transaction() as session:
        old = session.execute(
            delete(AuditEvent).where(col(AuditEvent.at) <= now - dt.timedelta(days=r.audit_days))
        )
        counts["audit_events"] = int(getattr(old, "rowcount", 0) or 0)
        session.add(AuditEvent(at=now, actor="system", action="retention_run", details=counts))
    log.info("retention run: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))
    return counts


# ------------------------------------------------------------------ recordings
def _recordings(db: Database, cutoff: dt.datetime) -> int:
    """Recordings of candidates decided before ``cutoff``."""
    deleted = 0
    with db.session() as session:
        rows = session.exec(
            select(Answer.id, Answer.media_path)
            .join(InterviewSession, col(InterviewSession.id) == col(Answer.session_id))
            .join(Decision, col(Decision.candidate_id) == col(InterviewSession.candidate_id))
            .where(
                Decision.status == "decided",
                col(Decision.decided_at) <= cutoff,
                col(Answer.media_path).is_not(None),
            )
        ).all()
    for chunk in _chunks(list(rows)):
        with db.transaction() as session:
            for answer_id, path in chunk:
                if path and db.media.exists(path):
                    db.media.delete(path)
                    deleted += 1
                answer = session.get(Answer, answer_id)
                if answer is not None:
                    answer.media_path = None
                    answer.media_sha256 = None
                    session.add(answer)
    return deleted


# ------------------------------------------------------------------ whole records
def _rejected(db: Database, cutoff: dt.datetime) -> list[int]:
    with db.session() as session:
        return [
            cid
            for cid in session.exec(
                select(Candidate.id)
                .join(Decision, col(Decision.candidate_id) == col(Candidate.id))
                .where(
                    Candidate.status == "rejected",
                    Decision.status == "decided",
                    col(Decision.decided_at) <= cutoff,
                )
            ).all()
            if cid is not None
        ]


def _unfinished(db: Database, now: dt.datetime, cutoff: dt.datetime) -> list[int]:
    """Never finished, idle since ``cutoff``, and no invitation still open."""
    found: list[int] = []
    with db.session() as session:
        candidates = session.exec(
            select(Candidate.id).where(
                col(Candidate.status).in_(UNFINISHED), col(Candidate.created_at) <= cutoff
            )
        ).all()
        for cid in candidates:
            s = session.exec(
                select(InterviewSession).where(InterviewSession.candidate_id == cid)
            ).first()
            if s is not None and as_utc(s.updated_at) > cutoff:
                continue
            open_invitation = session.exec(
                select(Invitation.id).where(
                    Invitation.candidate_id == cid,
                    col(Invitation.status).in_(("pending", "opened")),
                    col(Invitation.expires_at) > now,
                )
            ).first()
            if open_invitation is None and cid is not None:
                found.append(cid)
    return found


def _erase(db: Database, settings: Settings, now: dt.datetime, ids: list[int]) -> int:
    erased = 0
    for cid in ids:
        with db.transaction() as session:  # one candidate per transaction: short locks
            done = erase_candidate(
                session, db.media, cid, now=now, data_dir=settings.app.data_dir, scrub=False
            )
            session.add(
                AuditEvent(
                    at=now,
                    actor="system",
                    action="data_deleted",
                    subject=f"candidate:{cid}",
                    details={"reason": "retention", **done.counts()},
                )
            )
        erased += 1
    return erased


# ------------------------------------------------------------------ employees
def _archived(db: Database, today: dt.date) -> list[int]:
    """Candidates whose every legal hold (employee record, signed contract) has ended.

    A hold with no date (an open-ended contract) never ends here; a hold ends the day
    after its date (the law says "at least two years").
    """
    found: list[int] = []
    with db.session() as session:
        ids = session.exec(
            select(Employee.candidate_id)
            .where(col(Employee.archive_until).is_not(None), col(Employee.archive_until) < today)
            .distinct()
        ).all()
        for cid in ids:
            holds = legal_holds(session, cid)
            if holds and all(h.until is not None and h.until < today for h in holds):
                found.append(cid)
    return found


def _purge_archived(
    db: Database, settings: Settings, now: dt.datetime, ids: list[int]
) -> tuple[int, int]:
    """Delete the contracts and employee records of ``ids``, then erase the candidates.

    Returns (employee records deleted, contract files deleted). One candidate per
    transaction; the files go inside it, before the commit, so a failed commit leaves
    rows that the next run deletes (a missing file is no error).
    """
    files = ContractFiles.in_data_dir(settings.app.data_dir, db.keyring)
    employees = removed_files = 0
    for cid in ids:
        with db.transaction() as session:
            contracts = session.exec(select(Contract).where(Contract.candidate_id == cid)).all()
            contract_ids = [c.id for c in contracts if c.id is not None]
            gone = session.execute(delete(Employee).where(col(Employee.candidate_id) == cid))
            people = int(getattr(gone, "rowcount", 0) or 0)
            rows = 0
            for model in (SigningEvent, SigningLink):
                result = session.execute(
                    delete(model).where(col(model.contract_id).in_(contract_ids or [-1]))
                )
                rows += int(getattr(result, "rowcount", 0) or 0)
            pdfs = 0
            for contract in contracts:
                pdfs += files.delete_contract(contract.contract_no)
                session.delete(contract)
            session.flush()
            done = erase_candidate(
                session, db.media, cid, now=now, data_dir=settings.app.data_dir, scrub=False
            )
            counts = done.counts()
            session.add(
                AuditEvent(
                    at=now,
                    actor="system",
                    action="data_deleted",
                    subject=f"candidate:{cid}",
                    details={
                        "reason": "archive_period_over",
                        "law": "LCL Art. 50",
                        "employee_records": people,
                        "contracts": len(contracts),
                        "contract_files": pdfs,
                        "signing_rows": rows,
                        **counts,
                    },
                )
            )
        employees += people
        removed_files += pdfs
    return employees, removed_files


# ------------------------------------------------------------------ chat logs
def _protected_files(session: Session) -> set[str]:
    """Files a record still needs (recordings, reports) must outlive the chat logs."""
    answers = session.exec(select(Answer.media_path).where(col(Answer.media_path).is_not(None)))
    reports = session.exec(
        select(CandidateScore.report_path).where(col(CandidateScore.report_path).is_not(None))
    )
    return {p for p in [*answers.all(), *reports.all()] if p}


def _chat_logs(db: Database, cutoff: dt.datetime) -> tuple[int, int, int]:
    inbox = outbox = files = 0
    with db.session() as session:
        protected = _protected_files(session)
        event_ids = session.exec(
            select(InboxEvent.id).where(
                col(InboxEvent.received_at) <= cutoff, InboxEvent.status != "received"
            )
        ).all()
        message_ids = session.exec(
            select(OutboxMessage.id).where(
                col(OutboxMessage.created_at) <= cutoff,
                col(OutboxMessage.status).in_(("sent", "failed")),
            )
        ).all()
    for chunk in _chunks(list(event_ids)):
        with db.transaction() as session:
            for row in session.exec(select(InboxEvent).where(col(InboxEvent.id).in_(chunk))):
                files += _drop_files(db, _event_files(row.payload), protected)
                session.delete(row)
                inbox += 1
    with db.transaction() as session:  # HR-group posts sent, merged, folded or digested
        gone = session.execute(
            delete(GroupPost).where(
                col(GroupPost.created_at) <= cutoff, col(GroupPost.status) != "pending"
            )
        )
        outbox += int(getattr(gone, "rowcount", 0) or 0)
    for chunk in _chunks(list(message_ids)):
        with db.transaction() as session:
            for msg in session.exec(select(OutboxMessage).where(col(OutboxMessage.id).in_(chunk))):
                if msg.payload == BLANK:
                    continue  # blanked on an earlier run: nothing left to do
                files += _drop_files(db, _intent_files(msg.payload), protected)
                if msg.ref is not None and msg.status == "sent":
                    msg.payload = BLANK  # a later Edit finds the platform message id here
                    session.add(msg)
                else:
                    session.delete(msg)
                outbox += 1
    return inbox, outbox, files


def _event_files(payload: str) -> list[str]:
    try:
        media = getattr(parse_event(payload), "media", None)
    except ValueError:
        return []
    return [media.path] if media is not None and media.path else []


def _intent_files(payload: str) -> list[str]:
    try:
        intent = parse_intent(payload)
    except ValueError:
        return []
    if isinstance(intent, SendFile) and intent.encrypted:
        return [intent.path]
    return []


def _drop_files(db: Database, paths: list[str], protected: set[str]) -> int:
    dropped = 0
    for rel in paths:
        if rel in protected:
            continue
        try:
            if db.media.exists(rel):
                db.media.delete(rel)
                dropped += 1
        except Exception:
            log.warning("retention: could not delete a media file; kept")
    return dropped


def _chunks(items: list[T]) -> list[list[T]]:
    return [items[i : i + BATCH] for i in range(0, len(items), BATCH)]


# ------------------------------------------------------------------ daily job
def run_if_due(db: Database, services: Services) -> dict[str, int] | None:
    """Run once a day (called by the reminder scheduler's leader on each tick)."""
    settings = services.settings
    if not settings.retention.enabled:
        return None
    now = services.clock.now()
    try:
        with db.transaction() as session:
            row = session.exec(
                select(KeyValue).where(KeyValue.key == LAST_RUN_KEY).with_for_update()
            ).first()
            if row is not None and now - dt.datetime.fromisoformat(row.value) < RUN_EVERY:
                return None
            row = row or KeyValue(key=LAST_RUN_KEY, value="")
            row.value = now.isoformat()
            session.add(row)  # claimed before the run: a crash waits a day, never loops
        return run_retention(db, settings, services.clock)
    except Exception:
        log.exception("retention run failed; it is tried again on the next day")
        return None


# ------------------------------------------------------------------ CLI
def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ret = sub.add_parser("retention", help="delete personal data whose retention is over")
    rsub = ret.add_subparsers(dest="retention_command", required=True)
    rsub.add_parser("run", help="run the retention job now and print the counts").set_defaults(
        func=_run_command
    )


def _run_command(args: argparse.Namespace) -> int:
    from core.clock import SystemClock
    from core.logging import setup_logging
    from core.settings import load_settings
    from storage import migrate
    from storage.db import open_database

    settings = load_settings(args.config)
    setup_logging(settings.app.log_level)
    db = open_database(settings)
    try:
        migrate.upgrade(db.engine)  # as every command that opens the app does
        counts = run_retention(db, settings, SystemClock())
    finally:
        db.engine.dispose()
    for kind, n in counts.items():
        print(f"{kind} {n}")
    return 0


__all__: Sequence[str] = ("run_retention", "run_if_due", "register")


FEATURE = Feature("retention", periodic=(run_if_due,), cli=register)
