"""Import company questions from CSV or YAML, with row-numbered errors.

The file comes from staff and is trusted no more than any input: at most
:data:`MAX_BYTES` and :data:`MAX_ROWS` questions; YAML is read with the safe loader and
without aliases (no ``!!python`` objects, no "billion laughs"); a CSV field over the
csv module's limit, a NUL byte, an unknown encoding or a YAML syntax error refuse the
file with its own message. Every other problem is one row's, reported by row number.
All messages are catalogue keys (``staff.qfile_*`` for the file, ``staff.qrow_*`` for a
row) rendered in the user's language by :func:`result_text` / :func:`file_error_text`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError
from sqlmodel import Session

from dialogs.jobs.question_bank import QuestionKeyError, QuestionSpec, add_question
from dialogs.kernel.catalog import t

MAX_BYTES = 1024 * 1024  # a bank of a few hundred questions is well under 1 MB
MAX_ROWS = 500
SHOWN_ERRORS = 30
CSV_ALIASES = {
    "question_zh": "zh",
    "text_zh": "zh",
    "question_en": "en",
    "text_en": "en",
    "time_limit": "time_limit_s",
}
# pydantic error type -> staff.qrow_<kind>
_ROW_KINDS = {
    "missing": "missing",
    "string_too_short": "too_short",
    "string_too_long": "too_long",
    "string_type": "text",
    "int_parsing": "integer",
    "int_type": "integer",
    "int_from_float": "integer",
    "int_parsing_size": "integer",
    "greater_than_equal": "range",
    "less_than_equal": "range",
    "list_type": "list",
}
_NOT_A_MAPPING = object()  # a YAML item that is not a question mapping


class QuestionFileError(ValueError):
    """The file as a whole cannot be read; ``code`` is a ``staff.qfile_*`` suffix."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


@dataclass
class RowIssue:
    """What is wrong with one row: a ``staff.qrow_*`` suffix and its parameters."""

    row: int
    code: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class ImportResult:
    imported: list[str] = field(default_factory=list)
    errors: list[RowIssue] = field(default_factory=list)


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else GBK, as Chinese spreadsheets save.

    Raises:
        QuestionFileError: ``encoding``.
    """
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise QuestionFileError("encoding") from exc


class _Loader(yaml.SafeLoader):
    """The safe loader without aliases: ``*x`` could multiply a small file a billion times."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(None, None, "alias", mark)
        return super().compose_node(parent, index)


def _load_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.constructor.ConstructorError as exc:
        raise QuestionFileError("yaml_tag", line=_line(exc)) from exc
    except yaml.composer.ComposerError as exc:
        code = "yaml_alias" if exc.problem == "alias" else "yaml"
        raise QuestionFileError(code, line=_line(exc)) from exc
    except yaml.YAMLError as exc:
        raise QuestionFileError("yaml", line=_line(exc)) from exc
    except RecursionError as exc:  # nested thousands of levels deep
        raise QuestionFileError("yaml", line="?") from exc


def _line(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return str(mark.line + 1) if mark is not None else "?"


def too_big() -> QuestionFileError:
    return QuestionFileError("too_big", limit=MAX_BYTES // 1024)


def parse_rows(data: bytes, filename: str) -> list[tuple[int, Any]]:
    """Rows as (row number as a person counts it, fields).

    Raises:
        QuestionFileError: the file as a whole is unreadable (see the module doc).
    """
    if len(data) > MAX_BYTES:
        raise too_big()
    text = decode(data)
    if not text.strip():
        raise QuestionFileError("empty")
    name = filename.lower()
    if name.endswith(".csv"):
        rows = _csv_rows(text)
    elif name.endswith((".yaml", ".yml")):
        rows = _yaml_rows(text)
    else:
        raise QuestionFileError("type")
    if len(rows) > MAX_ROWS:
        raise QuestionFileError("too_many_rows", limit=MAX_ROWS)
    return rows


def _csv_rows(text: str) -> list[tuple[int, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    rows: list[tuple[int, Any]] = []
    try:
        for index, raw in enumerate(reader, start=2):  # row 1 is the header
            if index > MAX_ROWS + 1:
                raise QuestionFileError("too_many_rows", limit=MAX_ROWS)
            row = {
                CSV_ALIASES.get(k.strip().lower(), k.strip().lower()): (v or "").strip()
                for k, v in raw.items()
                if isinstance(k, str) and k.strip() and isinstance(v, str | None)
            }
            rows.append((index, {k: v for k, v in row.items() if v != ""}))
    except csv.Error as exc:  # the record after the last one read is the bad one
        code = "csv_field" if "field larger than field limit" in str(exc) else "csv"
        raise QuestionFileError(code, row=len(rows) + 2) from exc
    return rows


def _yaml_rows(text: str) -> list[tuple[int, Any]]:
    loaded = _load_yaml(text)
    items = loaded.get("questions") if isinstance(loaded, dict) else loaded
    if not isinstance(items, list):
        raise QuestionFileError("yaml_shape")
    return [
        (i, item if isinstance(item, dict) else _NOT_A_MAPPING)
        for i, item in enumerate(items, start=1)
    ]


def _issues(row: int, exc: ValidationError) -> list[RowIssue]:
    out: list[RowIssue] = []
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else "?"
        if name in ("coding", "?"):  # a coding question's part, or the question as a whole
            out.append(_coding_issue(row, err))
            continue
        if err["type"] == "value_error" and name in ("competency", "modes"):
            out.append(RowIssue(row, name, {"field": name}))
            continue
        limits: dict[str, Any] = err.get("ctx") or {}
        kind = _ROW_KINDS.get(err["type"], "invalid")
        params: dict[str, Any] = {
            "field": name,
            **{k: limits[k] for k in ("min_length", "max_length") if k in limits},
        }
        if kind == "range":
            params["allowed"] = _limits(name)
        out.append(RowIssue(row, kind, params))
    return out


# The coding part's own checks (``coding.question``, ``QuestionSpec``), by what they say.
_CODING_CHECKS = {
    "unknown language": "coding_language",
    "names must differ": "coding_names",
    "needs a coding part": "coding_needed",
}
_CODING_KINDS = {
    "missing": "missing",
    "string_type": "text",
    "string_too_long": "too_long",
    "int_parsing": "integer",
    "int_type": "integer",
    "int_from_float": "integer",
    "float_parsing": "coding_number",
    "float_type": "coding_number",
    "too_short": "coding_too_few",
    "too_long": "coding_too_many",
    "list_type": "list",
    "extra_forbidden": "coding_unknown_field",
    "greater_than": "coding_bound",
    "greater_than_equal": "coding_bound",
    "less_than": "coding_bound",
    "less_than_equal": "coding_bound",
}
_BOUNDS = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤"}


def _coding_issue(row: int, err: Any) -> RowIssue:
    """One problem of a coding question, as a catalogue message (never the validator's
    English): the field's path (``coding.tests.0.name``) and what is wrong with it."""
    path = [str(p) for p in err["loc"]]
    field = ".".join(path) if path else "coding"
    if err["type"] == "value_error":
        message = str(err["msg"])
        code = next((c for k, c in _CODING_CHECKS.items() if k in message), "invalid")
        known = message.split("known: ", 1)[1] if "known: " in message else ""
        return RowIssue(row, code, {"field": field, "known": known})
    ctx: dict[str, Any] = err.get("ctx") or {}
    kind = _CODING_KINDS.get(err["type"], "invalid")
    params: dict[str, Any] = {"field": field}
    params.update({k: ctx[k] for k in ("min_length", "max_length") if k in ctx})
    if kind == "coding_bound":
        params["allowed"] = " ".join(f"{_BOUNDS[k]} {ctx[k]}" for k in _BOUNDS if k in ctx)
    return RowIssue(row, kind, params)


def _limits(name: str) -> str:
    info = QuestionSpec.model_fields.get(name)
    low = high = None
    for item in info.metadata if info is not None else ():
        low = getattr(item, "ge", low)
        high = getattr(item, "le", high)
    return f"{low}–{high}"


def import_questions(session: Session, data: bytes, filename: str) -> ImportResult:
    """Validate each row; keep the good ones, report the bad ones by row number.

    Raises:
        QuestionFileError: the file as a whole is unreadable; nothing is imported.
    """
    result = ImportResult()
    seen: set[str] = set()
    for row_number, row in parse_rows(data, filename):
        if row is _NOT_A_MAPPING:
            result.errors.append(RowIssue(row_number, "not_mapping"))
            continue
        try:
            spec = QuestionSpec.model_validate(row)
        except ValidationError as exc:
            result.errors.extend(_issues(row_number, exc))
            continue
        if spec.key and spec.key in seen:
            result.errors.append(RowIssue(row_number, "duplicate", {"key": spec.key}))
            continue
        try:
            with session.begin_nested():
                question = add_question(session, spec)
        except QuestionKeyError as exc:
            result.errors.append(RowIssue(row_number, f"key_{exc.code}", {"key": exc.key[:80]}))
            continue
        seen.add(question.key)
        result.imported.append(question.key)
    return result


def problems_text(lang: str, exc: ValidationError | QuestionKeyError) -> str:
    """What is wrong with one question (``/addquestion``), in ``lang``."""
    if isinstance(exc, QuestionKeyError):
        issues = [RowIssue(0, f"key_{exc.code}", {"key": exc.key[:80]})]
    else:
        issues = _issues(0, exc)
    sep = "；" if lang == "zh" else "; "
    return sep.join(t(lang, f"staff.qrow_{i.code}", **i.params) for i in issues)


def file_error_text(lang: str, exc: QuestionFileError) -> str:
    """Why the file was refused, in ``lang``."""
    return t(lang, "staff.import_none") + "\n" + t(lang, f"staff.qfile_{exc.code}", **exc.params)


def result_text(lang: str, result: ImportResult) -> str:
    """How many were imported and the first rows with problems, in ``lang``."""
    if result.imported:
        parts = [t(lang, "staff.import_done", ok=len(result.imported))]
    else:
        parts = [t(lang, "staff.import_none")]
    by_row: dict[int, list[str]] = {}
    for issue in result.errors:
        by_row.setdefault(issue.row, []).append(t(lang, f"staff.qrow_{issue.code}", **issue.params))
    if by_row:
        sep = "；" if lang == "zh" else "; "
        lines = [
            t(lang, "staff.import_row", row=row, problem=sep.join(problems))
            for row, problems in list(by_row.items())[:SHOWN_ERRORS]
        ]
        parts.append(t(lang, "staff.import_errors", errors="\n".join(lines)))
    return "\n".join(parts)
