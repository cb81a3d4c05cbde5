"""Reading a candidate spreadsheet (CSV or XLSX): headers in English or Chinese, one row
a candidate, each bad row reported by its number (the header is row 1, as a spreadsheet
shows it). Inviting the rows is :mod:`dialogs.invitations.bulk_invite`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dialogs.invitations import spreadsheet
from dialogs.invitations.spreadsheet import ImportFileError as ImportFileError
from dialogs.invitations.spreadsheet import decode

MAX_ROWS = spreadsheet.MAX_ROWS
MAX_BYTES = 10 * 1024 * 1024  # larger than any sheet of MAX_ROWS candidates
HEADER_SCAN = 50  # rows of a CSV file looked at for the header in the chat
MAX_NAME = 100
FORMULA_START = ("=", "+", "-", "@")  # a cell starting so is a formula to spreadsheets

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
