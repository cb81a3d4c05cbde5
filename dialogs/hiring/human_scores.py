"""Human scores: several HR users rate a candidate per competency (1-5), with a comment.

``/score <candidate>`` shows a keyboard of ``hs:<candidate>:<competency index>:<1-5>``
buttons; ``/score <candidate> <competency> <1-5> [comment]`` scores by command. One
row per scorer and competency (a re-score updates it). The candidate's PDF report shows
AI and human scores side by side (re-rendered in the background after each score), and
``/agreement [job]`` tells how well AI and people agree over the job's candidates.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from dialogs.hiring.agreement import Agreement, agreement, human_to_100, icc_level
from dialogs.kernel.access import Access, candidate_arg, candidate_in_button, job_arg, target_job
from dialogs.kernel.context import Ctx
from dialogs.kernel.events import ButtonPressed, CommandReceived
from dialogs.kernel.feature import ButtonEntry, Command, Feature
from dialogs.kernel.intents import Button
from dialogs.kernel.notify import competency_label
from scoring.report import HumanScoreLine
from storage.models import Candidate, CandidateScore, HumanScore, Job

log = logging.getLogger(__name__)

MAX_COMMENT = 500
REPORT_JOB = "human_report"


# ------------------------------------------------------------------ reading
def scores_by_candidate(
    session: Session, candidate_ids: list[int]
) -> dict[int, dict[str, list[HumanScore]]]:
    """candidate -> competency -> the people's scores."""
    out: dict[int, dict[str, list[HumanScore]]] = defaultdict(lambda: defaultdict(list))
    if not candidate_ids:
        return {}
    rows = session.exec(
        select(HumanScore)
        .where(col(HumanScore.candidate_id).in_(candidate_ids))
        .order_by(col(HumanScore.id))
    ).all()
    for row in rows:
        out[row.candidate_id][row.competency].append(row)
    return {cid: dict(per) for cid, per in out.items()}


def _mean(rows: list[HumanScore]) -> float | None:
    return sum(r.score for r in rows) / len(rows) if rows else None


def human_total(job: Job, per_competency: dict[str, list[HumanScore]]) -> float | None:
    """People's scores rolled up like the AI's: job weights over the competencies scored,
    each competency's mean mapped from 1-5 onto 0-100."""
    weighted = 0.0
    weights = 0.0
    for c in job.competencies:
        mean = _mean(per_competency.get(str(c["name"]), []))
        if mean is not None:
            weighted += float(c["weight"]) * human_to_100(mean)
            weights += float(c["weight"])
    return weighted / weights if weights else None


def report_lines(
    session: Session,
    job: Job,
    candidate_id: int,
    ai_per_competency: dict[str, Any],
    lang: str,
) -> list[HumanScoreLine]:
    """The report's side-by-side rows; empty when nobody scored the candidate."""
    per = scores_by_candidate(session, [candidate_id]).get(candidate_id, {})
    if not per:
        return []
    lines = []
    for c in job.competencies:
        name = str(c["name"])
        rows = per.get(name, [])
        ai = ai_per_competency.get(name)
        lines.append(
            HumanScoreLine(
                name=competency_label(name, lang),
                ai=float(ai) if ai is not None else None,
                human=_mean(rows),
                scorers=len(rows),
                comments=[_drawable(r.comment) for r in rows if r.comment.strip()],
            )
        )
    return lines


@cache
def _font_chars() -> frozenset[int] | None:
    try:
        from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

        from scoring.report import find_cjk_font

        font = find_cjk_font()
        with TTFont(str(font.path), fontNumber=font.face, lazy=True) as tt:
            return frozenset(tt.getBestCmap().keys())
    except Exception:  # no font: the report itself will say so
        log.warning("report font not found; comments are not filtered", exc_info=True)
        return None


def _drawable(text: str) -> str:
    """Drop characters (emoji ...) the report font cannot draw: the PDF would refuse them."""
    chars = _font_chars()
    if chars is None:
        return text
    return "".join(ch for ch in text if ch.isspace() or ord(ch) in chars).strip()


# ------------------------------------------------------------------ agreement
@dataclass(frozen=True)
class JobAgreement:
    total: Agreement
    per_competency: dict[str, Agreement]


def job_agreement(session: Session, job: Job) -> JobAgreement:
    """AI vs people over the job's candidates that have both (totals and per competency)."""
    ai_rows = session.exec(
        select(CandidateScore)
        .join(Candidate, col(Candidate.id) == col(CandidateScore.candidate_id))
        .where(CandidateScore.job_id == job.id, Candidate.status != "deleted")
        .order_by(col(CandidateScore.candidate_id))
    ).all()
    human = scores_by_candidate(session, [s.candidate_id for s in ai_rows])
    ai_totals: list[float] = []
    human_totals: list[float] = []
    pairs: dict[str, tuple[list[float], list[float]]] = {
        str(c["name"]): ([], []) for c in job.competencies
    }
    for score in ai_rows:
        per = human.get(score.candidate_id)
        if not per:
            continue
        people = human_total(job, per)
        if score.total is not None and people is not None:
            ai_totals.append(float(score.total))
            human_totals.append(people)
        for name, (ai_list, human_list) in pairs.items():
            ai_value = score.per_competency.get(name)
            mean = _mean(per.get(name, []))
            if ai_value is not None and mean is not None:
                ai_list.append(float(ai_value))
                human_list.append(human_to_100(mean))
    return JobAgreement(
        total=agreement(ai_totals, human_totals),
        per_competency={name: agreement(a, h) for name, (a, h) in pairs.items()},
    )


def agreement_text(ctx: Ctx, job: Job) -> str:
    """The lines ``/agreement`` and ``/stats`` show for a job."""
    result = job_agreement(ctx.session, job)
    title = job.title_zh if ctx.lang == "zh" else job.title_en
    if result.total.spearman is None and result.total.icc is None:
        from dialogs.hiring.agreement import MIN_PAIRS

        return ctx.text("human.agreement_none", job=title, n=result.total.n, min=MIN_PAIRS)
    lines = [
        ctx.text("human.agreement_header", job=title, n=result.total.n),
        ctx.text(
            "human.agreement_total",
            rho=_num(ctx, result.total.spearman),
            icc=_num(ctx, result.total.icc),
            level=ctx.text(f"human.level_{icc_level(result.total.icc)}"),
        ),
    ]
    for name, value in result.per_competency.items():
        lines.append(
            ctx.text(
                "human.agreement_competency",
                competency=competency_label(name, ctx.lang),
                n=value.n,
                rho=_num(ctx, value.spearman),
                icc=_num(ctx, value.icc),
            )
        )
    return "\n".join(lines)


def _num(ctx: Ctx, value: float | None) -> str:
    return ctx.text("human.na") if value is None else f"{value:.2f}"


# ------------------------------------------------------------------ writing
def save_score(
    ctx: Ctx, candidate: Candidate, competency: str, score: int, comment: str | None
) -> HumanScore:
    """Insert or update this user's score for the competency (one row per scorer)."""
    query = select(HumanScore).where(
        HumanScore.candidate_id == candidate.id,
        HumanScore.competency == competency,
        HumanScore.scorer == ctx.actor,
    )
    row = ctx.session.exec(query).first()
    if row is None:
        row = HumanScore(
            candidate_id=candidate.id or 0,
            competency=competency,
            score=score,
            comment=comment or "",
            scorer=ctx.actor,
            created_at=ctx.now,
        )
        try:
            with ctx.session.begin_nested():  # two presses at once: the second updates
                ctx.session.add(row)
                ctx.session.flush()
        except IntegrityError:
            found = ctx.session.exec(query).first()
            assert found is not None
            row = found
    row.score = score
    if comment is not None:
        row.comment = comment
    row.created_at = ctx.now
    ctx.session.add(row)
    ctx.audit(
        "human_score",
        f"candidate:{candidate.id}",
        competency=competency,
        score=score,
        chat=f"{ctx.event.platform}:{ctx.event.chat_id}",
    )
    finalized = ctx.session.exec(
        select(CandidateScore.id).where(
            CandidateScore.candidate_id == candidate.id,
            col(CandidateScore.report_path).is_not(None),
        )
    ).first()
    if finalized is not None:
        ctx.enqueue(
            REPORT_JOB,
            {"candidate_id": candidate.id},
            key=f"{REPORT_JOB}:{ctx.event.event_id}"[:200],
        )
    return row


def _candidate_for_scoring(ctx: Ctx, *, alert: bool) -> tuple[Candidate, Job] | None:
    """The checked candidate (``ctx.target``) and their job; else says it is unknown."""
    candidate = ctx.target.candidate
    if candidate is None or candidate.status == "deleted":
        text = ctx.text("human.unknown_candidate", id=ctx.target.raw[:20] or "-")
        if alert:
            ctx.answer_button(text, alert=True)
        else:
            ctx.say(text)
        return None
    job = ctx.session.get(Job, candidate.job_id)
    assert job is not None
    return candidate, job


def _competency(job: Job, raw: str) -> str | None:
    """A job competency by key, label (en/zh) or 1-based number."""
    names = [str(c["name"]) for c in job.competencies]
    number = small_int(raw, len(names))
    if number is not None:
        return names[number - 1]
    wanted = _norm(raw)
    for name in names:
        labels = {
            _norm(name),
            _norm(competency_label(name, "en")),
            _norm(competency_label(name, "zh")),
        }
        if wanted in labels:
            return name
    return None


def small_int(raw: str, high: int, *, low: int = 1) -> int | None:
    """``raw`` as a whole number from ``low`` to ``high`` (ASCII digits only), else None.

    ``str.isdigit`` also accepts "²" or "⑤", which ``int`` refuses, and a number of
    thousands of digits, which ``int`` refuses too: both end here as None.
    """
    text = raw.strip()
    if not text or len(text) > 6 or not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if low <= value <= high else None


def _norm(value: str) -> str:
    return "_".join(value.strip().casefold().replace("-", " ").split())


def score_command(ctx: Ctx, event: CommandReceived) -> None:
    """``/score <candidate>`` (keyboard) or ``/score <candidate> <competency> <1-5> [comment]``."""
    parts = event.args.split(maxsplit=3)
    if not parts:
        ctx.reply("human.usage")
        return
    found = _candidate_for_scoring(ctx, alert=False)
    if found is None:
        return
    candidate, job = found
    if len(parts) == 1:
        _keyboard(ctx, candidate, job)
        return
    if len(parts) < 3:
        ctx.reply("human.usage")
        return
    competency = _competency(job, parts[1])
    if competency is None:
        ctx.reply(
            "human.unknown_competency",
            id=candidate.id,
            name=parts[1][:40],
            known=", ".join(str(c["name"]) for c in job.competencies),
        )
        return
    score = small_int(parts[2], 5)
    if score is None:
        ctx.reply("human.bad_score")
        return
    comment = parts[3].strip()[:MAX_COMMENT] if len(parts) > 3 else None
    save_score(ctx, candidate, competency, score, comment)
    ctx.reply(
        "human.saved",
        id=candidate.id,
        competency=competency_label(competency, ctx.lang),
        score=score,
        comment=ctx.text("human.saved_comment", comment=comment) if comment else "",
    )


def on_button(ctx: Ctx) -> None:
    """``hs:<candidate>:<competency index>:<1-5>``."""
    event = ctx.event
    assert isinstance(event, ButtonPressed)
    parts = event.data.split(":")
    found = _candidate_for_scoring(ctx, alert=True)
    if found is None:
        return
    candidate, job = found
    if len(parts) != 4:
        ctx.answer_button(ctx.text("human.bad_score"), alert=True)
        return
    number, value = small_int(parts[2], len(job.competencies), low=0), small_int(parts[3], 5)
    if number is None or number >= len(job.competencies) or value is None:
        ctx.answer_button(ctx.text("human.bad_score"), alert=True)
        return
    competency = str(job.competencies[number]["name"])
    save_score(ctx, candidate, competency, value, None)
    text = ctx.text(
        "human.saved",
        id=candidate.id,
        competency=competency_label(competency, ctx.lang),
        score=value,
        comment="",
    )
    if event.callback_id:
        ctx.answer_button(text)
    else:  # a platform without button toasts: say it in the chat
        ctx.say(text)


def _keyboard(ctx: Ctx, candidate: Candidate, job: Job) -> None:
    ai = ctx.session.exec(
        select(CandidateScore).where(CandidateScore.candidate_id == candidate.id)
    ).first()
    per = scores_by_candidate(ctx.session, [candidate.id or 0]).get(candidate.id or 0, {})
    lines = []
    buttons: list[list[Button]] = []
    for index, c in enumerate(job.competencies):
        name = str(c["name"])
        label = competency_label(name, ctx.lang)
        rows = per.get(name, [])
        mine = next((r.score for r in rows if r.scorer == ctx.actor), None)
        ai_value = (ai.per_competency if ai else {}).get(name)
        team = _mean(rows)
        lines.append(
            ctx.text(
                "human.keyboard_line",
                n=index + 1,
                competency=label,
                ai=ctx.text("human.na") if ai_value is None else f"{float(ai_value):.0f}",
                mine=ctx.text("human.na") if mine is None else mine,
                team=ctx.text("human.na") if team is None else f"{team:.1f} ({len(rows)})",
            )
        )
        buttons.append(
            [
                Button(
                    label=f"{label} {v}" if v == 1 else str(v),
                    data=f"hs:{candidate.id}:{index}:{v}",
                )
                for v in range(1, 6)
            ]
        )
    ctx.reply(
        "human.keyboard",
        id=candidate.id,
        name=candidate.name,
        job=job.title_zh if ctx.lang == "zh" else job.title_en,
        lines="\n".join(lines),
        buttons=buttons,
    )


def agreement_command(ctx: Ctx, event: CommandReceived) -> None:
    """``/agreement [job]``: AI vs people for a job (the group's job if bound to one)."""
    job = job_from_args(ctx)
    if job is None:
        return
    ctx.audit("agreement_read", f"job:{job.id}")
    ctx.say(agreement_text(ctx, job))


def job_from_args(ctx: Ctx, usage: str = "human.usage_agreement") -> Job | None:
    """The checked job of this command (named by code, else the group's one bound job)."""
    return target_job(ctx, usage)


FEATURE = Feature(
    "human_scores",
    commands={
        "score": Command(Access("score", "candidate", candidate_arg(0)), score_command),
        "agreement": Command(Access("view", "job", job_arg(0, bound=True)), agreement_command),
    },
    buttons={"hs": ButtonEntry(Access("score", "candidate", candidate_in_button), on_button)},
)
