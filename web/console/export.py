"""A job's results as CSV and XLSX, safe to open in a spreadsheet.

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
would be read as a formula (CSV/formula injection: a candidate named ``=HYPERLINK(...)``):
such text gets a leading ``'``. Numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from openpyxl import Workbook

from dialogs.kernel.catalog import t

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = (
    "col_id",
    "col_name",
    "col_status",
    "col_language",
    "col_total",
    "col_pass_rate",
    "col_decision",
)


def safe_cell(value: Any) -> Any:
    """Numbers as they are; text that a spreadsheet would run as a formula, quoted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return value
    text = str(value)
    return "'" + text if text.startswith(DANGEROUS) else text


def header(lang: str) -> list[str]:
    return [t(lang, f"console_web.{key}") for key in COLUMNS]


def record(row: Sequence[Any]) -> list[Any]:
    """An export row from a ``queries.all_rows`` row (id, name, status, language, total,
    passed, decision, decided_by)."""
    cid, name, status, language, total, passed, decision, _by = row
    return [
        int(cid),
        safe_cell(name),
        safe_cell(status),
        safe_cell(language),
        None if total is None else round(float(total), 1),
        safe_cell(passed) if passed is not None else "",
        safe_cell(decision),
    ]


def to_csv(lang: str, rows: Iterable[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header(lang))
    for row in rows:
        writer.writerow(["" if v is None else v for v in record(row)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # BOM: Excel reads it as UTF-8


def to_xlsx(lang: str, rows: Iterable[Sequence[Any]]) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("results")
    ws.append(header(lang))
    for row in rows:
        ws.append(record(row))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
