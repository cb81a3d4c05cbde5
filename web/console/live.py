"""The live page: a job's interviews in progress, pushed with server-sent events.

The page holds a table and ``/console/static/console_live.js`` (our own script; the CSP
allows only our own files). The event stream asks the database every ``POLL_S`` seconds
for a small fingerprint of the job's interviews (latest change, latest answer, latest
score) and, when it moved, sends the table's rows again as escaped HTML. The stream ends
when the session does (sign-out, expiry) or after ``MAX_STREAM_S``; the browser's
``EventSource`` then reconnects, and the role is checked again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from dialogs.kernel.catalog import t
from storage.db import table_of
from storage.models import Answer, Candidate, Evaluation, InterviewSession
from web.console.render import esc

POLL_S = 2.0
MAX_STREAM_S = 600.0
FINAL_STATES = ("done", "declined", "locked")
LIMIT = 100
_S = table_of(InterviewSession).c
_A = table_of(Answer).c
_C = table_of(Candidate).c
_E = table_of(Evaluation).c


@dataclass(frozen=True)
class LiveRow:
    candidate_id: int
    name: str
    state: str
    question: int
    answers: int
    last_answer: dt.datetime | None
    last_score: float | None


def live_rows(session: Session, job_id: int) -> list[LiveRow]:
    """The job's interviews in progress (most recently active first), one query each."""
    answers = (
        select(
            _A.session_id.label("sid"),
            func.count(_A.id).label("n"),
            func.max(_A.created_at).label("last"),
            func.max(_A.id).label("last_id"),
        )
        .where(_A.practice.is_(False))
        .group_by(_A.session_id)
        .subquery()
    )
    rows = session.execute(
        select(
            _C.id,
            _C.name,
            _S.state,
            _S.question_index,
            answers.c.n,
            answers.c.last,
            answers.c.last_id,
        )
        .select_from(table_of(InterviewSession))
        .join(table_of(Candidate), _C.id == _S.candidate_id)
        .outerjoin(answers, answers.c.sid == _S.id)
        .where(_S.job_id == job_id, _S.state.not_in(FINAL_STATES), _C.status != "deleted")
        .order_by(_S.updated_at.desc(), _S.id.desc())
        .limit(LIMIT)
    ).all()
    last_ids = [int(r[6]) for r in rows if r[6] is not None]
    scores: dict[int, float] = {}
    if last_ids:
        for answer_id, score in session.execute(
            select(_E.answer_id, _E.score).where(
                _E.answer_id.in_(last_ids), _E.dimension == "total"
            )
        ).all():
            scores[int(answer_id)] = float(score)
    return [
        LiveRow(
            candidate_id=int(r[0]),
            name=str(r[1] or ""),
            state=str(r[2]),
            question=int(r[3]) + 1,
            answers=int(r[4] or 0),
            last_answer=r[5],
            last_score=scores.get(int(r[6])) if r[6] is not None else None,
        )
        for r in rows
    ]


def fingerprint(session: Session, job_id: int) -> tuple[Any, ...]:
    """Changes whenever an interview of the job moves, an answer arrives or is scored."""
    latest = session.execute(
        select(func.max(_S.updated_at), func.count(_S.id)).where(_S.job_id == job_id)
    ).one()
    answers = session.execute(
        select(func.max(_A.id), func.count(_E.id))
        .select_from(table_of(Answer))
        .join(table_of(InterviewSession), _S.id == _A.session_id)
        .outerjoin(table_of(Evaluation), _E.answer_id == _A.id)
        .where(_S.job_id == job_id)
    ).one()
    return (str(latest[0]), int(latest[1]), answers[0], int(answers[1]))


def rows_html(lang: str, rows: list[LiveRow]) -> str:
    if not rows:
        return f'<tr><td colspan="6">{esc(t(lang, "console_web.live_none"))}</td></tr>'
    return "".join(
        "<tr>"
        f'<td><a href="/console/candidates/{r.candidate_id}">#{r.candidate_id}</a></td>'
        f"<td>{esc(r.name)}</td><td>{esc(r.state)}</td><td>{r.question}</td><td>{r.answers}</td>"
        f"<td>{'-' if r.last_score is None else f'{r.last_score:.1f}'}</td>"
        "</tr>"
        for r in rows
    )


def live_body(lang: str, job_code: str, job_id: int, rows: list[LiveRow]) -> str:
    head = "".join(
        f'<th scope="col">{esc(t(lang, f"console_web.{k}"))}</th>'
        for k in ("col_id", "col_name", "live_state", "live_question", "live_answers", "live_score")
    )
    return (
        f"<h1>{esc(t(lang, 'console_web.live_heading', job=job_code))}</h1>"
        f'<p class="hint" id="live-status" role="status">{esc(t(lang, "console_web.live_hint"))}</p>'
        f'<div class="scroll" tabindex="0" role="region" aria-label="{esc(t(lang, "console_web.live_heading", job=job_code))}"><table class="live"><caption>{esc(t(lang, "console_web.live_heading", job=job_code))}'
        f"</caption><thead><tr>{head}</tr></thead>"
        f'<tbody id="live-rows" data-src="/console/jobs/{job_id}/live/events">{rows_html(lang, rows)}</tbody>'
        "</table></div>"
        '<script src="/console/static/console_live.js" defer></script>'
    )


def sse(event: str, html_text: str) -> bytes:
    lines = "".join(f"data: {line}\n" for line in html_text.splitlines() or [""])
    return f"event: {event}\n{lines}\n".encode()
