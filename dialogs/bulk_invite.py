"""Bulk invitations: HR imports candidates from CSV or XLSX.

Columns (English or Chinese headers, any order): name, phone and/or e-mail (or one
"contact" column), preferred channel, job code. A bad row is reported by its row
number (the header is row 1, as a spreadsheet shows it) and skipped; good rows are
invited. CSV may be UTF-8 (with or without BOM) or GBK/GB18030, as Excel in China
saves it. A duplicate is found by the keyed hash of the phone or e-mail
(:meth:`Keyring.blind_index`), within the file and against the job's candidates.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, or_, select

from core.settings import Settings
from dialogs import reminders, staff
from dialogs.context import Ctx
from dialogs.events import CommandReceived, FileReceived
from dialogs.invites import invitation_link, invite_candidate
from dialogs.roles import allowed
from storage.models import Candidate, Invitation, Job
from storage.types import current_keyring

MAX_ROWS = 5000
MAX_NAME = 100
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


class ImportFileError(ValueError):
    """The file as a whole cannot be read; ``code`` names why (a catalogue key suffix)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


@dataclass
class RowProblem:
    row: int
    code: str  # missing_name, bad_phone, bad_email, no_contact, bad_channel, no_job, unknown_job, duplicate_file, duplicate_existing, name_too_long
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


@dataclass
class ImportReport:
    invited: list[Invited] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    encoding: str = ""


# ====================================================================== reading
def decode(data: bytes) -> tuple[str, str]:
    """Text of a CSV file: UTF-8 (BOM or not), UTF-16 with BOM, else GBK/GB18030.

    Raises:
        ImportFileError: ``encoding`` when it is none of those.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise ImportFileError("encoding")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a phone number Excel stored as a number
    return str(value).strip()


def read_table(data: bytes, filename: str) -> tuple[list[list[str]], str]:
    """All rows of the file's first sheet as strings, and the encoding used.

    Raises:
        ImportFileError: ``type`` (not CSV/XLSX), ``encoding`` or ``xlsx`` (unreadable).
    """
    name = filename.lower()
    if name.endswith(".xlsx"):
        import zipfile

        from openpyxl import load_workbook

        try:
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
            raise ImportFileError("xlsx", str(exc)) from exc
        sheet = book.worksheets[0]
        rows = [[_cell(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        book.close()
        return rows[: MAX_ROWS + 1], "xlsx"
    if not name.endswith((".csv", ".txt")):
        raise ImportFileError("type")
    text, encoding = decode(data)
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = [[c.strip() for c in row] for row in csv.reader(io.StringIO(text), dialect)]
    return rows[: MAX_ROWS + 1], encoding


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
    start = next((i for i, row in enumerate(rows) if any(c for c in row)), None)
    if start is None:
        raise ImportFileError("empty")
    columns = _columns(rows[start])
    if "name" not in columns or not ({"phone", "email", "contact"} & columns.keys()):
        raise ImportFileError("header")
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
def import_candidates(
    session: Session,
    settings: Settings,
    data: bytes,
    filename: str,
    *,
    now: dt.datetime,
    default_job: str | None = None,
) -> ImportReport:
    """Read, validate and invite; every good row gets a candidate and an invitation.

    Raises:
        ImportFileError: when the file as a whole cannot be read.
    """
    rows, encoding = read_table(data, filename)
    good, problems = parse_rows(rows, default_job=default_job)
    report = ImportReport(problems=problems, encoding=encoding)
    keyring = current_keyring()
    jobs: dict[str, Job | None] = {}
    seen: dict[tuple[int, str], int] = {}
    for row in good:
        if row.job_code not in jobs:
            jobs[row.job_code] = session.exec(select(Job).where(Job.code == row.job_code)).first()
        job = jobs[row.job_code]
        if job is None or job.id is None:
            report.problems.append(RowProblem(row.row, "unknown_job", row.job_code[:40]))
            continue
        hashes = [keyring.blind_index(v) for v in (row.phone, row.email) if v]
        first = next((seen[(job.id, h)] for h in hashes if (job.id, h) in seen), None)
        if first is not None:
            report.problems.append(RowProblem(row.row, "duplicate_file", str(first)))
            continue
        existing = session.exec(
            select(Candidate.id).where(
                Candidate.job_id == job.id,
                Candidate.status != "deleted",
                or_(col(Candidate.phone_hash).in_(hashes), col(Candidate.email_hash).in_(hashes)),
            )
        ).first()
        if existing is not None:
            report.problems.append(RowProblem(row.row, "duplicate_existing", str(existing)))
            continue
        for h in hashes:
            seen[(job.id, h)] = row.row
        new = invite_candidate(
            session,
            settings,
            job,
            name=row.name,
            now=now,
            phone=row.phone,
            email=row.email,
            preferred_channel=row.channel,
        )
        cid, iid = new.candidate.id or 0, new.invitation.id or 0
        reminders.record_funnel(session, cid, job.id, "invited", now)
        reminders.plan_invitation(session, settings, new.invitation, now=now)
        report.invited.append(
            Invited(row.row, cid, iid, row.name, job.code, row.email, row.channel)
        )
    report.problems.sort(key=lambda p: p.row)
    return report


# ====================================================================== chat
def import_file(ctx: Ctx) -> bool:
    """A staff file: candidates when it is .xlsx or captioned ``/importcandidates [JOB]``.

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
    if not allowed(ctx.role, "invite"):
        ctx.reply("common.no_access")
        return True
    if not event.media.path:
        ctx.reply("schedule.import_usage")
        return True
    default_job = words[1] if captioned and len(words) > 1 else None
    try:
        report = import_candidates(
            ctx.session,
            ctx.settings,
            ctx.services.media.get(event.media.path),
            name,
            now=ctx.now,
            default_job=default_job,
        )
    except ImportFileError as exc:
        ctx.reply(f"schedule.file_{exc.code}")
        return True
    _report(ctx, report)
    return True


def _report(ctx: Ctx, report: ImportReport) -> None:
    ctx.audit(
        "candidates_imported",
        "",
        invited=len(report.invited),
        problems=len(report.problems),
        encoding=report.encoding,
    )
    lines = [ctx.text("schedule.import_done", ok=len(report.invited), bad=len(report.problems))]
    for problem in report.problems[:40]:
        lines.append(
            ctx.text(
                "schedule.import_row",
                row=problem.row,
                problem=ctx.text(f"schedule.err_{problem.code}", detail=problem.detail),
            )
        )
    if len(report.problems) > 40:
        lines.append(ctx.text("schedule.import_more", n=len(report.problems) - 40))
    platform = "console" if ctx.event.platform == "console" else "telegram"
    for item in report.invited[:20]:
        inv = ctx.session.get(Invitation, item.invitation_id)
        if inv is not None:
            lines.append(
                ctx.text(
                    "schedule.import_line",
                    id=item.candidate_id,
                    name=item.name,
                    job=item.job_code,
                    link=invitation_link(ctx.settings, inv.token, platform),
                    code=inv.code,
                )
            )
    ctx.say("\n".join(lines))
    if report.invited:
        ids = [i.invitation_id for i in report.invited]
        ctx.enqueue(
            SHEET_JOB,
            {
                "invitation_ids": ids,
                "platform": ctx.event.platform,
                "chat_id": ctx.event.chat_id,
                "lang": ctx.lang,
            },
            key=f"sheet:{ctx.event.event_id}",
        )
        if ctx.settings.smtp.enabled:
            for item in report.invited:
                if item.email:
                    ctx.enqueue(
                        MAIL_JOB,
                        {"invitation_id": item.invitation_id},
                        key=f"mail:{item.invitation_id}",
                    )


def _import_command(ctx: Ctx, ev: CommandReceived) -> None:
    ctx.reply("schedule.import_usage")


def _sheet_command(ctx: Ctx, ev: CommandReceived) -> None:
    """``/invitesheet JOB``: one PDF of the open invitations of a job."""
    code = ev.args.strip()
    job = ctx.session.exec(select(Job).where(Job.code == code)).first() if code else None
    if job is None:
        ctx.reply("schedule.usage_sheet")
        return
    ids = ctx.session.exec(
        select(Invitation.id)
        .where(
            Invitation.job_id == job.id,
            col(Invitation.status).in_(("pending", "opened")),
            Invitation.expires_at > ctx.now,
        )
        .order_by(col(Invitation.id))
        .limit(500)
    ).all()
    if not ids:
        ctx.reply("schedule.sheet_none", code=job.code)
        return
    ctx.enqueue(
        SHEET_JOB,
        {
            "invitation_ids": list(ids),
            "platform": ctx.event.platform,
            "chat_id": ctx.event.chat_id,
            "lang": ctx.lang,
        },
        key=f"sheet:{ctx.event.event_id}",
    )
    ctx.audit("invite_sheet_requested", f"job:{job.id}", count=len(ids))
    ctx.reply("schedule.sheet_coming", n=len(ids))


staff.COMMAND_HANDLERS["importcandidates"] = ("invite", _import_command)
staff.COMMAND_HANDLERS["invitesheet"] = ("invite", _sheet_command)
staff.FILE_HANDLERS.append(import_file)
