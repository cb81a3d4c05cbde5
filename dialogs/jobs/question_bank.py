"""The built-in question bank (``dialogs/kernel/bank/questions.yaml``) and company questions."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from pydantic import BaseModel, Field, field_validator, model_validator
from sqlmodel import Session, col, select

from coding.question import CodingSpec
from dialogs.kernel.notify import BANK_FILE
from storage.models import Question

MODES = {"voice", "video", "text", "code"}
KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,79}$")


class QuestionSpec(BaseModel):
    """One question as written in the bank file or an import file."""

    key: str = ""
    competency: str = Field(min_length=2, max_length=60)
    zh: str = Field(min_length=4, max_length=1000)
    en: str = Field(min_length=4, max_length=1000)
    rubric_zh: str = Field(default="", max_length=2000)
    rubric_en: str = Field(default="", max_length=2000)
    modes: list[str] = Field(default_factory=lambda: ["voice", "video", "text"])
    time_limit_s: int = Field(default=120, ge=15, le=600)
    # a coding question (answered with code that runs in the sandbox): modes is ["code"]
    coding: CodingSpec | None = None

    @field_validator("coding", mode="before")
    @classmethod
    def _coding_json(cls, value: Any) -> Any:
        """A CSV cell holds the coding part as JSON text; empty means none."""
        if isinstance(value, str):
            return json.loads(value) if value.strip() else None
        return value

    @model_validator(mode="after")
    def _code_mode(self) -> QuestionSpec:
        if self.coding is not None:
            self.modes = ["code"]
        elif "code" in self.modes:
            raise ValueError("the code mode needs a coding part (tests, language ...)")
        return self

    @field_validator("competency")
    @classmethod
    def _competency(cls, value: str) -> str:
        value = value.strip().lower().replace(" ", "_")
        if not re.fullmatch(r"[a-z][a-z0-9_]*", value):
            raise ValueError("use lower-case letters, digits and _")
        return value

    @field_validator("modes", mode="before")
    @classmethod
    def _modes(cls, value: Any) -> list[str]:
        if isinstance(value, str):
            value = [m.strip() for m in re.split(r"[,;/ ]+", value) if m.strip()]
        if not isinstance(value, list | tuple):  # a number, a mapping ... from a YAML file
            raise ValueError("modes must be among voice, video, text")
        modes = [m.lower() if isinstance(m, str) else "?" for m in value]
        bad = [m for m in modes if m not in MODES]
        if bad or not modes:
            raise ValueError(
                f"modes must be among voice, video, text (got {', '.join(bad) or 'none'})"
            )
        if "code" in modes and len(modes) > 1:
            raise ValueError("the code mode goes alone")
        return modes


def load_builtin() -> tuple[dict[str, dict[str, str]], list[QuestionSpec]]:
    data = yaml.safe_load(BANK_FILE.read_text(encoding="utf-8"))
    competencies = {str(k): dict(v) for k, v in data["competencies"].items()}
    questions = [QuestionSpec.model_validate(q) for q in data["questions"]]
    return competencies, questions


def seed_builtin(session: Session) -> int:
    """Insert or update the built-in questions; returns how many were added."""
    _, specs = load_builtin()
    existing = {
        q.key: q for q in session.exec(select(Question).where(Question.owner == "builtin")).all()
    }
    added = 0
    for spec in specs:
        row = existing.get(spec.key)
        if row is None:
            row = Question(
                key=spec.key,
                owner="builtin",
                competency=spec.competency,
                text_zh=spec.zh,
                text_en=spec.en,
            )
            added += 1
        _apply(row, spec)
        session.add(row)
    session.flush()
    return added


class QuestionKeyError(ValueError):
    """A question key that cannot be used; ``code`` is ``format`` or ``builtin``."""

    def __init__(self, code: str, key: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.key = key


def add_question(session: Session, spec: QuestionSpec, owner: str = "company") -> Question:
    """Insert or update a company question.

    Raises:
        QuestionKeyError: the key is malformed or belongs to the built-in bank.
    """
    key = spec.key or _next_key(session, spec.competency)
    if not KEY_RE.fullmatch(key):
        raise QuestionKeyError(
            "format", key, f"key {key[:80]!r}: use lower-case letters, digits, - and _"
        )
    row = session.exec(select(Question).where(Question.key == key)).first()
    if row is not None and row.owner == "builtin":
        raise QuestionKeyError("builtin", key, f"key {key!r} belongs to the built-in bank")
    if row is None:
        row = Question(
            key=key, owner=owner, competency=spec.competency, text_zh=spec.zh, text_en=spec.en
        )
    _apply(row, spec)
    session.add(row)
    session.flush()
    return row


def _apply(row: Question, spec: QuestionSpec) -> None:
    row.competency = spec.competency
    row.text_zh = spec.zh
    row.text_en = spec.en
    row.rubric_zh = spec.rubric_zh
    row.rubric_en = spec.rubric_en
    row.modes = ",".join(spec.modes)
    row.time_limit_s = spec.time_limit_s
    row.coding = spec.coding.model_dump(mode="json") if spec.coding else {}


def _next_key(session: Session, competency: str) -> str:
    prefix = f"co-{competency}-"
    keys = session.exec(select(Question.key).where(col(Question.key).startswith(prefix))).all()
    numbers = [int(k.rsplit("-", 1)[1]) for k in keys if k.rsplit("-", 1)[1].isdigit()]
    return f"{prefix}{(max(numbers) + 1) if numbers else 1:02d}"


def known_competencies(session: Session) -> list[str]:
    return sorted(
        set(session.exec(select(Question.competency).where(col(Question.active).is_(True))).all())
    )
