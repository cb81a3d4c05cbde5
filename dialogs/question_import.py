"""Import company questions from CSV or YAML, with row-numbered errors."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError
from sqlmodel import Session

from dialogs.question_bank import QuestionSpec, add_question, spec_errors

CSV_ALIASES = {
    "question_zh": "zh",
    "text_zh": "zh",
    "question_en": "en",
    "text_en": "en",
    "time_limit": "time_limit_s",
}


@dataclass
class ImportResult:
    imported: list[str] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GBK, as Chinese spreadsheets often save."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValueError("the file is neither UTF-8 nor GBK text")


def parse_rows(data: bytes, filename: str) -> list[tuple[int, dict[str, Any]]]:
    """Rows as (row number as a person counts it, fields)."""
    text = decode(data)
    name = filename.lower()
    if name.endswith(".csv"):
        reader = csv.DictReader(io.StringIO(text))
        rows = []
        for index, raw in enumerate(reader, start=2):  # row 1 is the header
            row = {
                CSV_ALIASES.get(k.strip().lower(), k.strip().lower()): (v or "").strip()
                for k, v in raw.items()
                if k
            }
            rows.append((index, {k: v for k, v in row.items() if v != ""}))
        return rows
    if name.endswith((".yaml", ".yml")):
        loaded = yaml.safe_load(text)
        items = loaded.get("questions", []) if isinstance(loaded, dict) else loaded
        if not isinstance(items, list):
            raise ValueError(
                "the YAML file must be a list of questions (or have a 'questions' list)"
            )
        return [
            (i, item if isinstance(item, dict) else {"_": item})
            for i, item in enumerate(items, start=1)
        ]
    raise ValueError("unsupported file type")


def import_questions(session: Session, data: bytes, filename: str) -> ImportResult:
    """Validate each row; keep the good ones, report the bad ones by row number."""
    result = ImportResult()
    seen: set[str] = set()
    for row_number, row in parse_rows(data, filename):
        try:
            spec = QuestionSpec.model_validate(row)
        except ValidationError as exc:
            result.errors.append((row_number, spec_errors(exc)))
            continue
        if spec.key and spec.key in seen:
            result.errors.append((row_number, f"duplicate key {spec.key}"))
            continue
        try:
            with session.begin_nested():
                question = add_question(session, spec)
        except ValueError as exc:
            result.errors.append((row_number, str(exc)))
            continue
        seen.add(question.key)
        result.imported.append(question.key)
    return result
