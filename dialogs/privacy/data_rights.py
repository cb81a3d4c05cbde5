"""The candidate's data rights: ``/mydata`` (a ZIP of everything stored) and ``/deleteme``.

``/mydata`` builds a ZIP in the candidate's language: profile, consent records, answers
with transcripts, AI evaluations, people's scores, the decision, the audit events about
them, rows of any other table that names them (bookings, contracts ...) and the
recordings, decrypted. The ZIP is stored encrypted like any media file and sent to the
candidate's own chat (PIPL Art. 45). The command only queues the work (the candidate is
told it is coming); the ``data_export`` background job builds and sends it.

``/deleteme`` asks for confirmation (``del:yes:NONCE`` / ``del:no:NONCE``, the nonce stored
with the pending request for ten minutes, used once). Confirmed, it erases the
candidate's personal data (:func:`erase_candidate`): recordings and reports are deleted,
answers, evaluations, scores and scheduling rows removed, the profile anonymised, their
chat's raw events and messages removed and their name, phone, e-mail and ID number
scrubbed from the HR chats' events and messages (PIPL Art. 47). Records the law requires
the employer to keep (a signed labour contract and the employee record, Labour Contract
Law Art. 50) are kept when the contracts tables exist; the candidate is told which and
until when. Anonymous facts stay: the funnel stage counts and the decision row (without
a name) keep the statistics right, and the audit log records that a deletion happened.
HR is told. Every export and deletion is audited.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import logging
import secrets
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import delete, inspect, select
from sqlmodel import Session, col
from sqlmodel import select as sm_select

from dialogs.kernel.access import Access
from dialogs.kernel.catalog import t
from dialogs.kernel.context import Ctx
from dialogs.kernel.events import ButtonPressed, parse_event
from dialogs.kernel.feature import ButtonEntry, Feature
from dialogs.kernel.intents import Button, Intent, Send, SendFile
from dialogs.kernel.notify import hr_group_chats
from dialogs.kernel.worker import JobContext
from storage.media import MediaStore
from storage.models import (
    Answer,
    AuditEvent,
    BackgroundJob,
    Candidate,
    CandidateScore,
    ChannelIdentity,
    Decision,
    Evaluation,
    HumanScore,
    InboxEvent,
    InterviewSession,
    Invitation,
    KeyValue,
    OutboxMessage,
)
from storage.schedule_models import Booking, Preference, Reminder
from storage.tables import metadata

log = logging.getLogger(__name__)

# Telegram bots may send files up to 50 MB; leave room for the JSON and the ZIP itself.
MAX_EXPORT_MEDIA_BYTES = 45_000_000
DELETED_NAME = "[deleted]"
# How long the buttons of a /deleteme request stay valid.
DELETE_CONFIRM_TTL = dt.timedelta(minutes=10)
# Tables exported by name below; any other table with a candidate_id column is dumped too.
_EXPORTED = {
    "candidate",
    "interviewsession",
    "answer",
    "evaluation",
    "humanscore",
    "candidatescore",
    "decision",
    "invitation",
    "auditevent",
}


# ================================================================== notice
# ================================================================== /mydata
EXPORT_JOB = "data_export"


def export(ctx: Ctx, s: InterviewSession) -> None:
    """Record the request and queue the ZIP; the worker builds and sends it.

    Building the ZIP (reading and decrypting the recordings, compressing) takes
    seconds, so it is not done inside the event's transaction, which on SQLite holds
    the one writer lock every other candidate's answer waits for. One export per
    candidate and minute: a repeated ``/mydata`` in the same minute is told the file
    is on its way instead of building a second ZIP.
    """
    candidate = ctx.session.get(Candidate, s.candidate_id)
    if candidate is None or candidate.status == "deleted":
        ctx.reply("privacy.nothing")
        return
    key = f"{EXPORT_JOB}:{candidate.id}:{ctx.now:%Y%m%d%H%M}"
    if ctx.session.exec(sm_select(BackgroundJob.id).where(BackgroundJob.key == key)).first():
        ctx.reply("privacy.export_already")
        return
    ctx.enqueue(
        EXPORT_JOB,
        {
            "candidate_id": candidate.id,
            "session_id": s.id,
            "platform": ctx.event.platform,
            "chat_id": ctx.event.chat_id,
            "user_id": ctx.event.user_id,
            "lang": ctx.lang,
            "requested_at": ctx.now.isoformat(),
        },
        key=key,
    )
    ctx.audit("data_export_requested", f"candidate:{candidate.id}")
    ctx.reply("privacy.export_preparing")


Packer = Callable[["ExportParts", MediaStore], tuple[bytes, int, int]]


def export_job(pack: Packer | None = None) -> Callable[[BackgroundJob, JobContext], None]:
    """The ``data_export`` job handler (``pack`` builds the ZIP; tests pass a fake)."""
    packer = pack or pack_export

    def handle(job: BackgroundJob, ctx: JobContext, /) -> None:
        run_export(job, ctx, packer)

    return handle


def run_export(job: BackgroundJob, ctx: JobContext, pack: Packer) -> None:
    """Read the rows in a short session, build the ZIP with no session open, then send
    it, audit and mark the job done in one short transaction (exactly once)."""
    payload = job.payload
    candidate_id = int(payload["candidate_id"])
    requested = dt.datetime.fromisoformat(str(payload["requested_at"]))
    lang = str(payload.get("lang") or "zh")
    platform, chat_id = str(payload["platform"]), str(payload["chat_id"])
    with ctx.db.session() as session:
        candidate = session.get(Candidate, candidate_id)
        s = session.get(InterviewSession, int(payload["session_id"]))
        parts = (
            None
            if candidate is None or candidate.status == "deleted" or s is None
            else collect_export(session, candidate, s, requested)
        )
    if parts is None:  # erased since the request: nothing left to send
        return
    data, included, skipped = pack(parts, ctx.db.media)
    path, _digest = ctx.db.media.put(data, ".zip")
    intents: list[Intent] = [
        SendFile(
            platform=platform,
            chat_id=chat_id,
            path=path,
            filename=f"my-data-{requested:%Y%m%d}.zip",
            caption=t(lang, "privacy.export_caption", date=f"{requested:%Y-%m-%d}"),
            mime_type="application/zip",
            encrypted=True,
        )
    ]
    if skipped:
        intents.append(
            Send(
                platform=platform,
                chat_id=chat_id,
                text=t(lang, "privacy.export_media_skipped", n=skipped),
            )
        )
    with ctx.db.transaction() as session:
        fresh = session.get(Candidate, candidate_id)
        sent = fresh is not None and fresh.status != "deleted" and ctx.claim_result(session, job)
        if sent:
            ctx.emit(session, intents, source=f"job:{EXPORT_JOB}:{job.id}")
            session.add(
                AuditEvent(
                    at=ctx.services.clock.now(),
                    actor=f"{platform}:{payload.get('user_id', '')}",
                    action="data_export",
                    subject=f"candidate:{candidate_id}",
                    details={"files": included, "skipped": skipped, "bytes": len(data)},
                )
            )
    if not sent:  # sent by an earlier run, or erased meanwhile: this copy is not needed
        ctx.db.media.delete(path)


def _json(value: Any) -> str:
    def default(obj: Any) -> Any:
        if isinstance(obj, dt.datetime | dt.date | dt.time):
            return obj.isoformat()
        if isinstance(obj, Decimal):
            return str(obj)
        if isinstance(obj, bytes):
            return f"<{len(obj)} bytes>"
        raise TypeError(type(obj).__name__)

    return json.dumps(value, ensure_ascii=False, indent=2, default=default)


def _row(obj: Any, drop: Iterable[str] = ()) -> dict[str, Any]:
    skip = set(drop)
    return {
        k: v
        for k, v in obj.model_dump().items()
        if k not in skip and not k.endswith("_hash") and k != "id"
    }


def _actor(actor: str, s: InterviewSession) -> str:
    if actor == f"{s.platform}:{s.user_id}":
        return "you"
    return "system" if actor == "system" else "staff"


def _suffix(rel: str) -> str:
    name = rel.rsplit("/", 1)[-1].removesuffix(".enc")
    return Path(name).suffix or ".bin"


@dataclass
class _MediaRef:
    """A file for ``media/``: where it is stored, its name in the ZIP, and the row key
    that names it (set to the ZIP path, or left None when missing or over budget)."""

    rel: str | None
    name: str
    row: dict[str, Any]
    slot: str


@dataclass
class ExportParts:
    """Everything read from the database for one export; packing it needs no session."""

    candidate_id: int
    lang: str
    now: dt.datetime
    sections: dict[str, Any]
    media: list[_MediaRef]


def collect_export(
    session: Session, candidate: Candidate, s: InterviewSession, now: dt.datetime
) -> ExportParts:
    """The rows of the export (the quick part: queries only, no files)."""
    cid = candidate.id or 0
    answers = session.exec(
        sm_select(Answer).where(Answer.session_id == s.id).order_by(col(Answer.id))
    ).all()
    answer_ids = [a.id for a in answers]
    evaluations = (
        session.exec(
            sm_select(Evaluation)
            .where(col(Evaluation.answer_id).in_(answer_ids))
            .order_by(col(Evaluation.id))
        ).all()
        if answer_ids
        else []
    )
    score = session.exec(
        sm_select(CandidateScore).where(CandidateScore.candidate_id == cid)
    ).first()
    decision = session.exec(sm_select(Decision).where(Decision.candidate_id == cid)).first()
    audit = session.exec(
        sm_select(AuditEvent)
        .where(AuditEvent.subject == f"candidate:{cid}")
        .order_by(col(AuditEvent.id))
    ).all()
    invitation = session.get(Invitation, s.invitation_id)

    media: list[_MediaRef] = []
    answer_rows = []
    for a in answers:
        label = "practice" if a.practice else f"q{a.position + 1}"
        row = _row(a, drop=("media_path", "media_sha256", "session_id"))
        row["file"] = None
        name = f"answer-{label}-{a.attempt}{_suffix(a.media_path or '')}"
        media.append(_MediaRef(a.media_path, name, row, "file"))
        answer_rows.append(row)
    score_row = _row(score, drop=("report_path",)) if score else None
    if score is not None and score_row is not None:
        score_row["report"] = None
        media.append(_MediaRef(score.report_path, "report.pdf", score_row, "report"))
    decision_row = _row(decision, drop=("decided_by", "decided_in_chat")) if decision else None
    if decision is not None and decision_row is not None:
        decision_row["decided_by"] = (
            "system" if decision.automatic else ("a person" if decision.decided_by else None)
        )
    consent = {
        "notice_version_accepted": s.consent_version,
        "accepted_at": s.consent_at,
        "voice_and_video_consent (PIPL Art. 29)": s.sensitive_consent,
        "events": [
            {"at": e.at, "action": e.action, "details": e.details}
            for e in audit
            if e.action.startswith(("consent", "sensitive"))
        ],
    }
    sections: dict[str, Any] = {
        "profile.json": {
            "candidate": _row(candidate),
            "channels": [
                _row(i)
                for i in session.exec(
                    sm_select(ChannelIdentity).where(ChannelIdentity.candidate_id == cid)
                ).all()
            ],
            "invitation": _row(invitation, drop=("token", "code")) if invitation else None,
        },
        "interview.json": _row(s),
        "consent.json": consent,
        "answers.json": answer_rows,
        "evaluations.json": [_row(e) for e in evaluations],
        "human_scores.json": [
            _row(h, drop=("scorer",))
            for h in session.exec(sm_select(HumanScore).where(HumanScore.candidate_id == cid)).all()
        ],
        "scores.json": score_row,
        "decision.json": decision_row,
        "audit_log.json": [
            {"at": e.at, "by": _actor(e.actor, s), "action": e.action, "details": e.details}
            for e in audit
        ],
        "other_records.json": _other_rows(session, cid),
    }
    return ExportParts(cid, s.language, now, sections, media)


def pack_export(parts: ExportParts, media: MediaStore) -> tuple[bytes, int, int]:
    """The ZIP (the slow part: decrypting recordings, compressing): (bytes, files
    included, recordings left out for size)."""
    files: dict[str, bytes] = {}
    budget = MAX_EXPORT_MEDIA_BYTES
    skipped = 0
    for ref in parts.media:
        if not ref.rel or not media.exists(ref.rel):
            continue
        data = media.get(ref.rel)
        if len(data) > budget:
            skipped += 1
            continue
        budget -= len(data)
        files[f"media/{ref.name}"] = data
        ref.row[ref.slot] = f"media/{ref.name}"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "README.txt",
            t(
                parts.lang,
                "privacy.export_readme",
                date=parts.now.isoformat(timespec="seconds"),
                id=parts.candidate_id,
            ),
        )
        for name, value in parts.sections.items():
            archive.writestr(name, _json(value))
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue(), len(files), skipped


def build_export(
    session: Session,
    media: MediaStore,
    candidate: Candidate,
    s: InterviewSession,
    now: dt.datetime,
) -> tuple[bytes, int, int]:
    """The ZIP in one go: (bytes, files included, recordings left out for size)."""
    return pack_export(collect_export(session, candidate, s, now), media)


def _present_tables(session: Session) -> set[str]:
    return set(inspect(session.connection()).get_table_names())


def _other_rows(session: Session, candidate_id: int) -> dict[str, list[dict[str, Any]]]:
    """Rows of every other table that has a ``candidate_id`` (bookings, contracts ...)."""
    present = _present_tables(session)
    out: dict[str, list[dict[str, Any]]] = {}
    for table in metadata.sorted_tables:
        if table.name in _EXPORTED or table.name not in present or "candidate_id" not in table.c:
            continue
        rows = session.execute(select(table).where(table.c.candidate_id == candidate_id)).all()
        if rows:
            out[table.name] = [
                {k: v for k, v in row._mapping.items() if not k.endswith("_hash") and k != "id"}
                for row in rows
            ]
    return out


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
    present = _present_tables(session)
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
    if Contract.__tablename__ not in _present_tables(session):
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
    rows: list[InboxEvent | OutboxMessage] = [
        *session.exec(sm_select(InboxEvent)).all(),
        *session.exec(sm_select(OutboxMessage)).all(),
    ]
    for row in rows:
        if not any(n in row.payload for n in needles):
            continue
        data = _scrub(json.loads(row.payload), needles)
        row.payload = json.dumps(data, ensure_ascii=False)
        session.add(row)
        changed += 1
    return changed


# ================================================================== /deleteme
def _pending_key(candidate_id: int) -> str:
    return f"deleteme:{candidate_id}"


def ask_delete(ctx: Ctx, s: InterviewSession) -> None:
    """Ask the candidate to confirm with a button that only this request's answer fits.

    The buttons carry a nonce stored with the pending request (valid for
    :data:`DELETE_CONFIRM_TTL`); a newer ``/deleteme`` replaces it, so an older message's
    buttons, a forged ``del:yes`` or one pressed twice delete nothing.
    """
    nonce = secrets.token_urlsafe(9)
    key = _pending_key(s.candidate_id)
    pending = ctx.session.get(KeyValue, key) or KeyValue(key=key, value="")
    pending.value = nonce
    pending.expires_at = ctx.now + DELETE_CONFIRM_TTL
    ctx.session.add(pending)
    ctx.audit("deletion_requested", f"candidate:{s.candidate_id}")
    ctx.reply(
        "privacy.delete_confirm",
        buttons=[
            [
                Button(label=ctx.text("privacy.delete_yes"), data=f"del:yes:{nonce}"),
                Button(label=ctx.text("privacy.delete_no"), data=f"del:no:{nonce}"),
            ]
        ],
    )


def _take_pending(ctx: Ctx, candidate_id: int, nonce: str) -> bool:
    """True (and the request used up) when ``nonce`` is the candidate's live request's."""
    pending = ctx.session.exec(
        sm_select(KeyValue).where(KeyValue.key == _pending_key(candidate_id)).with_for_update()
    ).first()
    if pending is None or not nonce:
        return False
    if not secrets.compare_digest(pending.value.encode(), nonce.encode()):
        return False
    ctx.session.delete(pending)
    return pending.expires_at is not None and pending.expires_at > ctx.now


def on_delete_button(ctx: Ctx) -> None:
    """``del:yes`` / ``del:no`` from the candidate's own private chat."""
    event = ctx.event
    assert isinstance(event, ButtonPressed)
    if event.is_group:
        ctx.answer_button(ctx.text("common.no_access"), alert=True)
        return
    s = ctx.session.exec(
        sm_select(InterviewSession)
        .where(
            InterviewSession.platform == event.platform,
            InterviewSession.user_id == event.user_id,
        )
        .order_by(col(InterviewSession.id).desc())
    ).first()
    if s is None:  # staff, a stranger, or data already erased: one answer, where it fits
        if event.callback_id:
            ctx.answer_button(ctx.text("privacy.nothing"), alert=True)
        else:
            ctx.reply("privacy.nothing")
        return
    ctx.lang = s.language
    ctx.answer_button()
    _, _, rest = event.data.partition(":")
    answer, _, nonce = rest.partition(":")
    live = _take_pending(ctx, s.candidate_id, nonce)
    if answer != "yes":
        ctx.reply("privacy.delete_cancelled")
        return
    if not live:
        ctx.reply("privacy.delete_expired")
        return
    candidate_id, job_id = s.candidate_id, s.job_id
    done = erase_candidate(
        ctx.session,
        ctx.services.media,
        candidate_id,
        now=ctx.now,
        data_dir=ctx.settings.app.data_dir,
        keep_event_id=event.event_id,
    )
    ctx.audit(
        "data_deleted",
        f"candidate:{candidate_id}",
        requested_by="candidate",
        holds=[h.kind for h in done.holds],
        **{k: v for k, v in done.counts().items() if k != "holds"},
    )
    if done.holds:
        ctx.reply(
            "privacy.deleted_hold",
            what=_holds_text(ctx.lang, done.holds),
            until=_until(ctx.lang, done.holds),
        )
    else:
        ctx.reply("privacy.deleted")
    for platform, chat, lang in hr_group_chats(ctx.session, job_id):
        if done.holds:
            text = t(
                lang, "privacy.hr_deleted_hold", id=candidate_id, what=_holds_text(lang, done.holds)
            )
        else:
            text = t(lang, "privacy.hr_deleted", id=candidate_id)
        ctx.send_to(platform, chat, text)
    log.info("candidate %s: personal data erased on request (%s)", candidate_id, done.counts())


def _holds_text(lang: str, holds: list[Hold]) -> str:
    sep = "、" if lang == "zh" else ", "
    return sep.join(dict.fromkeys(t(lang, f"privacy.hold_{h.kind}") for h in holds))


def _until(lang: str, holds: list[Hold]) -> str:
    dates = [h.until for h in holds if h.until is not None]
    if not dates or len(dates) != len(holds):
        return t(lang, "privacy.hold_open")
    return t(lang, "privacy.hold_until", date=max(dates).isoformat())


# The candidate's own confirmation: no staff role involved (the handler checks the sender).
FEATURE = Feature(
    "privacy",
    buttons={"del": ButtonEntry(Access("view", "self"), on_delete_button)},
    candidate_commands={"mydata": export, "deleteme": ask_delete},
    jobs={EXPORT_JOB: export_job()},
)
