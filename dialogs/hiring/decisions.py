"""HR decisions: approve, next round, reject — first valid press wins, a person decides.

Decision buttons carry ``dec:<candidate id>:<a|n|r|d>``. Only HR managers (and
admins) may decide; viewers and anyone else get an alert and nothing changes.
The decision is one conditional UPDATE (``WHERE status = 'pending'``), so two HR
users pressing at once cannot both win.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import Session, col, select

from dialogs.hiring import results
from dialogs.hiring.human_scores import REPORT_JOB
from dialogs.hiring.results import answer_rows, local_time, ranking_command, summary_text
from dialogs.kernel.access import Access, candidate_arg, candidate_in_button, job_arg
from dialogs.kernel.catalog import t
from dialogs.kernel.context import Ctx, Target
from dialogs.kernel.events import ButtonPressed, CommandReceived
from dialogs.kernel.feature import ButtonEntry, Command, Feature
from dialogs.kernel.intents import Intent, Send
from dialogs.kernel.notify import competency_label, hr_group_chats
from dialogs.kernel.worker import JobContext
from storage.models import (
    AuditEvent,
    BackgroundJob,
    Candidate,
    CandidateScore,
    Decision,
    InterviewSession,
    Job,
)

OUTCOMES = {"a": "approve", "n": "next_round", "r": "reject"}
ALIASES = {
    "approve": "approve",
    "a": "approve",
    "next": "next_round",
    "next_round": "next_round",
    "n": "next_round",
    "reject": "reject",
    "r": "reject",
}


def _button_target(ctx: Ctx, data: str) -> Target:
    """``dec:<id>:<a|n|r|d>``: the candidate, and the action the press needs."""
    target = candidate_in_button(ctx, data)
    parts = data.split(":")
    target.action = "view" if len(parts) == 3 and parts[2] == "d" else "decide"
    return target


def on_button(ctx: Ctx) -> None:
    event = ctx.event
    assert isinstance(event, ButtonPressed)
    parts = event.data.split(":")
    candidate = ctx.target.candidate
    if candidate is None:
        ctx.answer_button(ctx.text("decision.unknown_candidate", id=ctx.target.raw), alert=True)
        return
    if len(parts) == 3 and parts[2] == "d":
        ctx.answer_button()
        _details(ctx, candidate)
        return
    outcome = OUTCOMES.get(parts[2]) if len(parts) == 3 else None
    if outcome is None:
        ctx.answer_button(ctx.text("decision.usage"), alert=True)
        return
    decide(ctx, candidate, outcome)


def decide(ctx: Ctx, candidate: Candidate, outcome: str) -> bool:
    """Apply a person's decision atomically; False if someone else decided first."""
    now = ctx.now
    decision = ctx.session.exec(
        select(Decision).where(Decision.candidate_id == candidate.id)
    ).first()
    if decision is None:
        decision = Decision(candidate_id=candidate.id or 0, created_at=now)
        ctx.session.add(decision)
        ctx.session.flush()
    result = ctx.session.execute(
        update(Decision)
        .where(col(Decision.candidate_id) == candidate.id, col(Decision.status) == "pending")
        .values(
            status="decided",
            outcome=outcome,
            decided_by=ctx.actor,
            decided_in_chat=f"{ctx.event.platform}:{ctx.event.chat_id}",
            decided_at=now,
        )
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        ctx.session.refresh(decision)
        ctx.answer_button(
            ctx.text(
                "decision.already",
                outcome=ctx.text(f"decision.{decision.outcome}"),
                who=decision.decided_by or "?",
            ),
            alert=True,
        )
        return False
    ctx.answer_button()
    ctx.audit(
        "decision",
        f"candidate:{candidate.id}",
        outcome=outcome,
        chat=f"{ctx.event.platform}:{ctx.event.chat_id}",
        proposed=decision.proposed,
    )
    _apply(ctx.session, candidate, outcome, ctx=ctx)
    return True


def _apply(
    session: Session,
    candidate: Candidate,
    outcome: str,
    *,
    ctx: Ctx | None = None,
    job_ctx: JobContext | None = None,
    who: str | None = None,
) -> None:
    """Candidate status, the HR posts edited, the candidate told."""
    services = ctx.services if ctx is not None else job_ctx.services  # type: ignore[union-attr]
    now = services.clock.now()
    settings = services.settings
    candidate.status = {"approve": "approved", "next_round": "next_round", "reject": "rejected"}[
        outcome
    ]
    session.add(candidate)
    job = session.get(Job, candidate.job_id)
    score = session.exec(
        select(CandidateScore).where(CandidateScore.candidate_id == candidate.id)
    ).first()
    assert job is not None
    actor = who or (ctx.actor if ctx else "system")
    intents: list[Intent] = []
    for platform, chat, lang_hr in hr_group_chats(session, job.id or 0):
        stamp = t(
            lang_hr,
            "decision.decided",
            outcome=t(lang_hr, f"decision.{outcome}"),
            who=actor,
            when=local_time(now, settings.app.timezone),
        )
        base = summary_text(lang_hr, job, candidate, score) if score is not None else ""
        from dialogs.kernel.intents import Edit

        intents.append(
            Edit(
                platform=platform,
                chat_id=chat,
                ref=f"decide:{candidate.id}",
                text=(base + "\n\n" + stamp).strip(),
            )
        )
    intents.extend(_tell_candidate(session, candidate, job, outcome, automatic=ctx is None))
    if ctx is not None:
        ctx.intents.extend(intents)
        if outcome == "approve":
            ctx.services.features.approved(ctx, candidate)
    else:
        assert job_ctx is not None
        job_ctx.emit(session, intents, source=f"decision:{candidate.id}")


def finalize(job_row: BackgroundJob, ctx: JobContext) -> None:
    """The ``finalize`` job: the candidate's scores and report, then the automatic
    rejection where the job is set to reject below its pass line."""
    results.finalize(job_row, ctx, auto_reject=auto_reject)


def auto_reject(
    session: Session, ctx: JobContext, candidate: Candidate, decision: Decision
) -> None:
    """Per-job explicit setting: reject below the pass line without a person (PIPL Art. 24: the candidate may ask for review)."""
    result = session.execute(
        update(Decision)
        .where(col(Decision.id) == decision.id, col(Decision.status) == "pending")
        .values(
            status="decided",
            outcome="reject",
            decided_by="system",
            automatic=True,
            decided_at=ctx.services.clock.now(),
        )
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return
    session.add(
        AuditEvent(
            at=ctx.services.clock.now(),
            actor="system",
            action="decision",
            subject=f"candidate:{candidate.id}",
            details={"outcome": "reject", "automatic": True},
        )
    )
    _apply(session, candidate, "reject", job_ctx=ctx, who="system")


def _tell_candidate(
    session: Session, candidate: Candidate, job: Job, outcome: str, *, automatic: bool
) -> list[Intent]:
    s = session.exec(
        select(InterviewSession).where(InterviewSession.candidate_id == candidate.id)
    ).first()
    if s is None:
        return []
    lang = s.language
    title = job.title_zh if lang == "zh" else job.title_en
    if outcome == "approve":
        text = t(lang, "decision.candidate_approved", name=candidate.name, job=title)
    elif outcome == "next_round":
        text = t(lang, "decision.candidate_next_round", name=candidate.name, job=title)
    else:
        text = rejection_feedback(session, lang, candidate, job)
        if automatic:
            text += "\n\n" + t(lang, "decision.candidate_rejected_auto")
    return [Send(platform=s.platform, chat_id=s.chat_id, text=text)]


def rejection_feedback(session: Session, lang: str, candidate: Candidate, job: Job) -> str:
    """A kind message with scores per competency and the evaluator's concrete suggestions."""
    score = session.exec(
        select(CandidateScore).where(CandidateScore.candidate_id == candidate.id)
    ).first()
    lines = []
    for c in job.competencies:
        value = (score.per_competency if score else {}).get(str(c["name"]))
        if value is not None:
            lines.append(
                t(
                    lang,
                    "decision.score_line",
                    name=competency_label(str(c["name"]), lang),
                    score=round(float(value)),
                )
            )
    suggestions: list[str] = []
    for _answer, ev in answer_rows(session, candidate.id or 0):
        for suggestion in ev.suggestions if ev is not None else []:
            if suggestion not in suggestions:
                suggestions.append(suggestion)
    text_suggestions = "\n".join(f"· {s}" for s in suggestions[:4]) or t(
        lang, "decision.no_suggestions"
    )
    return t(
        lang,
        "decision.candidate_rejected",
        name=candidate.name,
        job=job.title_zh if lang == "zh" else job.title_en,
        scores="\n".join(lines) or "-",
        suggestions=text_suggestions,
    )


def _details(ctx: Ctx, candidate: Candidate) -> None:
    score = ctx.session.exec(
        select(CandidateScore).where(CandidateScore.candidate_id == candidate.id)
    ).first()
    ctx.audit("report_read", f"candidate:{candidate.id}", chat=ctx.event.chat_id)
    if score is None or not score.report_path:
        ctx.reply("results.no_total")
        return
    ctx.send_file(
        score.report_path,
        f"candidate-{candidate.id}.pdf",
        caption=ctx.text("results.report_caption", id=candidate.id),
        mime_type="application/pdf",
    )


# ------------------------------------------------------------------ commands
def _decide_command(ctx: Ctx, event: CommandReceived) -> None:
    parts = event.args.split()
    if len(parts) != 2 or parts[1].lower() not in ALIASES:
        ctx.reply("decision.usage")
        return
    candidate = ctx.target.candidate
    if candidate is None:
        ctx.reply("decision.unknown_candidate", id=ctx.target.raw)
        return
    outcome = ALIASES[parts[1].lower()]
    if not decide(ctx, candidate, outcome):
        decision = ctx.session.exec(
            select(Decision).where(Decision.candidate_id == candidate.id)
        ).one()
        ctx.reply(
            "decision.already",
            outcome=ctx.text(f"decision.{decision.outcome}"),
            who=decision.decided_by or "?",
        )


def _ranking_command(ctx: Ctx, event: CommandReceived) -> None:
    job = ctx.target.job
    if job is None:
        ctx.reply("staff.job_unknown", code=ctx.target.raw[:40] or "-")
        return
    ctx.audit("ranking_read", f"job:{job.id}")
    ranking_command(ctx, job)  # the table now; the chart comes from a background job


def _report_command(ctx: Ctx, event: CommandReceived) -> None:
    candidate = ctx.target.candidate
    if candidate is None or candidate.status == "deleted":
        ctx.reply("decision.unknown_candidate", id=ctx.target.raw[:20] or "-")
        return
    _details(ctx, candidate)


FEATURE = Feature(
    "decisions",
    commands={
        "decide": Command(Access("decide", "candidate", candidate_arg(0)), _decide_command),
        "ranking": Command(Access("view", "job", job_arg(0, bound=True)), _ranking_command),
        "report": Command(Access("view", "candidate", candidate_arg(0)), _report_command),
    },
    buttons={
        "dec": ButtonEntry(
            Access("decide", "candidate", _button_target, group_admins=True), on_button
        )
    },
    jobs={
        REPORT_JOB: results.rerender_report,
        "finalize": finalize,
        "rank": results.rank,
        results.RANKING_CHART_JOB: results.ranking_chart_job(),
    },
)
