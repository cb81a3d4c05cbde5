"""Candidate spreadsheets in the chat: the file is checked cheaply and answered at once
("Importing N rows…"), the ``schedule.import_candidates`` job reads and invites the rows
in batches (resuming after a crash) and sends the summary once, then the PDF sheet;
``/importcandidates`` and ``/invitesheet``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from core.settings import Settings
from dialogs.invitations import spreadsheet
from dialogs.invitations.bulk_invite import (
    BATCH_ROWS,
    MAIL_JOB,
    SHEET_JOB,
    ImportReport,
    Invited,
    JobIds,
    Seen,
    contact_hashes,
    invite_rows,
    load_job_ids,
)
from dialogs.invitations.channels import invitation_ways, ways_inline, worth_printing
from dialogs.invitations.invites import (
    batch_tokens,
    new_seed,
    reissue,
    seal_text,
    seal_tokens,
)
from dialogs.invitations.rows import (
    MAX_BYTES,
    MAX_ROWS,
    CandidateRow,
    RowProblem,
    check_file,
    parse_rows,
    read_table,
)
from dialogs.invitations.spreadsheet import ImportFileError as ImportFileError
from dialogs.kernel.access import Access, check, job_arg, target_job
from dialogs.kernel.catalog import t
from dialogs.kernel.channel import CandidateChannels
from dialogs.kernel.context import Ctx
from dialogs.kernel.events import CommandReceived, FileReceived
from dialogs.kernel.intents import Intent, Send
from dialogs.kernel.roles import permitted_job_ids
from dialogs.kernel.worker import JobContext, JobHandler
from storage import queue
from storage.models import AuditEvent, BackgroundJob, Invitation


# ====================================================================== chat
def import_file(ctx: Ctx) -> bool:
    """A staff file: candidates when it is .xlsx or captioned ``/importcandidates [JOB]``.

    Only the quick checks happen here, inside the event's transaction; the rows are
    invited by the ``schedule.import_candidates`` job (:func:`import_job`).

    Returns:
        True when the file was taken as a candidate import.
    """
    event = ctx.event
    if not isinstance(event, FileReceived):
        return False
    name = (event.media.file_name or "").lower()
    words = event.caption.split()
    captioned = bool(words) and words[0].lower().lstrip("/") in ("importcandidates", "candidates")
    if not (name.endswith(".xlsx") or (captioned and name.endswith((".csv", ".txt")))):
        return False
    # The caption's job is checked as that job; rows naming other jobs are checked per
    # row by the job (a job the user holds no role for reads like an unknown code).
    if not check(ctx, IMPORT_ACCESS, " ".join(words[1:]) if captioned else ""):
        return True
    if ctx.target.named and ctx.target.job is None:  # a global role passes the check
        ctx.reply("staff.job_unknown", code=ctx.target.raw[:40])
        return True
    if not event.media.path:
        ctx.reply("schedule.import_usage")
        return True
    limit_mb = MAX_BYTES // (1024 * 1024)
    if (event.media.size_bytes or 0) > MAX_BYTES:
        ctx.reply("schedule.file_too_big", limit=limit_mb)
        return True
    default_job = words[1] if captioned and len(words) > 1 else None
    try:
        count = check_file(ctx.services.media.get(event.media.path), name)
    except ImportFileError as exc:
        ctx.say(file_error_text(ctx.lang, exc))
        return True
    ctx.enqueue(
        IMPORT_JOB,
        {
            "path": event.media.path,
            "filename": name,
            "default_job": default_job,
            "platform": event.platform,
            "chat_id": event.chat_id,
            "user_id": event.user_id,
            "lang": ctx.lang,
            "event_id": event.event_id,
            "rows": count,
        },
        key=f"{IMPORT_JOB}:{event.event_id}",
    )
    ctx.audit("candidates_import_queued", "", rows=count)
    if count is None:
        ctx.reply("schedule.import_started_xlsx")
    else:
        ctx.reply("schedule.import_started", n=count)
    return True


def file_error_text(lang: str, exc: ImportFileError) -> str:
    """Why a file as a whole was refused, in ``lang``, with the limit it passed."""
    return t(
        lang,
        f"schedule.file_{exc.code}",
        limit=MAX_BYTES // (1024 * 1024),
        unzipped=spreadsheet.MAX_UNZIPPED // (1024 * 1024),
        rows=MAX_ROWS,
        columns=spreadsheet.MAX_COLS,
        chars=spreadsheet.MAX_CELL,
        seconds=int(spreadsheet.TIME_LIMIT_S),
        row=exc.detail,
    )


IMPORT_JOB = "schedule.import_candidates"
AfterBatch = Callable[[int], None]


def import_job(
    after_batch: AfterBatch | None = None, *, seconds: float = spreadsheet.TIME_LIMIT_S
) -> JobHandler:
    """The ``schedule.import_candidates`` job handler.

    ``after_batch`` is called with the number of rows done after each batch commits
    (tests use it to answer as another candidate meanwhile, or to crash).
    """

    def handle(job: BackgroundJob, ctx: JobContext, /) -> None:
        run_import(job, ctx, after_batch, seconds=seconds)

    return handle


def run_import(
    job: BackgroundJob,
    ctx: JobContext,
    after_batch: AfterBatch | None,
    *,
    seconds: float = spreadsheet.TIME_LIMIT_S,
) -> None:
    """Parse the stored file in memory, invite batch by batch, then send the summary.

    Each batch's transaction locks the job row, reads the progress, invites the next
    :data:`BATCH_ROWS` good rows and writes the new progress in the same commit. A run
    after a crash (or a second worker) therefore starts after the last committed batch
    and never sees its own rows as duplicates of candidates already in the database.
    The progress holds row numbers, ids and problem codes only (no names or contacts).

    The file is read here, outside any transaction, within ``seconds`` and the limits of
    :mod:`dialogs.invitations.spreadsheet`; a file refused there gets its reason in the HR chat.
    """
    payload = job.payload
    lang = str(payload.get("lang") or ctx.services.settings.app.default_language)
    platform, chat_id = str(payload["platform"]), str(payload["chat_id"])
    settings = ctx.services.settings
    data = ctx.db.media.get(str(payload["path"]))  # decrypted in memory only
    try:
        rows, encoding = read_table(data, str(payload["filename"]), seconds=seconds)
        good, parse_problems = parse_rows(rows, default_job=payload.get("default_job"))
    except ImportFileError as exc:  # the chat checked the container only; the rest is here
        _send_result(
            ctx,
            job,
            [
                Send(
                    platform=platform,
                    chat_id=chat_id,
                    text=file_error_text(lang, exc),
                )
            ],
            audit={"invited": 0, "problems": 0, "encoding": "", "error": exc.code},
        )
        return
    del data, rows
    by_row = {r.row: r for r in good}
    jobs: JobIds = {}
    seen: Seen = {}
    done_here: int | None = None  # progress as this run last left it
    while True:
        with ctx.db.transaction() as session:
            fresh = session.exec(
                select(BackgroundJob).where(BackgroundJob.id == job.id).with_for_update()
            ).first()
            if fresh is None or fresh.status == "done":
                return  # finished by an earlier run: nothing to send twice
            progress = Progress.load(fresh.payload)
            # The links' tokens derive from this (encrypted) seed, kept until the end.
            seed = str(fresh.payload.get("seed") or "") or new_seed()
            if progress.next >= len(good):
                break
            if progress.next != done_here:  # resumed (or another run moved on): rebuild
                seen = _seen_from(session, progress, by_row, jobs)
            batch = good[progress.next : progress.next + BATCH_ROWS]
            now = ctx.services.clock.now()
            permitted = permitted_job_ids(
                session, settings, platform, str(payload.get("user_id") or ""), "invite"
            )
            invited, problems = invite_rows(
                session,
                settings,
                batch,
                now=now,
                seen=seen,
                jobs=jobs,
                permitted=permitted,
                seed=seed,
            )
            # An e-mail needs a channel that reaches candidates to point to.
            if settings.smtp.enabled and (settings.telegram.enabled or settings.wechat.enabled):
                for item in invited:
                    if item.email:
                        queue.add(
                            session,
                            MAIL_JOB,
                            {
                                "invitation_id": item.invitation_id,
                                "sealed_token": seal_text(item.token),
                            },
                            now=now,
                            key=f"mail:{item.invitation_id}",
                        )
            progress.advance(len(batch), invited, problems)
            fresh.payload = {**fresh.payload, "seed": seed, "progress": progress.dump()}
            session.add(fresh)
            done_here = progress.next
        if after_batch is not None:
            after_batch(done_here)

    report = ImportReport(encoding=encoding)
    done = progress.invited
    tokens = batch_tokens(seed, [cid for _, cid, _ in done]) if done else {}
    report.invited = [
        Invited(r, cid, iid, *_row_fields(by_row[r]), tokens[cid]) for r, cid, iid in done
    ]
    report.problems = sorted(
        parse_problems + [RowProblem(r, code, detail) for r, code, detail in progress.problems],
        key=lambda p: p.row,
    )
    with ctx.db.session() as session:
        text = summary_text(
            session, settings, lang, report, platform=platform, channels=ctx.services.channels
        )
    intents: list[Intent] = [Send(platform=platform, chat_id=chat_id, text=text)]
    sheet = None
    if report.invited and worth_printing(settings, platform):
        sheet = {
            "invitation_ids": [i.invitation_id for i in report.invited],
            "sealed_tokens": seal_tokens({i.invitation_id: i.token for i in report.invited}),
            "platform": platform,
            "chat_id": chat_id,
            "lang": lang,
        }
    _send_result(
        ctx,
        job,
        intents,
        audit={
            "invited": len(report.invited),
            "problems": len(report.problems),
            "encoding": report.encoding,
        },
        sheet=(sheet, f"sheet:{payload.get('event_id') or job.id}") if sheet else None,
    )


def _send_result(
    ctx: JobContext,
    job: BackgroundJob,
    intents: list[Intent],
    *,
    audit: dict[str, Any],
    sheet: tuple[dict[str, Any], str] | None = None,
) -> None:
    """The summary, its audit and the sheet job in one transaction, exactly once."""
    payload = job.payload
    with ctx.db.transaction() as session:
        if not ctx.claim_result(session, job):
            return
        row = session.get(BackgroundJob, job.id)
        if row is not None and row.payload.get("seed"):  # the links are out: forget them
            row.payload = {**row.payload, "seed": ""}
            session.add(row)
        ctx.emit(session, intents, source=f"job:{IMPORT_JOB}:{job.id}")
        session.add(
            AuditEvent(
                at=ctx.services.clock.now(),
                actor=f"{payload['platform']}:{payload.get('user_id', '')}",
                action="candidates_imported",
                subject="",
                details=audit,
            )
        )
        if sheet is not None:
            ctx.enqueue(session, SHEET_JOB, sheet[0], key=sheet[1])


@dataclass
class Progress:
    """What the committed batches did: rows done, invited (row, candidate, invitation)
    and problems found against the database (row, code, detail).

    The invited rows are kept as one string of ``row:candidate:invitation`` words, so
    a batch reads and writes the job's payload without parsing thousands of JSON
    lists (with lists, a 5,000-row import spent seconds re-parsing its progress).
    """

    next: int = 0
    invited_words: str = ""
    problems: list[tuple[int, str, str]] = field(default_factory=list)

    @classmethod
    def load(cls, payload: dict[str, Any]) -> Progress:
        raw = payload.get("progress") or {}
        return cls(
            next=int(raw.get("next", 0)),
            invited_words=str(raw.get("invited", "")),
            problems=[(int(r), str(c), str(d)) for r, c, d in raw.get("problems", [])],
        )

    def dump(self) -> dict[str, Any]:
        return {
            "next": self.next,
            "invited": self.invited_words,
            "problems": [list(x) for x in self.problems],
        }

    @property
    def invited(self) -> list[tuple[int, int, int]]:
        out = []
        for word in self.invited_words.split():
            r, c, i = word.split(":")
            out.append((int(r), int(c), int(i)))
        return out

    def advance(self, rows: int, invited: list[Invited], problems: list[RowProblem]) -> None:
        self.next += rows
        words = " ".join(f"{i.row}:{i.candidate_id}:{i.invitation_id}" for i in invited)
        if words:
            self.invited_words = f"{self.invited_words} {words}".lstrip()
        self.problems.extend((p.row, p.code, p.detail) for p in problems)


def _row_fields(row: CandidateRow) -> tuple[str, str, str | None, str | None]:
    return row.name, row.job_code, row.email, row.channel


def _seen_from(
    session: Session, progress: Progress, by_row: dict[int, CandidateRow], jobs: JobIds
) -> Seen:
    """The in-file duplicate index as the committed batches left it."""
    rows = [by_row[r] for r, _, _ in progress.invited if r in by_row]
    load_job_ids(session, (r.job_code for r in rows), jobs)
    seen: Seen = {}
    for row in rows:
        job_id = jobs.get(row.job_code)
        if job_id is not None:
            for h in contact_hashes(row):
                seen.setdefault((job_id, h), row.row)
    return seen


def summary_text(
    session: Session,
    settings: Settings,
    lang: str,
    report: ImportReport,
    *,
    platform: str,
    channels: CandidateChannels | None = None,
) -> str:
    """The import summary: counts, the first 40 problem rows, the first 20 invitations
    (with the ways to start that the enabled channels offer)."""
    lines = [t(lang, "schedule.import_done", ok=len(report.invited), bad=len(report.problems))]
    channels = channels or CandidateChannels()
    for problem in report.problems[:40]:
        lines.append(
            t(
                lang,
                "schedule.import_row",
                row=problem.row,
                problem=t(lang, f"schedule.err_{problem.code}", detail=problem.detail),
            )
        )
    if len(report.problems) > 40:
        lines.append(t(lang, "schedule.import_more", n=len(report.problems) - 40))
    shown = report.invited[:20]
    found = {
        inv.id: inv
        for inv in session.exec(
            select(Invitation).where(col(Invitation.id).in_([i.invitation_id for i in shown]))
        ).all()
    }
    for item in shown:
        inv = found.get(item.invitation_id)
        if inv is not None:
            ways = invitation_ways(settings, channels, item.token, platform=platform)
            link = ways_inline(lang, ways)
            lines.append(
                t(
                    lang,
                    "schedule.import_line" if link else "schedule.import_line_bare",
                    id=item.candidate_id,
                    name=item.name,
                    job=item.job_code,
                    link=link,
                    code=inv.code,
                )
            )
    if report.invited and not (settings.telegram.enabled or settings.wechat.enabled):
        lines.append(t(lang, "channels.none_bulk"))
    return "\n".join(lines)


def import_command(ctx: Ctx, ev: CommandReceived) -> None:
    ctx.reply("schedule.import_usage")


def sheet_command(ctx: Ctx, ev: CommandReceived) -> None:
    """``/invitesheet JOB``: one PDF of a job's invitations not opened yet, with new links.

    Only hashes of the links are stored, so a link cannot be printed again: each
    invitation on the sheet gets a new token and the link handed out before stops
    working (the reply says so; identity codes and validity stay). Candidates who
    opened theirs already continue in their chat and are not on the sheet.
    """
    job = target_job(ctx, "schedule.usage_sheet")
    if job is None:
        return
    invitations = ctx.session.exec(
        select(Invitation)
        .where(
            Invitation.job_id == job.id,
            Invitation.status == "pending",
            Invitation.expires_at > ctx.now,
        )
        .order_by(col(Invitation.id))
        .limit(500)
    ).all()
    if not invitations:
        ctx.reply("schedule.sheet_none", code=job.code)
        return
    if not worth_printing(ctx.settings, ctx.event.platform):
        # New links would only break the old ones, with nothing to print instead.
        ctx.reply("channels.none_sheet")
        return
    tokens = reissue(ctx.session, invitations)
    ids = list(tokens)
    ctx.enqueue(
        SHEET_JOB,
        {
            "invitation_ids": ids,
            "sealed_tokens": seal_tokens(tokens),
            "platform": ctx.event.platform,
            "chat_id": ctx.event.chat_id,
            "lang": ctx.lang,
        },
        key=f"sheet:{ctx.event.event_id}",
    )
    ctx.audit("invite_sheet_requested", f"job:{job.id}", count=len(ids), reissued=len(ids))
    ctx.reply("schedule.sheet_coming", n=len(ids))


IMPORT_ACCESS = Access("invite", "job", job_arg(0))
