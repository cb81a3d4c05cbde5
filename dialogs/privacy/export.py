"""``/mydata``: a ZIP of everything stored about the candidate, in their language (PIPL
Art. 45), built by the ``data_export`` job and sent to their own chat."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, select
from sqlmodel import Session, col
from sqlmodel import select as sm_select

from dialogs.kernel.catalog import t
from dialogs.kernel.context import Ctx
from dialogs.kernel.intents import Intent, Send, SendFile
from dialogs.kernel.worker import JobContext
from storage.media import MediaStore
from storage.models import (
    Answer,
    AuditEvent,
    BackgroundJob,
    Candidate,
    CandidateScore,
    ChannelIdentity,
    CodingLink,
    Decision,
    Evaluation,
    HumanScore,
    InterviewSession,
    Invitation,
)
from storage.tables import metadata

log = logging.getLogger(__name__)

MAX_EXPORT_MEDIA_BYTES = 45_000_000
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
        "coding_drafts.json": [
            _row(link, drop=("token_hash", "session_id"))
            for link in session.exec(
                sm_select(CodingLink)
                .where(CodingLink.session_id == s.id)
                .order_by(col(CodingLink.id))
            ).all()
        ],
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


def present_tables(session: Session) -> set[str]:
    return set(inspect(session.connection()).get_table_names())


def _other_rows(session: Session, candidate_id: int) -> dict[str, list[dict[str, Any]]]:
    """Rows of every other table that has a ``candidate_id`` (bookings, contracts ...)."""
    present = present_tables(session)
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
