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
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import insert, union_all
from sqlmodel import Session, col, select

from core.settings import Settings
from dialogs.invitations import timed
from dialogs.invitations.invites import (
    batch_tokens,
    new_seed,
)
from dialogs.invitations.rows import (
    CandidateRow,
    RowProblem,
    parse_rows,
    read_table,
)
from dialogs.invitations.spreadsheet import ImportFileError as ImportFileError
from storage.crypto import token_hash
from storage.db import table_of
from storage.models import Candidate, FunnelEvent, Invitation, Job
from storage.types import current_keyring

BATCH_ROWS = 25  # rows invited per transaction by the import job
_CANDIDATES, _INVITATIONS = table_of(Candidate), table_of(Invitation)
_ADD_CANDIDATES = insert(_CANDIDATES).returning(_CANDIDATES.c.id, sort_by_parameter_order=True)
_ADD_INVITATIONS = insert(_INVITATIONS).returning(_INVITATIONS.c.id, sort_by_parameter_order=True)
_ADD_FUNNEL = insert(table_of(FunnelEvent))
SHEET_JOB = "schedule.invite_sheet"
MAIL_JOB = "schedule.mail_invite"


# ====================================================================== inviting
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


@dataclass(frozen=True)
class _NewInvitation:
    """An invitation just inserted, as reminder planning needs it."""

    id: int
    candidate_id: int
    job_id: int
    expires_at: dt.datetime


JobIds = dict[str, int | None]
Seen = dict[tuple[int, str], int]


def contact_hashes(row: CandidateRow) -> list[str]:
    keyring = current_keyring()
    return [keyring.blind_index(v) for v in (row.phone, row.email) if v]


def load_job_ids(session: Session, codes: Iterable[str], known: JobIds) -> None:
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
    load_job_ids(session, (r.job_code for r in rows), jobs)
    hashes = {r.row: contact_hashes(r) for r in rows}
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
