"""Reading staff spreadsheets (CSV, XLSX) without trusting them.

A file sent in the chat may be hostile or just wrong: a ZIP bomb named ``.xlsx`` (a
128 KB file holding 52 MB of shared strings), a ZIP that is no workbook, a sheet with a
million rows or columns, a cell of megabytes, text in an unknown encoding. Two stages:

* :func:`check_container` is what the chat handler may afford inside an event's
  transaction: the ZIP's central directory only (member count, stated sizes, encryption,
  the workbook part present). Nothing is decompressed beyond a sheet's first few KB.
* :func:`read_rows` runs in the background job, outside any transaction: a streaming
  reader (``defusedxml`` iterparse, no DTDs or entities) that stops at the first limit
  passed — rows, columns, cell length, time — with an :class:`ImportFileError` naming it.

openpyxl is not used for reading: its read-only mode still loads every shared string
before the first row, which is where a bomb spends its time.
"""

from __future__ import annotations

import csv
import io
import itertools
import posixpath
import re
import time
import zipfile
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from defusedxml import ElementTree as SafeET  # type: ignore[import-untyped]
from defusedxml.common import DefusedXmlException  # type: ignore[import-untyped]

MAX_ROWS = 5000  # data rows an import may have
MAX_LINES = 20 * MAX_ROWS  # rows, blank ones included, a sheet may span
MAX_COLS = 50  # columns with a value
MAX_CELL = 1000  # characters in one cell
MAX_UNZIPPED = 50 * 1024 * 1024  # all ZIP members together, uncompressed
MAX_MEMBERS = 1000  # ZIP members of a workbook
TIME_LIMIT_S = 30.0  # reading one file in the job
_CHECK_EVERY = 256  # rows (or XML elements) between two clock checks
_XML_ERRORS = (SafeET.ParseError, DefusedXmlException, ValueError, KeyError, EOFError)
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, ValueError)
_DIMENSION = re.compile(
    rb"<(?:\w+:)?dimension\s+ref=\"([A-Z]{1,3})(\d{1,7})(?::([A-Z]{1,3})(\d{1,7}))?\""
)
_CELL_REF = re.compile(r"^([A-Z]{1,3})(\d{1,7})$")


class ImportFileError(ValueError):
    """The file as a whole cannot be read; ``code`` names why (a catalogue key suffix).

    ``detail`` is a row number for ``cell_too_big``, otherwise free text for the log.
    """

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.until = time.monotonic() + seconds
        self.ticks = 0

    def tick(self) -> None:
        self.ticks += 1
        if self.ticks % _CHECK_EVERY == 0 and time.monotonic() > self.until:
            raise ImportFileError("too_slow")


# ====================================================================== CSV
def decode(data: bytes) -> tuple[str, str]:
    """Text of a CSV file: UTF-8 (BOM or not), UTF-16 with BOM, else GBK/GB18030.

    Raises:
        ImportFileError: ``encoding`` when it is none of those.
    """
    try:
        if data.startswith(b"\xef\xbb\xbf"):
            return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16"), "utf-16"
    except UnicodeDecodeError as exc:
        raise ImportFileError("encoding", str(exc)) from exc
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise ImportFileError("encoding")


def _dialect(text: str) -> Any:
    try:
        return csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        return csv.excel


def csv_rows(
    text: str, *, limit: int | None = None, seconds: float = TIME_LIMIT_S
) -> list[list[str]]:
    """The rows of CSV text (``limit``: only the first ones), each cell stripped.

    Raises:
        ImportFileError: ``encoding`` (not a text table), ``cell_too_big`` (detail: the
        row), ``too_many_rows``, ``too_many_columns`` or ``too_slow``.
    """
    deadline = _Deadline(seconds)
    reader = csv.reader(io.StringIO(text), _dialect(text))
    rows: list[list[str]] = []
    filled = 0
    try:
        for row in itertools.islice(reader, limit):
            deadline.tick()
            cells = _fit(row, len(rows) + 1)
            rows.append(cells)
            filled += bool(cells)
            if len(rows) > MAX_LINES or filled > MAX_ROWS + 1:  # the header, MAX_ROWS rows
                raise ImportFileError("too_many_rows")
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise ImportFileError("cell_too_big", str(len(rows) + 1)) from exc  # the next row
        raise ImportFileError("encoding", str(exc)) from exc  # e.g. a NUL byte
    return rows


def _fit(cells: list[str], row: int) -> list[str]:
    """Cells stripped, within :data:`MAX_CELL` characters and :data:`MAX_COLS` columns."""
    out = [c.strip() for c in cells]
    if any(len(c) > MAX_CELL for c in out):
        raise ImportFileError("cell_too_big", str(row))
    while out and not out[-1]:
        out.pop()
    if len(out) > MAX_COLS:
        raise ImportFileError("too_many_columns")
    return out


# ====================================================================== XLSX
def check_container(data: bytes) -> int | None:
    """The cheap check of an ``.xlsx``: a ZIP, small enough unpacked, with a workbook.

    Only the central directory is read, plus the first 4 KB of the first sheet for its
    stated dimension.

    Returns:
        the row count the sheet states (its ``<dimension>``), None when it states none.

    Raises:
        ImportFileError: ``xlsx`` (not a workbook) or ``unzipped_too_big``.
    """
    if not data.startswith(b"PK\x03\x04"):
        raise ImportFileError("xlsx", "not a ZIP file")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            if len(members) > MAX_MEMBERS:
                raise ImportFileError("xlsx", f"{len(members)} ZIP members")
            if sum(m.file_size for m in members) > MAX_UNZIPPED:
                raise ImportFileError("unzipped_too_big")
            if any(m.flag_bits & 0x1 for m in members):
                raise ImportFileError("xlsx", "encrypted")
            names = {m.filename for m in members}
            if "xl/workbook.xml" not in names:
                raise ImportFileError("xlsx", "no xl/workbook.xml")
            sheets = sorted(n for n in names if re.fullmatch(r"xl/worksheets/[^/]+\.xml", n))
            if not sheets:
                raise ImportFileError("xlsx", "no worksheet")
            with archive.open(_first_sheet(archive, names) or sheets[0]) as part:
                head = part.read(4096)
    except ImportFileError:
        raise
    except _ZIP_ERRORS as exc:
        raise ImportFileError("xlsx", str(exc)) from exc
    found = _DIMENSION.search(head)
    if found is None:
        return None
    return int(found.group(4) or found.group(2))


def read_xlsx(data: bytes, *, seconds: float = TIME_LIMIT_S) -> list[list[str]]:
    """The rows of the workbook's first sheet, as strings (row ``i`` is sheet row ``i+1``).

    Formulas give their cached value (as Excel shows it), errors and formulas without
    one give an empty cell.

    Raises:
        ImportFileError: as :func:`check_container`, and ``too_many_rows``,
        ``too_many_columns``, ``cell_too_big`` (detail: the row) or ``too_slow``.
    """
    check_container(data)
    deadline = _Deadline(seconds)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            sheet = _first_sheet(archive, names)
            if sheet is None:
                raise ImportFileError("xlsx", "no first sheet")
            strings = _shared_strings(archive, names, deadline)
            with archive.open(sheet) as part:
                return _sheet_rows(part, strings, deadline)
    except ImportFileError:
        raise
    except _ZIP_ERRORS + _XML_ERRORS as exc:
        raise ImportFileError("xlsx", f"{type(exc).__name__}: {exc}") from exc


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _small_xml(archive: zipfile.ZipFile, name: str) -> Any:
    """A small part (workbook, relationships) parsed whole; bounded by the size check."""
    with archive.open(name) as part:
        return SafeET.fromstring(part.read(1024 * 1024))


def _first_sheet(archive: zipfile.ZipFile, names: set[str]) -> str | None:
    """The path of the first sheet in the workbook's order, as Excel shows them."""
    try:
        workbook = _small_xml(archive, "xl/workbook.xml")
        rels = _small_xml(archive, "xl/_rels/workbook.xml.rels")
    except (*_ZIP_ERRORS, *_XML_ERRORS):
        return None
    first = next((el for el in workbook.iter() if _local(el.tag) == "sheet"), None)
    if first is None:
        return None
    rid = next((v for k, v in first.attrib.items() if _local(k) == "id"), None)
    for rel in rels.iter():
        if _local(rel.tag) == "Relationship" and rel.get("Id") == rid:
            target = rel.get("Target", "")
            path = target.lstrip("/") if target.startswith("/") else "xl/" + target
            path = posixpath.normpath(path)
            return path if path in names else None
    return None


def _shared_strings(archive: zipfile.ZipFile, names: set[str], deadline: _Deadline) -> list[str]:
    if "xl/sharedStrings.xml" not in names:
        return []
    strings: list[str] = []
    with archive.open("xl/sharedStrings.xml") as part:
        for _, el in SafeET.iterparse(part, events=("end",)):
            deadline.tick()
            if _local(el.tag) == "si":
                strings.append(_text_of(el)[: MAX_CELL + 1])
                el.clear()
    return strings


def _text_of(el: Any) -> str:
    """The text of a ``<si>`` or ``<is>``: its ``<t>`` and rich runs, not phonetic hints."""
    parts: list[str] = []
    for child in el:
        name = _local(child.tag)
        if name == "t":
            parts.append(child.text or "")
        elif name == "r":
            parts.extend(t.text or "" for t in child if _local(t.tag) == "t")
    return "".join(parts)


def _column(letters: str) -> int:
    index = 0
    for ch in letters:
        index = index * 26 + ord(ch) - 64
    return index


def _value(cell: Any, strings: list[str]) -> str:
    kind = cell.get("t", "n")
    if kind == "inlineStr":
        box = next((c for c in cell if _local(c.tag) == "is"), None)
        return _text_of(box) if box is not None else ""
    raw = next((c.text or "" for c in cell if _local(c.tag) == "v"), "")
    if kind == "s":
        index = int(raw)
        return strings[index] if 0 <= index < len(strings) else ""
    if kind == "e" or not raw:
        return ""
    if kind == "n":
        try:
            number = Decimal(raw)
        except InvalidOperation:
            return raw
        if number.is_finite() and number == number.to_integral_value() and abs(number) < 10**20:
            return str(int(number))  # a phone number Excel stored as a number
        return raw
    if kind == "b":
        return "TRUE" if raw == "1" else "FALSE"
    return raw  # "str" (a formula's text), "d" (ISO date)


def _sheet_rows(part: IO[bytes], strings: list[str], deadline: _Deadline) -> list[list[str]]:
    rows: list[list[str]] = []
    filled = 0
    for _, el in SafeET.iterparse(part, events=("end",)):
        deadline.tick()
        if _local(el.tag) != "row":
            continue
        number = int(el.get("r") or len(rows) + 1)
        if number > MAX_LINES:
            raise ImportFileError("too_many_rows")
        cells: dict[int, str] = {}
        for cell in el:
            if _local(cell.tag) != "c":
                continue
            ref = _CELL_REF.match(cell.get("r", ""))
            column = _column(ref.group(1)) if ref else len(cells) + 1
            value = _value(cell, strings).strip()
            if not value:
                continue
            if column > MAX_COLS:
                raise ImportFileError("too_many_columns")
            if len(value) > MAX_CELL:
                raise ImportFileError("cell_too_big", str(number))
            cells[column] = value
        el.clear()
        if not cells:
            continue
        while len(rows) < number - 1:
            rows.append([])
        row = [""] * max(cells)
        for column, value in cells.items():
            row[column - 1] = value
        if number <= len(rows):  # rows out of order: not a sheet Excel wrote
            raise ImportFileError("xlsx", f"row {number} repeated")
        rows.append(row)
        filled += 1
        if filled > MAX_ROWS + 1:  # the header and MAX_ROWS rows of data
            raise ImportFileError("too_many_rows")
    return rows
