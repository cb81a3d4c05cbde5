"""The ordered list of questions an interview asks, follow-ups included."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from storage.models import InterviewSession, JobQuestion, Question


@dataclass
class AnswerLimits:
    """What the current question accepts, so adapters can refuse media before download."""

    max_seconds: int
    max_bytes: int
    modes: tuple[str, ...]


@dataclass(frozen=True)
class PlanItem:
    question_id: int | None
    competency: str
    text_zh: str
    text_en: str
    time_limit_s: int
    modes: tuple[str, ...]
    followup: bool = False
    redo_of: int | None = None  # answer id when the item re-asks an unclear answer

    def text(self, lang: str) -> str:
        return self.text_zh if lang == "zh" else self.text_en


def base_plan(session: Session, job_id: int) -> list[PlanItem]:
    rows = session.exec(
        select(Question, JobQuestion.position)
        .join(JobQuestion, col(JobQuestion.question_id) == col(Question.id))
        .where(JobQuestion.job_id == job_id)
        .order_by(col(JobQuestion.position))
    ).all()
    return [
        PlanItem(
            question_id=q.id,
            competency=q.competency,
            text_zh=q.text_zh,
            text_en=q.text_en,
            time_limit_s=q.time_limit_s,
            modes=tuple(m for m in q.modes.split(",") if m),
        )
        for q, _pos in rows
    ]


def interview_plan(session: Session, s: InterviewSession) -> list[PlanItem]:
    """Base questions with HR follow-ups and re-asks inserted where they were added."""
    items = base_plan(session, s.job_id)
    for extra in s.extra_questions:
        item = PlanItem(
            question_id=extra.get("question_id"),
            competency=str(extra.get("competency", "")),
            text_zh=str(extra["text_zh"]),
            text_en=str(extra["text_en"]),
            time_limit_s=int(extra.get("time_limit_s", 120)),
            modes=tuple(extra.get("modes", ("voice", "video", "text"))),
            followup=bool(extra.get("followup", False)),
            redo_of=extra.get("redo_of"),
        )
        items.insert(min(int(extra["at"]), len(items)), item)
    return items
