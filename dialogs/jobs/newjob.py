"""Guided dialog to create a job: code, titles, competencies and weights, pass line, questions."""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import col, select

from dialogs.jobs.question_bank import KEY_RE, known_competencies
from dialogs.kernel.context import Ctx
from dialogs.kernel.events import TextReceived
from dialogs.kernel.text import has_hidden, visible
from storage.models import ConversationState, Job, JobQuestion, Question

CODE_RE = re.compile(r"^[A-Za-z0-9_-]{2,40}$")
PASS_LINE_RE = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,2})?")
MAX_TITLE = 100


def begin(ctx: Ctx) -> None:
    """Start the dialog; one already open for this user in this chat (another /newjob,
    a follow-up question being typed) is replaced: a user has one dialog at a time."""
    ev = ctx.event
    state = ctx.session.exec(
        select(ConversationState).where(
            ConversationState.platform == ev.platform,
            ConversationState.chat_id == ev.chat_id,
            ConversationState.user_id == ev.user_id,
        )
    ).first()
    if state is None:
        state = ConversationState(
            platform=ev.platform, chat_id=ev.chat_id, user_id=ev.user_id, flow="newjob", step="code"
        )
    state.flow = "newjob"
    state.step = "code"
    state.data = {}
    state.updated_at = ctx.now
    ctx.session.add(state)
    ctx.reply("newjob.ask_code")


class CompetencyProblem(ValueError):
    """Why a competency list was refused: a catalogue key (``newjob.problem_*``) and values."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key, values)
        self.key = key
        self.values = values


def parse_competencies(text: str, known: set[str]) -> list[dict[str, object]]:
    """ "communication 30, teamwork 70" -> [{"name": ..., "weight": ...}]; weights must sum to 100.

    Raises:
        CompetencyProblem: what is wrong, to be told in the user's language.
    """
    items: list[dict[str, object]] = []
    for part in re.split(r"[,，;；\n]+", text):
        part = part.strip()
        if not part:
            continue
        # ASCII digits only: a weight is written as 30 or 12.5, never ３０ nor 1e2.
        match = re.fullmatch(
            r"([A-Za-z_][A-Za-z0-9_ ]*?)\s*[:：=]?\s*([0-9]{1,3}(?:\.[0-9]{1,2})?)\s*%?", part
        )
        if not match:
            raise CompetencyProblem("newjob.problem_format", part=part[:60])
        name = match.group(1).strip().lower().replace(" ", "_")
        if known and name not in known:
            raise CompetencyProblem("newjob.problem_unknown", name=name[:60])
        items.append({"name": name, "weight": float(match.group(2))})
    if not items:
        raise CompetencyProblem("newjob.problem_none")
    names = [str(i["name"]) for i in items]
    if len(set(names)) != len(names):
        raise CompetencyProblem("newjob.problem_twice")
    total = sum(float(str(i["weight"])) for i in items)
    if abs(total - 100) > 1e-6:
        raise CompetencyProblem("newjob.problem_sum", total=f"{total:g}")
    return items


def step(ctx: Ctx, state: ConversationState) -> None:
    event = ctx.event
    if not isinstance(event, TextReceived):
        ctx.reply("newjob.text_only")  # a button, file or voice note: this dialog takes text
        return
    text = event.text.strip()
    data = dict(state.data)
    if state.step == "code":
        # The pattern first: a code with a NUL must not reach PostgreSQL.
        if (
            not CODE_RE.fullmatch(text)
            or ctx.session.exec(select(Job.id).where(Job.code == text)).first()
        ):
            ctx.reply("newjob.bad_code")
            return
        data["code"] = text
        _next(ctx, state, data, "title_zh", "newjob.ask_title_zh")
    elif state.step in ("title_zh", "title_en"):
        if not visible(text) or len(text) > MAX_TITLE or has_hidden(text):
            ctx.reply("newjob.bad_title", limit=MAX_TITLE)
            return
        data[state.step] = text
        if state.step == "title_zh":
            _next(ctx, state, data, "title_en", "newjob.ask_title_en")
        else:
            known = ", ".join(known_competencies(ctx.session))
            _next(ctx, state, data, "competencies", "newjob.ask_competencies", known=known)
    elif state.step == "competencies":
        try:
            data["competencies"] = parse_competencies(text, set(known_competencies(ctx.session)))
        except CompetencyProblem as exc:
            problem = ctx.text(exc.key, **exc.values)
            ctx.reply("newjob.bad_competencies", problem=problem)
            return
        _next(ctx, state, data, "pass_line", "newjob.ask_pass_line")
    elif state.step == "pass_line":
        # ASCII decimals only (float() would take "nan", "1e2", "７０" and 400 digits).
        value = float(text) if PASS_LINE_RE.fullmatch(text) else -1.0
        if not 0 <= value <= 100:
            ctx.reply("newjob.bad_pass_line")
            return
        data["pass_line"] = value
        _next(ctx, state, data, "questions", "newjob.ask_questions")
    elif state.step == "questions":
        _finish(ctx, state, data, text)


def _next(
    ctx: Ctx, state: ConversationState, data: dict[str, object], step: str, key: str, **kwargs: Any
) -> None:
    state.data = data
    state.step = step
    state.updated_at = ctx.now
    ctx.session.add(state)
    ctx.reply(key, **kwargs)


def _finish(ctx: Ctx, state: ConversationState, data: dict[str, object], text: str) -> None:
    competencies = [dict(c) for c in data["competencies"]]  # type: ignore[attr-defined]
    questions: list[Question] = []
    if text.lower() == "auto":
        for comp in competencies:
            rows = ctx.session.exec(
                select(Question)
                .where(Question.competency == comp["name"], col(Question.active).is_(True))
                .order_by(col(Question.key))
                .limit(2)
            ).all()
            questions.extend(rows)
    else:
        keys = [k.strip() for k in re.split(r"[,，\s]+", text) if k.strip()]
        # Only well-formed keys are looked up (a NUL must not reach PostgreSQL); the
        # others are reported unknown like keys that are not in the bank.
        wanted = [k for k in keys if KEY_RE.fullmatch(k)]
        rows = ctx.session.exec(select(Question).where(col(Question.key).in_(wanted))).all()
        found = {q.key: q for q in rows}
        missing = [k for k in keys if k not in found]
        if missing or not keys:
            ctx.reply("newjob.bad_questions", keys=", ".join(missing) or "-")
            return
        questions = [found[k] for k in keys]
    job = create_job(
        ctx,
        code=str(data["code"]),
        title_zh=str(data["title_zh"]),
        title_en=str(data["title_en"]),
        competencies=competencies,
        pass_line=float(str(data["pass_line"])),
        questions=questions,
    )
    ctx.session.delete(state)
    ctx.reply("newjob.created", code=job.code, count=len(questions))


def create_job(
    ctx: Ctx,
    *,
    code: str,
    title_zh: str,
    title_en: str,
    competencies: list[dict[str, object]],
    pass_line: float,
    questions: list[Question],
) -> Job:
    job = Job(
        code=code,
        title_zh=title_zh,
        title_en=title_en,
        competencies=competencies,
        pass_line=pass_line,
        created_at=ctx.now,
    )
    ctx.session.add(job)
    ctx.session.flush()
    for position, question in enumerate(questions):
        ctx.session.add(
            JobQuestion(job_id=job.id or 0, question_id=question.id or 0, position=position)
        )
    ctx.audit("job_created", f"job:{job.id}", code=code)
    return job
