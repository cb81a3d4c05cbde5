"""Roll a finished interview up into scores, a report and a decision post; rank batches.

One module (about 570 lines): ``finalize``, ``rank``, the report data and the HR posts
are one stage of the pipeline that reads the same composite scores; each job handler
here is short, the length is the report and post builders they share.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from dialogs.kernel.catalog import t
from dialogs.kernel.context import Ctx
from dialogs.kernel.intents import Button, Intent, Send, SendFile
from dialogs.kernel.notify import HRChat, competency_label, group_tag, hr_group_chats
from dialogs.kernel.worker import JobContext, JobHandler
from scoring.code_report import CodingAnswerReport
from scoring.code_score import CodeResult
from scoring.composite import JobWeights, QuestionScore, composite, rank_batch
from scoring.report import (
    AnswerReport,
    CandidateReportData,
    CompetencyLine,
    candidate_report_pdf,
    ranking_chart_png,
)
from scoring.star import Evaluation as StarEvaluation
from storage.models import (
    Answer,
    AuditEvent,
    BackgroundJob,
    Candidate,
    CandidateScore,
    Decision,
    Evaluation,
    InterviewSession,
    Job,
)

log = logging.getLogger(__name__)
CANDIDATE_DONE = {
    "completed",
    "approved",
    "rejected",
    "next_round",
    "withdrawn",
    "deleted",
    "locked",
    "declined",
    "expired",
    "no_show",
}


def decision_buttons(lang: str, candidate_id: int) -> list[list[Button]]:
    return [
        [
            Button(label=t(lang, "results.approve"), data=f"dec:{candidate_id}:a"),
            Button(label=t(lang, "results.next_round"), data=f"dec:{candidate_id}:n"),
            Button(label=t(lang, "results.reject"), data=f"dec:{candidate_id}:r"),
        ],
        [Button(label=t(lang, "results.details"), data=f"dec:{candidate_id}:d")],
    ]


def answer_rows(session: Session, candidate_id: int) -> list[tuple[Answer, StarEvaluation | None]]:
    """The candidate's final answers with their evaluations (None if not scored)."""
    s = session.exec(
        select(InterviewSession).where(InterviewSession.candidate_id == candidate_id)
    ).first()
    if s is None:
        return []
    answers = session.exec(
        select(Answer)
        .where(
            Answer.session_id == s.id,
            col(Answer.practice).is_(False),
            Answer.status != "superseded",
        )
        .order_by(col(Answer.position), col(Answer.id))
    ).all()
    out: list[tuple[Answer, StarEvaluation | None]] = []
    for answer in answers:
        row = session.exec(
            select(Evaluation)
            .where(Evaluation.answer_id == answer.id, Evaluation.dimension == "total")
            .order_by(col(Evaluation.id).desc())
        ).first()
        full = (row.details or {}).get("full") if row is not None else None
        out.append((answer, StarEvaluation.model_validate(full) if full else None))
    return out


def coding_results(session: Session, candidate_id: int) -> list[tuple[Answer, CodeResult]]:
    """The candidate's judged coding answers with their results."""
    s = session.exec(
        select(InterviewSession).where(InterviewSession.candidate_id == candidate_id)
    ).first()
    if s is None:
        return []
    rows = session.exec(
        select(Answer, Evaluation)
        .join(Evaluation, col(Evaluation.answer_id) == col(Answer.id))
        .where(
            Answer.session_id == s.id,
            Answer.kind == "code",
            col(Answer.practice).is_(False),
            Answer.status == "scored",
            Evaluation.dimension == "total",
        )
        .order_by(col(Answer.position), col(Evaluation.id))
    ).all()
    found: dict[int, tuple[Answer, CodeResult]] = {}
    for answer, evaluation in rows:
        coding = (evaluation.details or {}).get("coding")
        if coding:
            found[answer.id or 0] = (answer, CodeResult.model_validate(coding))
    return list(found.values())


def candidate_composite(
    session: Session, job: Job, candidate_id: int
) -> tuple[Any, list[tuple[Answer, StarEvaluation | None]]]:
    rows = answer_rows(session, candidate_id)
    coded = {answer.id: result for answer, result in coding_results(session, candidate_id)}
    questions = [
        QuestionScore(
            question_id=str(answer.id),
            competency=answer.competency,
            total=coded[answer.id].score
            if answer.id in coded
            else ev.total
            if ev is not None and ev.status == "ok" and answer.status == "scored"
            else None,
        )
        for answer, ev in rows
    ]
    weights = JobWeights(
        weights={str(c["name"]): float(c["weight"]) for c in job.competencies},
        pass_line=job.pass_line,
    )
    return composite(questions, weights), rows


def candidate_report_data(
    session: Session, job: Job, candidate: Candidate, lang: str, now: dt.datetime
) -> tuple[CandidateReportData, Any]:
    """What the candidate's PDF shows (AI scores, and people's scores beside them)."""
    from dialogs.hiring.human_scores import report_lines

    candidate_id = candidate.id or 0
    comp, rows = candidate_composite(session, job, candidate_id)
    report = CandidateReportData(
        lang=lang,
        candidate_id=str(candidate_id),
        candidate_name=candidate.name,
        job_title=job.title_zh if lang == "zh" else job.title_en,
        total=comp.total,
        provisional=comp.provisional,
        pass_line=job.pass_line,
        competencies=[
            CompetencyLine(
                name=competency_label(str(c["name"]), lang),
                weight=float(c["weight"]),
                score=comp.per_competency.get(str(c["name"])),
            )
            for c in job.competencies
        ],
        answers=[
            AnswerReport(
                question=a.question_text,
                competency=competency_label(a.competency, lang),
                transcript=a.text or "",
                evaluation=ev,
            )
            for a, ev in rows
            if ev is not None
        ],
        generated_at=now,
        human=report_lines(session, job, candidate_id, comp.per_competency, lang),
        coding=[
            CodingAnswerReport(
                question=a.question_text,
                competency=competency_label(a.competency, lang),
                code=a.text or "",
                result=result,
            )
            for a, result in coding_results(session, candidate_id)
        ],
    )
    return report, comp


# Rejects a candidate below the pass line of a job set to do so (``decisions.auto_reject``).
AutoReject = Callable[[Session, JobContext, Candidate, Decision], None]


def finalize(job_row: BackgroundJob, ctx: JobContext, *, auto_reject: AutoReject) -> None:
    """Scores, report PDF, decision record and the HR post for one candidate (the
    ``finalize`` job; :func:`dialogs.hiring.decisions.finalize` runs it)."""
    candidate_id = int(job_row.payload["candidate_id"])
    settings = ctx.services.settings
    lang = settings.app.default_language
    with ctx.db.session() as session:
        candidate = session.get(Candidate, candidate_id)
        if candidate is None:
            return
        job = session.get(Job, candidate.job_id)
        assert job is not None
        report, comp = candidate_report_data(
            session, job, candidate, lang, ctx.services.clock.now()
        )
    # Rendered in memory and stored encrypted: no plaintext copy on disk.
    report_path, _ = ctx.db.media.put(candidate_report_pdf(report), ".pdf")
    with ctx.db.transaction() as session:
        fresh = ctx.claim_result(session, job_row)  # a re-run after a crash posts nothing
        if fresh:
            _record_and_post(session, ctx, candidate_id, comp, report_path, auto_reject)
    if not fresh:
        ctx.db.media.delete(report_path)


def _record_and_post(
    session: Session,
    ctx: JobContext,
    candidate_id: int,
    comp: Any,
    report_path: str,
    auto_reject: AutoReject,
) -> None:
    """Scores, decision record and the HR post, inside the finalize job's transaction."""
    candidate = session.get(Candidate, candidate_id)
    job = session.get(Job, candidate.job_id if candidate else 0)
    assert candidate is not None
    assert job is not None
    score = session.exec(
        select(CandidateScore).where(CandidateScore.candidate_id == candidate_id)
    ).first()
    if score is None:
        score = CandidateScore(candidate_id=candidate_id, job_id=job.id or 0)
    score.total = comp.total
    score.provisional = comp.provisional
    score.passed = comp.passed
    score.per_competency = dict(comp.per_competency)
    score.report_path = report_path
    score.computed_at = ctx.services.clock.now()
    session.add(score)
    decision = session.exec(select(Decision).where(Decision.candidate_id == candidate_id)).first()
    if decision is None:
        decision = Decision(candidate_id=candidate_id, created_at=ctx.services.clock.now())
    decision.proposed = "reject" if comp.passed is False else None
    session.add(decision)
    session.flush()
    intents = summary_intents(session, ctx, job, candidate, score, decision)
    ctx.emit(session, intents, source=f"job:finalize:{candidate_id}")
    if intents:  # the report goes to the HR groups: audited like a read
        _audit_sent(session, ctx, "report_sent", f"candidate:{candidate_id}", len(intents))
    if comp.passed is False and job.auto_reject and decision.status == "pending":
        auto_reject(session, ctx, candidate, decision)
    maybe_rank(session, ctx, job, candidate.batch)


def summary_intents(
    session: Session,
    ctx: JobContext,
    job: Job,
    candidate: Candidate,
    score: CandidateScore,
    decision: Decision,
) -> list[Intent]:
    intents: list[Intent] = []
    for platform, chat, lang in hr_group_chats(session, job.id or 0):
        buttons = decision_buttons(lang, candidate.id or 0) if decision.status == "pending" else []
        text = summary_text(lang, job, candidate, score)
        intents.append(
            Send(
                platform=platform,
                chat_id=chat,
                text=text,
                buttons=buttons,
                ref=f"decide:{candidate.id}",
                post=group_tag(
                    job.id or 0, "hiring.summary", candidate_id=candidate.id, score=score.total
                ),
            )
        )
        if score.report_path:
            intents.append(
                SendFile(
                    platform=platform,
                    chat_id=chat,
                    path=score.report_path,
                    filename=f"candidate-{candidate.id}.pdf",
                    caption=t(lang, "results.report_caption", id=candidate.id),
                    mime_type="application/pdf",
                    encrypted=True,
                )
            )
    return intents


def summary_text(lang: str, job: Job, candidate: Candidate, score: CandidateScore) -> str:
    lines = [
        t(
            lang,
            "results.competency_line",
            name=competency_label(str(c["name"]), lang),
            score=_fmt(score.per_competency.get(str(c["name"]))),
        )
        for c in job.competencies
    ]
    proposal = (
        t(lang, "results.proposal_reject")
        if score.passed is False
        else t(lang, "results.proposal_none")
    )
    return t(
        lang,
        "results.summary",
        id=candidate.id,
        name=candidate.name,
        job=job.title_zh if lang == "zh" else job.title_en,
        total=_fmt(score.total) if score.total is not None else t(lang, "results.no_total"),
        provisional=t(lang, "results.provisional") if score.provisional else "",
        pass_line=f"{job.pass_line:g}",
        competencies="\n".join(lines),
        proposal=proposal,
    )


def maybe_rank(session: Session, ctx: JobContext, job: Job, batch: str) -> None:
    """When every candidate of the batch is done, post the batch ranking."""
    candidates = session.exec(
        select(Candidate).where(Candidate.job_id == job.id, Candidate.batch == batch)
    ).all()
    scored = set(
        session.exec(
            select(CandidateScore.candidate_id).where(CandidateScore.job_id == job.id)
        ).all()
    )
    for c in candidates:
        finished = c.status in CANDIDATE_DONE or c.status == "completed"
        if not finished or (c.status == "completed" and c.id not in scored):
            return
    if scored:
        ctx.enqueue(
            session,
            "rank",
            {"job_id": job.id, "batch": batch},
            key=f"rank:{job.id}:{batch}:{len(scored)}",
        )


def rank(job: BackgroundJob, ctx: JobContext) -> None:
    """The batch ranking to the HR groups: read, draw the charts with no transaction
    open (a chart takes about a second; the SQLite writer lock must not wait for it),
    then send and mark the job done in one short transaction (exactly once)."""
    with ctx.db.session() as session:
        row = session.get(Job, int(job.payload["job_id"]))
        if row is None:
            return
        job_id = row.id or 0
        targets = hr_group_chats(session, job_id)
        batch = str(job.payload.get("batch", "default"))
        views = [
            ranking_view(session, lang, row, batch) for lang in sorted({c.lang for c in targets})
        ]
    charts = {view.lang: ranking_chart(view, ctx.db.media.put) for view in views}
    intents: list[Intent] = []
    for view in views:
        chosen = [c for c in targets if c.lang == view.lang]
        intents.extend(ranking_view_intents(view, chosen, charts[view.lang]))
    with ctx.db.transaction() as session:
        sent = ctx.claim_result(session, job)
        if sent:
            ctx.emit(session, intents, source=f"job:rank:{job.id}")
            if intents:
                _audit_sent(session, ctx, "ranking_sent", f"job:{job_id}", len(intents))
    if not sent:
        for path in charts.values():
            if path:
                ctx.db.media.delete(path)


RANKING_CHART_JOB = "ranking_chart"


def ranking_command(ctx: Ctx, job: Job, batch: str = "default") -> None:
    """``/ranking``: the table now, the chart from the ``ranking_chart`` job."""
    view = ranking_view(ctx.session, ctx.lang, job, batch)
    here = HRChat(ctx.event.platform, ctx.event.chat_id, ctx.lang)
    ctx.intents.extend(ranking_view_intents(view, [here], None))
    if not view.entries:
        return
    who = hashlib.sha256(f"{ctx.event.platform}:{ctx.event.chat_id}".encode()).hexdigest()[:20]
    ctx.enqueue(
        RANKING_CHART_JOB,
        {
            "job_id": job.id,
            "batch": batch,
            "lang": ctx.lang,
            "platform": ctx.event.platform,
            "chat_id": ctx.event.chat_id,
        },
        key=f"{RANKING_CHART_JOB}:{job.id}:{who}:{ctx.lang}:{ctx.now:%Y%m%d%H%M}",
    )


ChartDrawer = Callable[["RankingView", Any], str | None]


def ranking_chart_job(draw: ChartDrawer | None = None) -> JobHandler:
    """The ``ranking_chart`` job handler: the chart for the chat that sent ``/ranking``
    (``draw`` draws and stores it; tests pass a fake)."""
    drawer = draw or ranking_chart

    def handle(job: BackgroundJob, ctx: JobContext, /) -> None:
        payload = job.payload
        lang = str(payload["lang"])
        with ctx.db.session() as session:
            row = session.get(Job, int(payload["job_id"]))
            if row is None:
                return
            view = ranking_view(session, lang, row, str(payload.get("batch", "default")))
        path = drawer(view, ctx.db.media.put)
        if path is None:
            return
        here = HRChat(str(payload["platform"]), str(payload["chat_id"]), lang)
        intents = [i for i in ranking_view_intents(view, [here], path) if isinstance(i, SendFile)]
        with ctx.db.transaction() as session:
            sent = ctx.claim_result(session, job)
            if sent:
                ctx.emit(session, intents, source=f"job:{RANKING_CHART_JOB}:{job.id}")
        if not sent:
            ctx.db.media.delete(path)

    return handle


def _audit_sent(session: Session, ctx: JobContext, action: str, subject: str, n: int) -> None:
    session.add(
        AuditEvent(
            at=ctx.services.clock.now(),
            actor="system",
            action=action,
            subject=subject,
            details={"messages": n},
        )
    )


def ranking_intents(
    session: Session, job: Job, batch: str, store: Any, chats: list[HRChat] | None = None
) -> list[Intent]:
    """The ranking table and chart for a batch, to the HR groups (or the given chats).

    Draws the charts in the caller's session: background jobs use :func:`rank`, which
    draws them with no transaction open.
    """
    targets = chats if chats is not None else hr_group_chats(session, job.id or 0)
    intents: list[Intent] = []
    for lang in sorted({chat.lang for chat in targets}):
        view = ranking_view(session, lang, job, batch)
        path = ranking_chart(view, store)
        intents.extend(ranking_view_intents(view, [c for c in targets if c.lang == lang], path))
    return intents


@dataclass
class RankingView:
    """A batch ranking in one language, read from the database (no chart yet)."""

    lang: str
    code: str
    title: str
    pass_line: float
    batch: str
    entries: list[Any]  # scoring.composite.RankEntry, best first
    names: dict[str, str]
    average: float = 0.0


def ranking_view(session: Session, lang: str, job: Job, batch: str) -> RankingView:
    rows = session.exec(
        select(CandidateScore, Candidate)
        .join(Candidate, col(Candidate.id) == col(CandidateScore.candidate_id))
        .where(CandidateScore.job_id == job.id)
    ).all()
    in_batch = {str(c.id): (s, c) for s, c in rows if c.batch == batch and c.status != "deleted"}
    others = [s.total for s, c in rows if c.batch != batch and s.total is not None]
    title = job.title_zh if lang == "zh" else job.title_en
    entries = rank_batch(
        {cid: s.total for cid, (s, _c) in in_batch.items()},
        job_totals=others,
        pass_line=job.pass_line,
    )
    view = RankingView(lang, job.code, title, job.pass_line, batch, list(entries), {})
    if entries:
        view.names = {cid: c.name for cid, (_s, c) in in_batch.items()}
        population = others + [e.total for e in entries]
        view.average = sum(population) / len(population)
    return view


def ranking_chart(view: RankingView, store: Any) -> str | None:
    """Draw the view's chart (the slow part) and store it; None when nothing is ranked."""
    if not view.entries:
        return None
    png = ranking_chart_png(
        view.entries,
        view.names,
        pass_line=view.pass_line,
        job_average=view.average,
        lang=view.lang,  # type: ignore[arg-type]
    )
    path, _ = store(png, ".png")
    return str(path)


def ranking_view_intents(
    view: RankingView, targets: list[HRChat], chart_path: str | None
) -> list[Intent]:
    """The ranking text to each chat, and the chart when ``chart_path`` is given."""
    lang = view.lang
    if not view.entries:
        return [
            Send(platform=p, chat_id=c, text=t(lang, "results.nothing_to_rank", job=view.title))
            for p, c, _ in targets
        ]
    lines = [
        t(
            lang,
            "results.ranking_header",
            job=view.title,
            batch=view.batch,
            count=len(view.entries),
            average=f"{view.average:.1f}",
        )
    ]
    for e in view.entries:
        lines.append(
            t(
                lang,
                "results.ranking_line",
                rank=e.rank,
                id=e.candidate_id,
                name=view.names[e.candidate_id],
                total=f"{e.total:.1f}",
                tie=t(lang, "results.ranking_tie") if e.tied else "",
                passed=t(lang, "results.ranking_pass")
                if e.passed
                else t(lang, "results.ranking_fail"),
            )
        )
    intents: list[Intent] = []
    for platform, chat, _lang in targets:
        intents.append(Send(platform=platform, chat_id=chat, text="\n".join(lines)))
        if chart_path is not None:
            intents.append(
                SendFile(
                    platform=platform,
                    chat_id=chat,
                    path=chart_path,
                    filename=f"ranking-{view.code}.png",
                    caption=t(lang, "results.ranking_caption", job=view.title),
                    mime_type="image/png",
                    encrypted=True,
                )
            )
    return intents


def local_time(when: dt.datetime, tz: str) -> str:
    return when.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f}"


# ------------------------------------------------------------------ background
def rerender_report(job_row: BackgroundJob, ctx: JobContext) -> None:
    """Render the candidate's PDF again with the people's scores beside the AI's."""

    candidate_id = int(job_row.payload["candidate_id"])
    lang = ctx.services.settings.app.default_language
    with ctx.db.session() as session:
        candidate = session.get(Candidate, candidate_id)
        score = session.exec(
            select(CandidateScore).where(CandidateScore.candidate_id == candidate_id)
        ).first()
        if candidate is None or score is None:
            return
        job = session.get(Job, candidate.job_id)
        assert job is not None
        report, _comp = candidate_report_data(
            session, job, candidate, lang, ctx.services.clock.now()
        )
    # Rendered in memory and stored encrypted: no plaintext copy on disk.
    path, _ = ctx.db.media.put(candidate_report_pdf(report), ".pdf")
    with ctx.db.transaction() as session:
        score = session.exec(
            select(CandidateScore).where(CandidateScore.candidate_id == candidate_id)
        ).first()
        if score is not None:
            score.report_path = path
            session.add(score)
