"""Erasing a candidate's personal data (PIPL Art. 47) while keeping what the law
requires the employer to keep (Labour Contract Law Art. 50): :func:`erase_candidate`
and :func:`legal_holds`, used by ``/deleteme`` and the retention sweep."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col
from sqlmodel import select as sm_select

from dialogs.kernel.events import parse_event
from dialogs.privacy.export import present_tables
from storage.media import MediaStore
from storage.models import (
    Answer,
    BackgroundJob,
    Candidate,
    CandidateNote,
    CandidateScore,
    ChannelIdentity,
    CodingLink,
    Evaluation,
    GroupPost,
    HumanScore,
    InboxEvent,
    InterviewSession,
    Invitation,
    OutboxMessage,
)
from storage.schedule_models import Booking, Preference, Reminder

log = logging.getLogger(__name__)

DELETED_NAME = "[deleted]"


# ================================================================== erasure
@dataclass
class Hold:
    """Something the law requires the employer to keep, and until when (None: open-ended)."""

    kind: str  # contract | employee
    until: dt.date | None


@dataclass
class Erasure:
    candidate_id: int
    files: int = 0
    answers: int = 0
    rows: int = 0
    scrubbed: int = 0
    holds: list[Hold] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "files": self.files,
            "answers": self.answers,
            "rows": self.rows,
            "scrubbed": self.scrubbed,
            "holds": len(self.holds),
        }


def legal_holds(session: Session, candidate_id: int) -> list[Hold]:
    """Signed contracts and employee records, if this install has the contracts tables."""
    try:
        from storage.contract_models import Contract, Employee
    except ImportError:  # contracts capability not installed
        return []
    present = present_tables(session)
    holds: list[Hold] = []
    if Employee.__tablename__ in present:
        for emp in session.exec(
            sm_select(Employee).where(Employee.candidate_id == candidate_id)
        ).all():
            holds.append(Hold("employee", emp.archive_until))
    if Contract.__tablename__ in present:
        for contract in session.exec(
            sm_select(Contract).where(
                Contract.candidate_id == candidate_id, Contract.status == "signed"
            )
        ).all():
            holds.append(Hold("contract", _two_years_after(contract.end_date)))
    return holds


def _two_years_after(day: dt.date | None) -> dt.date | None:
    """LCL Art. 50: contract texts are kept at least two years after the contract ends."""
    if day is None:
        return None
    try:
        return day.replace(year=day.year + 2)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 2, day=28)


def _unlink_file(path_text: str | None, root: Path) -> int:
    """Delete a file outside the media store (contract PDFs) if it lies under ``root``."""
    if not path_text:
        return 0
    path = Path(path_text).resolve()
    if not path.is_relative_to(root.resolve()):
        log.warning("not deleting a file outside the data folder")
        return 0
    if path.exists():
        path.unlink()
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # the contract's own folder, if now empty
        return 1
    return 0


def _drop_unsigned_contracts(
    session: Session, candidate_id: int, data_dir: Path
) -> tuple[int, int]:
    try:
        from storage.contract_models import Contract, SigningEvent, SigningLink
    except ImportError:
        return 0, 0
    if Contract.__tablename__ not in present_tables(session):
        return 0, 0
    rows = files = 0
    for contract in session.exec(
        sm_select(Contract).where(
            Contract.candidate_id == candidate_id, Contract.status != "signed"
        )
    ).all():
        files += _unlink_file(contract.unsigned_pdf_path, data_dir)
        files += _unlink_file(contract.signed_pdf_path, data_dir)
        for model in (SigningEvent, SigningLink):
            rows += _rowcount(
                session.execute(delete(model).where(col(model.contract_id) == contract.id))
            )
        session.delete(contract)
        rows += 1
    return rows, files


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _media_paths_of_event(payload: str) -> list[str]:
    try:
        event = parse_event(payload)
    except ValueError:
        return []
    media = getattr(event, "media", None)
    return [media.path] if media is not None and media.path else []


def erase_candidate(
    session: Session,
    media: MediaStore,
    candidate_id: int,
    *,
    now: dt.datetime,
    data_dir: Path,
    keep_event_id: str | None = None,
    scrub: bool = True,
) -> Erasure:
    """Erase one candidate's personal data inside the caller's transaction.

    Args:
        session: the open transaction.
        media: where recordings and reports live (files are deleted at once).
        candidate_id: whose data.
        now: the time of the erasure.
        data_dir: the data folder (contract PDFs are only deleted inside it).
        keep_event_id: the inbox row being processed now (kept, its user name removed).
        scrub: also remove their chat's events and messages and scrub their name, phone,
            e-mail and ID number from other chats' events and messages (for ``/deleteme``;
            the retention job leaves that to the inbox/outbox retention).

    Returns:
        What was done, without any personal data (for the audit log and HR).
    """
    result = Erasure(candidate_id)
    candidate = session.get(Candidate, candidate_id)
    if candidate is None:
        return result
    result.holds = legal_holds(session, candidate_id)
    s = session.exec(
        sm_select(InterviewSession).where(InterviewSession.candidate_id == candidate_id)
    ).first()
    needles = [
        v
        for v in (candidate.name, candidate.phone, candidate.email, candidate.id_number)
        if v and len(v.strip()) >= 2 and v != DELETED_NAME
    ]

    # -- interview data: recordings, answers, evaluations, scores ------------------
    answers = session.exec(sm_select(Answer).where(Answer.session_id == s.id)).all() if s else []
    answer_ids = [a.id for a in answers]
    for answer in answers:
        if answer.media_path and media.exists(answer.media_path):
            media.delete(answer.media_path)
            result.files += 1
    if answer_ids:
        result.rows += _rowcount(
            session.execute(delete(Evaluation).where(col(Evaluation.answer_id).in_(answer_ids)))
        )
        result.answers = _rowcount(
            session.execute(delete(Answer).where(col(Answer.id).in_(answer_ids)))
        )
    if s is not None:  # phone coding pages: their drafts are the candidate's code
        result.rows += _rowcount(
            session.execute(delete(CodingLink).where(col(CodingLink.session_id) == s.id))
        )
    for score in session.exec(
        sm_select(CandidateScore).where(CandidateScore.candidate_id == candidate_id)
    ).all():
        if score.report_path and media.exists(score.report_path):
            media.delete(score.report_path)
            result.files += 1
        session.delete(score)
        result.rows += 1
    result.rows += _rowcount(
        session.execute(delete(HumanScore).where(col(HumanScore.candidate_id) == candidate_id))
    )
    result.rows += _rowcount(  # HR's notes about them (the web console)
        session.execute(
            delete(CandidateNote).where(col(CandidateNote.candidate_id) == candidate_id)
        )
    )
    # -- scheduling --------------------------------------------------------------------
    bookings = [
        b.id
        for b in session.exec(sm_select(Booking).where(Booking.candidate_id == candidate_id)).all()
    ]
    result.rows += _rowcount(
        session.execute(
            delete(Reminder).where(
                (col(Reminder.candidate_id) == candidate_id)
                | (col(Reminder.booking_id).in_(bookings or [-1]))
            )
        )
    )
    result.rows += _rowcount(
        session.execute(delete(Booking).where(col(Booking.candidate_id) == candidate_id))
    )
    result.rows += _rowcount(
        session.execute(delete(Preference).where(col(Preference.candidate_id) == candidate_id))
    )
    # -- background work that would bring a deleted candidate back ---------------------
    result.rows += _cancel_jobs(session, candidate_id, s, answer_ids, now)

    # -- chats -------------------------------------------------------------------------
    if scrub and s is not None:
        result.scrubbed += _forget_chat(session, media, s, keep_event_id)
    if scrub and needles:
        result.scrubbed += _scrub_payloads(session, needles)

    if result.holds:
        # Stop processing but keep what the law requires: the profile the contract and
        # employee record rest on, and the chat that reaches the employee.
        candidate.resume_text = None
        session.add(candidate)
        return result

    rows, files = _drop_unsigned_contracts(session, candidate_id, data_dir)
    result.rows += rows
    result.files += files
    result.rows += _rowcount(
        session.execute(
            delete(ChannelIdentity).where(col(ChannelIdentity.candidate_id) == candidate_id)
        )
    )
    if s is not None:
        session.delete(s)
        result.rows += 1
    # Row by row: each encrypted code is bound to its own row (storage/types.py).
    for invitation in session.exec(
        sm_select(Invitation).where(Invitation.candidate_id == candidate_id)
    ).all():
        invitation.status, invitation.code = "revoked", DELETED_NAME
        session.add(invitation)
    candidate.name = DELETED_NAME
    candidate.phone = candidate.phone_hash = None
    candidate.email = candidate.email_hash = None
    candidate.id_number = candidate.address = candidate.resume_text = None
    candidate.status = "deleted"
    candidate.deleted_at = now
    session.add(candidate)
    session.flush()
    return result


def _cancel_jobs(
    session: Session,
    candidate_id: int,
    s: InterviewSession | None,
    answer_ids: list[int | None],
    now: dt.datetime,
) -> int:
    cancelled = 0
    wanted = {
        ("candidate_id", candidate_id),
        *(("answer_id", a) for a in answer_ids if a is not None),
        *((("session_id", s.id),) if s is not None and s.id is not None else ()),
    }
    for job in session.exec(
        sm_select(BackgroundJob).where(col(BackgroundJob.status).in_(("pending", "failed")))
    ).all():
        if any(
            (k, job.payload.get(k)) in wanted for k in ("candidate_id", "answer_id", "session_id")
        ):
            job.status = "done"
            job.error = "cancelled: the candidate's data was deleted"
            job.finished_at = now
            session.add(job)
            cancelled += 1
    return cancelled


def _forget_chat(
    session: Session, media: MediaStore, s: InterviewSession, keep_event_id: str | None
) -> int:
    """Remove the candidate's own chat events and delivered messages (and stray media)."""
    removed = 0
    events = session.exec(
        sm_select(InboxEvent).where(
            InboxEvent.platform == s.platform, InboxEvent.chat_id == s.chat_id
        )
    ).all()
    for row in events:
        for rel in _media_paths_of_event(row.payload):
            media.delete(rel)
        if row.event_id == keep_event_id:
            data = json.loads(row.payload)
            data["user_name"] = ""
            row.payload = json.dumps(data, ensure_ascii=False)
            session.add(row)
            continue
        if row.status == "received":
            continue  # not processed yet: the engine will still handle it
        session.delete(row)
        removed += 1
    removed += _rowcount(
        session.execute(
            delete(OutboxMessage).where(
                col(OutboxMessage.platform) == s.platform,
                col(OutboxMessage.chat_id) == s.chat_id,
                col(OutboxMessage.status).in_(("sent", "failed")),
            )
        )
    )
    return removed


def _scrub(value: Any, needles: list[str]) -> Any:
    if isinstance(value, str):
        for needle in needles:
            value = value.replace(needle, DELETED_NAME)
        return value
    if isinstance(value, list):
        return [_scrub(v, needles) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v, needles) for k, v in value.items()}
    return value


def _scrub_payloads(session: Session, needles: list[str]) -> int:
    """Replace the candidate's name, phone, e-mail, ID number in every stored event/message."""
    changed = 0
    rows: list[InboxEvent | OutboxMessage | GroupPost] = [
        *session.exec(sm_select(InboxEvent)).all(),
        *session.exec(sm_select(OutboxMessage)).all(),
        *session.exec(sm_select(GroupPost)).all(),  # HR-group posts waiting or reported
    ]
    for row in rows:
        if not any(n in row.payload for n in needles):
            continue
        data = _scrub(json.loads(row.payload), needles)
        row.payload = json.dumps(data, ensure_ascii=False)
        session.add(row)
        changed += 1
    return changed
