"""Bulk invitations: HR imports candidates from CSV or XLSX.

Columns (English or Chinese headers, any order): name, phone and/or e-mail (or one
"contact" column), preferred channel, job code. A bad row is reported by its row
number (the header is row 1, as a spreadsheet shows it) and skipped; good rows are
invited. CSV may be UTF-8 (with or without BOM) or GBK/GB18030, as Excel in China
saves it. A duplicate is found by the keyed hash of the phone or e-mail
(:meth:`Keyring.blind_index`), within the file and against the job's candidates.

In the chat the file handler only checks the file cheaply (type, size; a CSV's
encoding and header row; an XLSX's ZIP directory, see :mod:`dialogs.invitations.spreadsheet`),
answers "Importing N rows…" and queues the ``schedule.import_candidates`` job. The job
reads the stored (encrypted) file in memory, outside any transaction and within the
reader's limits and time limit, and invites in batches of :data:`BATCH_ROWS`
rows, each batch its own short transaction that also records the progress in the
job's payload; a job run again after a crash resumes after the last committed batch.
The summary is sent once (:meth:`JobContext.claim_result`), then the PDF sheet.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, union_all
from sqlmodel import Session, col, select

from core.settings import Settings
from dialogs.invitations import mailer, spreadsheet, timed
from dialogs.invitations import sheet as invite_sheet
from dialogs.invitations.channels import invitation_ways, ways_inline, worth_printing
from dialogs.invitations.invite_command import INVITE
from dialogs.invitations.invites import (
    batch_tokens,
    find_invitation,
    new_seed,
    reissue,
    seal_text,
    seal_tokens,
)
from dialogs.invitations.spreadsheet import ImportFileError as ImportFileError
from dialogs.invitations.spreadsheet import decode
from dialogs.kernel.access import Access, check, job_arg, target_job
from dialogs.kernel.catalog import t
from dialogs.kernel.channel import CandidateChannels
from dialogs.kernel.context import Ctx
from dialogs.kernel.events import CommandReceived, FileReceived
from dialogs.kernel.feature import Command, Feature
from dialogs.kernel.intents import Intent, Send
from dialogs.kernel.roles import permitted_job_ids
from dialogs.kernel.worker import JobContext, JobHandler
from storage import queue
from storage.crypto import token_hash
from storage.db import table_of
from storage.models import AuditEvent, BackgroundJob, Candidate, FunnelEvent, Invitation, Job
from storage.types import current_keyring

MAX_ROWS = spreadsheet.MAX_ROWS
MAX_BYTES = 10 * 1024 * 1024  # larger than any sheet of MAX_ROWS candidates
BATCH_ROWS = 25  # rows invited per transaction by the import job
HEADER_SCAN = 50  # rows of a CSV file looked at for the header in the chat
_CANDIDATES, _INVITATIONS = table_of(Candidate), table_of(Invitation)
_ADD_CANDIDATES = insert(_CANDIDATES).returning(_CANDIDATES.c.id, sort_by_parameter_order=True)
_ADD_INVITATIONS = insert(_INVITATIONS).returning(_INVITATIONS.c.id, sort_by_parameter_order=True)
_ADD_FUNNEL = insert(table_of(FunnelEvent))
MAX_NAME = 100
FORMULA_START = ("=", "+", "-", "@")  # a cell starting so is a formula to spreadsheets
SHEET_JOB = "schedule.invite_sheet"
MAIL_JOB = "schedule.mail_invite"

HEADERS: dict[str, tuple[str, ...]] = {
    "name": ("name", "full name", "fullname", "candidate", "姓名", "名字", "候选人", "候选人姓名"),
    "phone": (
        "phone",
        "mobile",
        "tel",
        "telephone",
        "phone number",
        "手机",
        "手机号",
        "手机号码",
        "电话",
        "联系电话",
    ),
    "email": ("email", "e-mail", "mail", "email address", "邮箱", "电子邮件", "电子邮箱", "邮件"),
    "contact": ("contact", "联系方式"),
    "channel": (
        "channel",
        "preferred channel",
        "preferred_channel",
        "渠道",
        "联系渠道",
        "偏好渠道",
        "首选渠道",
    ),
    "job": (
        "job",
        "job code",
        "job_code",
        "jobcode",
        "position",
        "岗位",
        "职位",
        "岗位代码",
        "职位代码",
    ),
}
CHANNELS: dict[str, str] = {
    "telegram": "telegram", "tg": "telegram", "电报": "telegram",
    "wechat": "wechat", "weixin": "wechat", "微信": "wechat",
    "wecom": "wecom", "企业微信": "wecom",
    "email": "email", "e-mail": "email", "mail": "email", "邮件": "email", "邮箱": "email",
}  # fmt: skip
_EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")
_PHONE_STRIP = re.compile(r"[\s\-().\u00a0]")


@dataclass
class RowProblem:
    row: int
    code: str  # missing_name, formula, bad_phone, bad_email, no_contact, bad_channel, no_job, unknown_job, duplicate_file, duplicate_existing, name_too_long
    detail: str = ""


@dataclass
class CandidateRow:
    row: int
    name: str
    phone: str | None
    email: str | None
    channel: str | None
    job_code: str


@dataclass
class Invited:
    row: int
    candidate_id: int
    invitation_id: int
    name: str
    job_code: str
    email: str | None
    channel: str | None
    token: str = ""  # the link's token, in memory only (the database keeps its hash)


@dataclass
class ImportReport:
    invited: list[Invited] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    encoding: str = ""


# ====================================================================== reading
def read_table(
    data: bytes, filename: str, *, seconds: float = spreadsheet.TIME_LIMIT_S
) -> tuple[list[list[str]], str]:
    """All rows of the file's first sheet as strings, and the encoding used.

    For the background job: the whole file is read, within ``seconds`` and the limits
    of :mod:`dialogs.invitations.spreadsheet`.

    Raises:
        ImportFileError: ``type`` (not CSV/XLSX), ``encoding``, ``xlsx`` (unreadable),
            ``unzipped_too_big``, ``too_many_rows``, ``too_many_columns``,
            ``cell_too_big`` or ``too_slow``.
    """
    name = filename.lower()
    if len(data) > MAX_BYTES:
        raise ImportFileError("too_big")
    if name.endswith(".xlsx"):
        return spreadsheet.read_xlsx(data, seconds=seconds), "xlsx"
    if not name.endswith((".csv", ".txt")):
        raise ImportFileError("type")
    text, encoding = decode(data)
    return spreadsheet.csv_rows(text, seconds=seconds), encoding


def _header(rows: list[list[str]]) -> tuple[int, dict[str, int]]:
    """Index of the header row (the first non-empty one) and its columns.

    Raises:
        ImportFileError: ``empty`` or ``header`` (no name column, no contact column).
    """
    start = next((i for i, row in enumerate(rows) if any(c for c in row)), None)
    if start is None:
        raise ImportFileError("empty")
    columns = _columns(rows[start])
    if "name" not in columns or not ({"phone", "email", "contact"} & columns.keys()):
        raise ImportFileError("header")
    return start, columns


def check_file(data: bytes, filename: str) -> int | None:
    """The quick check the chat handler makes, inside the event's transaction.

    CSV: the encoding and the header row (the first :data:`HEADER_SCAN` rows parsed).
    XLSX: the ZIP's directory only (:func:`spreadsheet.check_container`); its rows are
    read by the job alone, which reports a bad header or too many rows.

    Returns:
        about how many data rows the file has, None when an .xlsx does not say.

    Raises:
        ImportFileError: ``too_big``, ``type``, ``encoding``, ``header``, ``empty``,
            ``xlsx``, ``unzipped_too_big``, ``too_many_columns`` or ``cell_too_big``.
    """
    if len(data) > MAX_BYTES:
        raise ImportFileError("too_big")
    name = filename.lower()
    if name.endswith(".xlsx"):
        stated = spreadsheet.check_container(data)
        return None if stated is None else max(0, min(stated, MAX_ROWS + 1) - 1)
    if not name.endswith((".csv", ".txt")):
        raise ImportFileError("type")
    text, _ = decode(data)
    start, _ = _header(spreadsheet.csv_rows(text, limit=HEADER_SCAN))
    lines = sum(1 for line in text.splitlines() if line.strip(" \t,;"))
    return max(0, min(lines - 1, MAX_ROWS + 1))


def _columns(header: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, title in enumerate(header):
        key = " ".join(title.replace("_", " ").lower().split()).strip("*: ")
        for field_name, names in HEADERS.items():
            if key in names or key.replace(" ", "") in names:
                found.setdefault(field_name, index)
    return found


def normalize_phone(value: str) -> str | None:
    """Digits with an optional leading +; the Chinese +86/0086 prefix is dropped."""
    raw = _PHONE_STRIP.sub("", value)
    if raw.startswith("0086"):
        raw = "+86" + raw[4:]
    if raw.startswith("+86") and len(raw) == 14:
        raw = raw[3:]
    digits = raw[1:] if raw.startswith("+") else raw
    if not digits.isdigit() or not 6 <= len(digits) <= 15:
        return None
    if (
        not raw.startswith("+")
        and len(digits) == 11
        and digits.startswith("1")
        and not re.fullmatch(r"1[3-9]\d{9}", digits)
    ):
        return None
    return raw


def normalize_email(value: str) -> str | None:
    email = value.strip().lower()
    return email if _EMAIL.match(email) and len(email) <= 254 else None


def parse_rows(
    rows: list[list[str]], *, default_job: str | None = None
) -> tuple[list[CandidateRow], list[RowProblem]]:
    """Validate each row; returns the good rows and the problems (by row number).

    Raises:
        ImportFileError: ``empty`` or ``header`` (no name column, no contact column).
    """
    start, columns = _header(rows)
    good: list[CandidateRow] = []
    problems: list[RowProblem] = []

    def get(row: list[str], name: str) -> str:
        index = columns.get(name)
        return row[index].strip() if index is not None and index < len(row) else ""

    for offset, row in enumerate(rows[start + 1 :], start=start + 2):
        if not any(c.strip() for c in row):
            continue
        name = " ".join(get(row, "name").split())
        phone_raw, email_raw = get(row, "phone"), get(row, "email")
        contact = get(row, "contact")
        if contact:
            if "@" in contact:
                email_raw = email_raw or contact
            else:
                phone_raw = phone_raw or contact
        channel_raw = get(row, "channel").lower()
        job_code = get(row, "job") or (default_job or "")
        problem: RowProblem | None = None
        phone = normalize_phone(phone_raw) if phone_raw else None
        email = normalize_email(email_raw) if email_raw else None
        if not name:
            problem = RowProblem(offset, "missing_name")
        elif name.startswith(FORMULA_START):
            # Would run as a formula in the spreadsheets HR exports later.
            problem = RowProblem(offset, "formula", name[:40])
        elif len(name) > MAX_NAME:
            problem = RowProblem(offset, "name_too_long")
        elif not phone_raw and not email_raw:
            problem = RowProblem(offset, "no_contact")
        elif phone_raw and phone is None:
            problem = RowProblem(offset, "bad_phone", phone_raw[:40])
        elif email_raw and email is None:
            problem = RowProblem(offset, "bad_email", email_raw[:80])
        elif channel_raw and channel_raw not in CHANNELS:
            problem = RowProblem(offset, "bad_channel", channel_raw[:30])
        elif not job_code:
            problem = RowProblem(offset, "no_job")
        if problem is not None:
            problems.append(problem)
            continue
        good.append(CandidateRow(offset, name, phone, email, CHANNELS.get(channel_raw), job_code))
    return good, problems


# ====================================================================== inviting
@dataclass(frozen=True)
class _NewInvitation:
    """An invitation just inserted, as reminder planning needs it."""

    id: int
    candidate_id: int
    job_id: int
    expires_at: dt.datetime


JobIds = dict[str, int | None]
Seen = dict[tuple[int, str], int]


def _hashes(row: CandidateRow) -> list[str]:
    keyring = current_keyring()
    return [keyring.blind_index(v) for v in (row.phone, row.email) if v]


def _job_ids(session: Session, codes: Iterable[str], known: JobIds) -> None:
    wanted = sorted({c for c in codes if c not in known})
    if not wanted:
        return
    found = dict(session.exec(select(Job.code, Job.id).where(col(Job.code).in_(wanted))).all())
    for code in wanted:
        known[code] = found.get(code)


def invite_rows(
    session: Session,
    settings: Settings,
    rows: Sequence[CandidateRow],
    *,
    now: dt.datetime,
    seen: Seen,
    jobs: JobIds,
    permitted: set[int] | None = None,
    seed: str | None = None,
) -> tuple[list[Invited], list[RowProblem]]:
    """Invite good rows in one go, inside the caller's transaction.

    ``permitted``: the jobs the importing user may invite into (None: every job); rows
    for other jobs are refused like unknown job codes.

    A few statements for the whole batch whatever its size: one for the job codes, one
    for the duplicates already in the database, one multi-row INSERT each for the
    candidates, invitations, funnel facts and reminders. ``seen`` (job id and contact
    hash -> row) carries the rows invited by earlier batches of the same file, so a
    repeat there is a ``duplicate_file``; ``jobs`` caches job code -> id.
    """
    _job_ids(session, (r.job_code for r in rows), jobs)
    hashes = {r.row: _hashes(r) for r in rows}
    existing: dict[tuple[int, str], int] = {}
    job_ids = {j for r in rows if (j := jobs.get(r.job_code)) is not None}
    every = sorted({h for hs in hashes.values() for h in hs})
    if job_ids and every:
        # One indexed lookup per hash column; the job is filtered here, since a
        # ``job_id`` condition in SQL lets SQLite scan every candidate of the job.
        found = session.execute(
            union_all(
                *(
                    select(_CANDIDATES.c.id, _CANDIDATES.c.job_id).where(
                        column.in_(every), _CANDIDATES.c.status != "deleted"
                    )
                    for column in (_CANDIDATES.c.phone_hash, _CANDIDATES.c.email_hash)
                )
            )
        ).all()
        owners = {cid: owner for cid, owner in found if owner in job_ids}
        if owners:
            for cid, owner, phone_hash, email_hash in session.execute(
                select(
                    _CANDIDATES.c.id,
                    _CANDIDATES.c.job_id,
                    _CANDIDATES.c.phone_hash,
                    _CANDIDATES.c.email_hash,
                )
                .where(_CANDIDATES.c.id.in_(sorted(owners)))
                .order_by(_CANDIDATES.c.id.desc())
            ).all():
                for h in (phone_hash, email_hash):
                    if h:
                        existing[(owner, h)] = cid  # the oldest wins (rows come newest first)
    problems: list[RowProblem] = []
    chosen: list[tuple[CandidateRow, int]] = []
    for row in rows:
        job_id = jobs.get(row.job_code)
        if job_id is None or (permitted is not None and job_id not in permitted):
            # a job the importer holds no role for reads like an unknown one
            problems.append(RowProblem(row.row, "unknown_job", row.job_code[:40]))
            continue
        keys = [(job_id, h) for h in hashes[row.row]]
        first = next((seen[k] for k in keys if k in seen), None)
        if first is not None:
            problems.append(RowProblem(row.row, "duplicate_file", str(first)))
            continue
        other = next((existing[k] for k in keys if k in existing), None)
        if other is not None:
            problems.append(RowProblem(row.row, "duplicate_existing", str(other)))
            continue
        for k in keys:
            seen[k] = row.row
        chosen.append((row, job_id))
    if not chosen:
        return [], problems

    keyring = current_keyring()
    people = [
        {
            "job_id": job_id,
            "name": row.name,
            "phone": row.phone,
            "phone_hash": keyring.blind_index(row.phone) if row.phone else None,
            "email": row.email,
            "email_hash": keyring.blind_index(row.email) if row.email else None,
            "id_number": None,
            "address": None,
            "resume_text": None,
            "preferred_channel": row.channel,
            "language": None,
            "status": "invited",
            "batch": "default",
            "created_at": now,
            "deleted_at": None,
        }
        for row, job_id in chosen
    ]
    # Prebuilt statements run once for the batch (executemany / insertmanyvalues).
    candidate_ids = [int(i) for i in session.execute(_ADD_CANDIDATES, people).scalars()]
    expires = now + dt.timedelta(days=settings.interview.invitation_days)
    # Tokens derive from the import's encrypted seed: the job prints every link at the
    # end, and the database keeps only their hashes.
    tokens = batch_tokens(seed or new_seed(), candidate_ids)
    rows_inv = [
        {
            "token_hash": token_hash(tokens[cid]),
            "candidate_id": cid,
            "job_id": job_id,
            "code": f"{secrets.randbelow(1_000_000):06d}",
            "expires_at": expires,
            "status": "pending",
            "opened_at": None,
            "created_at": now,
        }
        for cid, (_, job_id) in zip(candidate_ids, chosen, strict=True)
    ]
    invitation_ids = [int(i) for i in session.execute(_ADD_INVITATIONS, rows_inv).scalars()]
    session.execute(
        _ADD_FUNNEL,
        [
            {"candidate_id": cid, "job_id": job_id, "stage": "invited", "at": now}
            for cid, (_, job_id) in zip(candidate_ids, chosen, strict=True)
        ],
    )
    timed.plan_invitations(
        session,
        settings,
        [
            _NewInvitation(iid, cid, job_id, expires)
            for iid, cid, (_, job_id) in zip(invitation_ids, candidate_ids, chosen, strict=True)
        ],
        now=now,
    )
    invited = [
        Invited(row.row, cid, iid, row.name, row.job_code, row.email, row.channel, tokens[cid])
        for (row, _), cid, iid in zip(chosen, candidate_ids, invitation_ids, strict=True)
    ]
    return invited, problems


def import_candidates(
    session: Session,
    settings: Settings,
    data: bytes,
    filename: str,
    *,
    now: dt.datetime,
    default_job: str | None = None,
) -> ImportReport:
    """Read, validate and invite in the caller's one transaction (small files, tests).

    Raises:
        ImportFileError: when the file as a whole cannot be read.
    """
    rows, encoding = read_table(data, filename)
    good, problems = parse_rows(rows, default_job=default_job)
    report = ImportReport(problems=problems, encoding=encoding)
    seen: Seen = {}
    jobs: JobIds = {}
    seed = new_seed()
    for first in range(0, len(good), BATCH_ROWS):
        invited, more = invite_rows(
            session,
            settings,
            good[first : first + BATCH_ROWS],
            now=now,
            seen=seen,
            jobs=jobs,
            seed=seed,
        )
        report.invited.extend(invited)
        report.problems.extend(more)
    report.problems.sort(key=lambda p: p.row)
    return report


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
    _job_ids(session, (r.job_code for r in rows), jobs)
    seen: Seen = {}
    for row in rows:
        job_id = jobs.get(row.job_code)
        if job_id is not None:
            for h in _hashes(row):
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


def _import_command(ctx: Ctx, ev: CommandReceived) -> None:
    ctx.reply("schedule.import_usage")


def _sheet_command(ctx: Ctx, ev: CommandReceived) -> None:
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
FEATURE = Feature(
    "invitations",
    commands={
        "invite": INVITE,
        "importcandidates": Command(IMPORT_ACCESS, _import_command),
        "invitesheet": Command(Access("invite", "job", job_arg(0)), _sheet_command),
    },
    files=(import_file,),
    invitation_finder=find_invitation,
    reminders=timed.RULES,
    planners=(timed.plan_missing,),
    jobs={
        IMPORT_JOB: import_job(),
        SHEET_JOB: invite_sheet.sheet_job,
        MAIL_JOB: mailer.mail_job,
    },
)
