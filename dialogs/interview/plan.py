"""The ordered list of questions an interview asks, follow-ups included."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam
from sqlalchemy import select as core_select
from sqlmodel import Session

from storage.db import table_of
from storage.models import InterviewSession, JobQuestion, Question

_Q = table_of(Question)
_JQ = table_of(JobQuestion)
# Read on every answer: prebuilt, columns only (no ORM objects).
_BASE_PLAN = (
    core_select(_Q.c.id, _Q.c.competency, _Q.c.text_zh, _Q.c.text_en, _Q.c.time_limit_s, _Q.c.modes)
    .join(_JQ, _JQ.c.question_id == _Q.c.id)
    .where(_JQ.c.job_id == bindparam("job_id"))
    .order_by(_JQ.c.position)
)


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
    rows = session.execute(_BASE_PLAN, {"job_id": job_id}).all()
    return [
        PlanItem(
            question_id=q_id,
            competency=competency,
            text_zh=text_zh,
            text_en=text_en,
            time_limit_s=time_limit_s,
            modes=tuple(m for m in modes.split(",") if m),
        )
        for q_id, competency, text_zh, text_en, time_limit_s, modes in rows
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
