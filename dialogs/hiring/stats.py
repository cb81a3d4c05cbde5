"""HR dashboards: ``/stats [job]`` (funnel, rates, averages, chart) and ``/itemstats [job]``
(which questions separate strong from weak candidates).

Funnel stages, each counting candidates who reached it or a later one:
invited (the job's candidates) -> scheduled (booked a slot, or started without one) ->
completed (submitted the interview) -> passed (AI total at or above the pass line) ->
signed (a signed contract; only when the contracts tables exist). HR approvals are
shown beside the funnel. Completion rate = completed / invited; no-show rate = no-shows /
candidates who booked a slot.

One module (just over 500 lines): both dashboards read the same funnel queries and
draw with the same chart helper; a third dashboard is the point to split it.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from dialogs.hiring.agreement import MIN_PAIRS, ItemStat, item_total
from dialogs.hiring.human_scores import agreement_text, job_from_args
from dialogs.kernel.access import Access, job_arg
from dialogs.kernel.catalog import t
from dialogs.kernel.context import Ctx
from dialogs.kernel.events import CommandReceived
from dialogs.kernel.feature import Command, Feature
from dialogs.kernel.intents import SendFile
from dialogs.kernel.notify import competency_label
from dialogs.kernel.roles import permitted_job_ids
from dialogs.kernel.worker import JobContext, JobHandler
from storage.models import (
    Answer,
    BackgroundJob,
    Candidate,
    CandidateScore,
    Decision,
    Evaluation,
    FunnelEvent,
    InterviewSession,
    Job,
    JobQuestion,
    Question,
)

log = logging.getLogger(__name__)

FUNNEL = ("invited", "scheduled", "completed", "passed", "signed")
# Below this many answers a question's correlation says little.
MIN_ANSWERS = 5
# A corrected item-total correlation below this: the question hardly separates candidates.
WEAK_R = 0.2
REPLACEMENTS = 2


@dataclass
class JobStats:
    job: Job
    funnel: dict[str, int | None]  # stage -> candidates (signed: None when not tracked)
    approved: int
    booked: int
    no_show: int
    scored: int
    average: float | None
    per_competency: dict[str, float] = field(default_factory=dict)

    @property
    def completion_rate(self) -> float | None:
        invited = self.funnel["invited"] or 0
        return (self.funnel["completed"] or 0) / invited if invited else None

    @property
    def no_show_rate(self) -> float | None:
        return self.no_show / self.booked if self.booked else None


def signed_candidates(session: Session, candidate_ids: set[int]) -> set[int] | None:
    """Candidates with a signed contract, or None if this install has no contracts tables."""
    try:
        from storage.contract_models import Contract
    except ImportError:
        return None
    if not candidate_ids:
        return set()
    rows = session.exec(
        select(Contract.candidate_id).where(
            Contract.status == "signed", col(Contract.candidate_id).in_(list(candidate_ids))
        )
    ).all()
    return set(rows)


def job_stats(session: Session, job: Job) -> JobStats:
    """Funnel, rates and average AI scores of one job."""
    candidates = {
        cid
        for cid in session.exec(
            select(Candidate.id).where(Candidate.job_id == job.id, Candidate.status != "deleted")
        ).all()
        if cid is not None
    }
    reached: dict[str, set[int]] = defaultdict(set)
    for candidate_id, stage in session.exec(
        select(FunnelEvent.candidate_id, FunnelEvent.stage).where(FunnelEvent.job_id == job.id)
    ).all():
        if candidate_id in candidates:
            reached[stage].add(candidate_id)
    scores = [
        s
        for s in session.exec(select(CandidateScore).where(CandidateScore.job_id == job.id)).all()
        if s.candidate_id in candidates
    ]
    passed = {s.candidate_id for s in scores if s.passed}
    approved = set(
        session.exec(
            select(Decision.candidate_id).where(
                Decision.outcome == "approve",
                col(Decision.candidate_id).in_(list(candidates) or [0]),
            )
        ).all()
    )
    signed = signed_candidates(session, candidates)
    completed = reached["completed"]
    funnel: dict[str, int | None] = {
        "invited": len(candidates),
        "scheduled": len(reached["scheduled"] | reached["started"] | completed),
        "completed": len(completed),
        "passed": len(passed),
        "signed": None if signed is None else len(signed),
    }
    totals = [float(s.total) for s in scores if s.total is not None]
    per: dict[str, list[float]] = defaultdict(list)
    for s in scores:
        for name, value in (s.per_competency or {}).items():
            if value is not None:
                per[name].append(float(value))
    order = [str(c["name"]) for c in job.competencies]
    return JobStats(
        job=job,
        funnel=funnel,
        approved=len(approved),
        booked=len(reached["scheduled"]),
        no_show=len(reached["no_show"]),
        scored=len(totals),
        average=sum(totals) / len(totals) if totals else None,
        per_competency={
            name: sum(per[name]) / len(per[name])
            for name in order + sorted(set(per) - set(order))
            if per.get(name)
        },
    )


def stats_text(ctx: Ctx, stats: JobStats) -> str:
    job = stats.job
    na = ctx.text("stats.na")
    signed = stats.funnel["signed"]
    lines = [
        ctx.text(
            "stats.header",
            code=job.code,
            title=job.title_zh if ctx.lang == "zh" else job.title_en,
        ),
        ctx.text(
            "stats.funnel",
            invited=stats.funnel["invited"],
            scheduled=stats.funnel["scheduled"],
            completed=stats.funnel["completed"],
            passed=stats.funnel["passed"],
            signed=na if signed is None else signed,
            approved=stats.approved,
        ),
    ]
    if signed is None:
        lines.append(ctx.text("stats.signed_untracked"))
    lines.append(
        ctx.text(
            "stats.rates",
            completion=_pct(stats.completion_rate, na),
            no_show=_pct(stats.no_show_rate, na),
            no_shows=stats.no_show,
            booked=stats.booked,
        )
    )
    if stats.average is None:
        lines.append(ctx.text("stats.average_none"))
    else:
        lines.append(ctx.text("stats.average", average=f"{stats.average:.1f}", n=stats.scored))
        for name, value in stats.per_competency.items():
            lines.append(
                ctx.text(
                    "stats.competency_line",
                    competency=competency_label(name, ctx.lang),
                    average=f"{value:.1f}",
                )
            )
    return "\n".join(lines)


def _pct(value: float | None, na: str) -> str:
    return na if value is None else f"{value:.0%}"


def stats_chart_png(lang: str, all_stats: list[JobStats]) -> bytes:
    """Funnel bars (one series per job) and average AI scores (per competency for one
    job, per job for several)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    from scoring.report import find_cjk_font

    fp = font_manager.FontProperties(fname=str(find_cjk_font().path))
    stages = [s for s in FUNNEL if any(st.funnel[s] is not None for st in all_stats)]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    try:
        width = 0.8 / len(all_stats)
        for i, st in enumerate(all_stats):
            xs = [k + i * width - 0.4 + width / 2 for k in range(len(stages))]
            left.bar(xs, [st.funnel[s] or 0 for s in stages], width=width, label=st.job.code)
        left.set_xticks(range(len(stages)))
        left.set_xticklabels([t(lang, f"stats.stage_{s}") for s in stages], fontproperties=fp)
        left.set_title(t(lang, "stats.chart_funnel"), fontproperties=fp)
        if len(all_stats) > 1:
            left.legend(prop=fp)
        if len(all_stats) == 1:
            st = all_stats[0]
            names = [competency_label(n, lang) for n in st.per_competency]
            values = list(st.per_competency.values())
            right.set_title(t(lang, "stats.chart_competencies"), fontproperties=fp)
        else:
            names = [st.job.code for st in all_stats]
            values = [st.average or 0.0 for st in all_stats]
            right.set_title(t(lang, "stats.chart_jobs"), fontproperties=fp)
        right.barh(range(len(names)), values, color="#4C72B0")
        right.set_yticks(range(len(names)))
        right.set_yticklabels(names, fontproperties=fp)
        right.invert_yaxis()
        right.set_xlim(0, 100)
        for k, value in enumerate(values):
            right.text(value + 1, k, f"{value:.1f}", va="center", fontproperties=fp)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)


def _visible_jobs(ctx: Ctx, args: str) -> list[Job] | None:
    """The named job, else the group's job, else every job this user may see."""
    if ctx.target.named:
        job = job_from_args(ctx, usage="stats.usage")
        return None if job is None else [job]
    event = ctx.event
    visible = permitted_job_ids(ctx.session, ctx.settings, event.platform, event.user_id, "view")
    query = select(Job).order_by(col(Job.id))
    if visible is not None:
        query = query.where(col(Job.id).in_(sorted(visible)))
    jobs = list(ctx.session.exec(query).all())
    if not jobs:
        ctx.reply("stats.no_jobs")
        return None
    return jobs


def stats_command(ctx: Ctx, event: CommandReceived) -> None:
    """The numbers at once (a few queries); the chart follows from the ``stats_chart``
    job, since drawing it takes about a second and the event's transaction holds the
    one SQLite writer lock meanwhile."""
    jobs = _visible_jobs(ctx, event.args)
    if jobs is None:
        return
    all_stats = [job_stats(ctx.session, job) for job in jobs]
    parts = []
    for st in all_stats:
        parts.append(stats_text(ctx, st))
        parts.append(agreement_text(ctx, st.job))
    ctx.audit("stats_read", ",".join(f"job:{j.id}" for j in jobs))
    ctx.say("\n\n".join(parts))
    charted = all_stats[:CHART_JOBS]
    # One chart per chat, language, jobs and minute: a repeated /stats does not draw twice.
    who = f"{ctx.event.platform}:{ctx.event.chat_id}:{ctx.lang}:{[j.id for j in jobs]}"
    digest = hashlib.sha256(who.encode()).hexdigest()[:24]
    ctx.enqueue(
        CHART_JOB,
        {
            "platform": ctx.event.platform,
            "chat_id": ctx.event.chat_id,
            "lang": ctx.lang,
            "stats": [_stats_payload(st) for st in charted],
            "filename": f"stats-{jobs[0].code if len(jobs) == 1 else 'jobs'}.png",
            "caption": ctx.text(
                "stats.chart_caption", jobs=", ".join(j.code for j in jobs[:CHART_JOBS])
            ),
        },
        key=f"{CHART_JOB}:{digest}:{ctx.now:%Y%m%d%H%M}",
    )


CHART_JOB = "stats_chart"
CHART_JOBS = 8  # jobs drawn in one chart


def _stats_payload(st: JobStats) -> dict[str, Any]:
    """What the chart needs: counts and averages only (no personal data in the queue)."""
    return {
        "code": st.job.code,
        "funnel": dict(st.funnel),
        "approved": st.approved,
        "booked": st.booked,
        "no_show": st.no_show,
        "scored": st.scored,
        "average": st.average,
        "per_competency": dict(st.per_competency),
    }


def _stats_from_payload(data: dict[str, Any]) -> JobStats:
    return JobStats(
        job=Job(code=str(data["code"]), title_zh="", title_en=""),
        funnel={k: (None if v is None else int(v)) for k, v in data["funnel"].items()},
        approved=int(data["approved"]),
        booked=int(data["booked"]),
        no_show=int(data["no_show"]),
        scored=int(data["scored"]),
        average=None if data["average"] is None else float(data["average"]),
        per_competency={k: float(v) for k, v in data["per_competency"].items()},
    )


ChartRenderer = Callable[[str, list[JobStats]], bytes]


def chart_job(render: ChartRenderer | None = None) -> JobHandler:
    """The ``stats_chart`` job handler (``render`` draws the PNG; tests pass a fake)."""
    draw = render or stats_chart_png

    def handle(job: BackgroundJob, ctx: JobContext, /) -> None:
        payload = job.payload
        try:
            png = draw(str(payload["lang"]), [_stats_from_payload(d) for d in payload["stats"]])
        except Exception:  # the numbers (already sent) matter more than the picture
            log.exception("statistics chart failed")
            return
        path, _ = ctx.db.media.put(png, ".png")
        intent = SendFile(
            platform=str(payload["platform"]),
            chat_id=str(payload["chat_id"]),
            path=path,
            filename=str(payload["filename"]),
            caption=str(payload["caption"]),
            mime_type="image/png",
            encrypted=True,
        )
        with ctx.db.transaction() as session:
            sent = ctx.claim_result(session, job)
            if sent:
                ctx.emit(session, [intent], source=f"job:{CHART_JOB}:{job.id}")
        if not sent:  # an earlier run of this job sent it already
            ctx.db.media.delete(path)

    return handle


# ------------------------------------------------------------------ item analysis
@dataclass
class ItemReport:
    position: int
    question: Question
    stat: ItemStat
    flag: str | None  # None | few | flat | weak
    replacements: list[Question]


def item_scores(
    session: Session, job: Job
) -> tuple[list[tuple[int, Question]], dict[int, dict[str, float]]]:
    """The job's questions in order, and candidate -> question key -> AI answer total."""
    questions = list(
        session.exec(
            select(JobQuestion.position, Question)
            .join(Question, col(Question.id) == col(JobQuestion.question_id))
            .where(JobQuestion.job_id == job.id)
            .order_by(col(JobQuestion.position))
        ).all()
    )
    key_of = {q.id: q.key for _pos, q in questions}
    rows = session.exec(
        select(Answer, InterviewSession.candidate_id)
        .join(InterviewSession, col(InterviewSession.id) == col(Answer.session_id))
        .join(Candidate, col(Candidate.id) == col(InterviewSession.candidate_id))
        .where(
            InterviewSession.job_id == job.id,
            Candidate.status != "deleted",
            col(Answer.practice).is_(False),
            Answer.status == "scored",
            col(Answer.question_id).in_(list(key_of) or [0]),
        )
        .order_by(col(Answer.id))
    ).all()
    answer_ids = [a.id for a, _cid in rows]
    totals: dict[int, float] = {}
    for ev in session.exec(
        select(Evaluation)
        .where(col(Evaluation.answer_id).in_(answer_ids or [0]), Evaluation.dimension == "total")
        .order_by(col(Evaluation.id))
    ).all():
        if ev.score >= 0:
            totals[ev.answer_id] = float(ev.score)  # the latest evaluation wins
    scores: dict[int, dict[str, float]] = defaultdict(dict)
    for answer, candidate_id in rows:
        if answer.id in totals and answer.question_id in key_of:
            scores[candidate_id][key_of[answer.question_id]] = totals[answer.id]  # latest answer
    return [(pos, q) for pos, q in questions], dict(scores)


def item_reports(session: Session, job: Job) -> list[ItemReport]:
    questions, scores = item_scores(session, job)
    stats = item_total({str(k): v for k, v in scores.items()}, [q.key for _p, q in questions])
    used = {q.id for _p, q in questions}
    out: list[ItemReport] = []
    for (position, question), stat in zip(questions, stats, strict=True):
        flag: str | None = None
        if stat.n < max(MIN_ANSWERS, MIN_PAIRS):
            flag = "few"
        elif stat.r is None:
            flag = "flat"
        elif stat.r < WEAK_R:
            flag = "weak"
        replacements: list[Question] = []
        if flag in ("flat", "weak"):
            replacements = list(
                session.exec(
                    select(Question)
                    .where(
                        Question.competency == question.competency,
                        col(Question.active).is_(True),
                        col(Question.id).not_in(list(used)),
                    )
                    .order_by(col(Question.key))
                    .limit(REPLACEMENTS)
                ).all()
            )
        out.append(ItemReport(position, question, stat, flag, replacements))
    return out


def itemstats_text(ctx: Ctx, job: Job, reports: list[ItemReport]) -> str:
    na = ctx.text("stats.na")
    lines = [ctx.text("stats.item_header", code=job.code, min=MIN_ANSWERS, weak=WEAK_R)]
    if not reports:
        lines.append(ctx.text("stats.item_none"))
    for index, rep in enumerate(reports, 1):
        flag = {
            None: ctx.text("stats.item_ok"),
            "few": ctx.text("stats.item_few", min=MIN_ANSWERS),
            "flat": ctx.text("stats.item_flat"),
            "weak": ctx.text("stats.item_weak"),
        }[rep.flag]
        lines.append(
            ctx.text(
                "stats.item_line",
                n=index,
                key=rep.question.key,
                competency=competency_label(rep.question.competency, ctx.lang),
                count=rep.stat.n,
                mean=na if rep.stat.mean is None else f"{rep.stat.mean:.1f}",
                r=na if rep.stat.r is None else f"{rep.stat.r:.2f}",
                flag=flag,
            )
        )
        if rep.flag in ("flat", "weak"):
            if rep.replacements:
                lines.append(
                    ctx.text(
                        "stats.item_replace",
                        keys="; ".join(
                            f"{q.key} — {(q.text_zh if ctx.lang == 'zh' else q.text_en)[:60]}"
                            for q in rep.replacements
                        ),
                    )
                )
            else:
                lines.append(ctx.text("stats.item_no_replace"))
    return "\n".join(lines)


def itemstats_command(ctx: Ctx, event: CommandReceived) -> None:
    job = job_from_args(ctx, usage="stats.usage_items")
    if job is None:
        return
    ctx.audit("itemstats_read", f"job:{job.id}")
    ctx.say(itemstats_text(ctx, job, item_reports(ctx.session, job)))


# /stats with no job in an unbound chat lists every job the user may see ("any"); a named
# or bound job is checked as that job.
FEATURE = Feature(
    "stats",
    commands={
        "stats": Command(Access("view", "job", job_arg(0, bound=True)), stats_command),
        "itemstats": Command(Access("view", "job", job_arg(0, bound=True)), itemstats_command),
    },
    jobs={CHART_JOB: chart_job()},
)
