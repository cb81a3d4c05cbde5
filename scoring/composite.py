"""Roll answer scores up: per question -> per competency -> weighted 0-100 total; rank a batch.

* A competency's score is the (question-weighted) mean of its answers' totals.
* The candidate's total is the job-weighted mean of competency scores; the job's
  weights must sum to 100. An answer still waiting for a person (``needs_review``,
  total None) is left out and the total is marked ``provisional``, never filled in.
* Ranking within a batch uses competition ranking for ties (1, 2, 2, 4).
* Position against the job: difference from the job's running average and the
  mid-rank percentile among every total the job has seen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, Field, field_validator

WEIGHT_SUM = 100.0
_TOLERANCE = 0.01


class QuestionScore(BaseModel):
    """One scored answer, as the composite needs it."""

    question_id: str
    competency: str
    total: float | None = Field(default=None, ge=0, le=100)  # None: needs review
    weight: float = Field(default=1.0, gt=0)


class JobWeights(BaseModel):
    """Competency weights of a job (summing to 100) and its pass line."""

    weights: dict[str, float]
    pass_line: float = Field(default=60.0, ge=0, le=100)

    @field_validator("weights")
    @classmethod
    def _sum_to_100(cls, value: dict[str, float]) -> dict[str, float]:
        if not value:
            raise ValueError("a job needs at least one competency weight")
        if any(w < 0 for w in value.values()):
            raise ValueError("weights must not be negative")
        total = sum(value.values())
        if abs(total - WEIGHT_SUM) > _TOLERANCE:
            raise ValueError(f"weights must sum to 100, not {total:g}")
        return value


class Composite(BaseModel):
    """A candidate's rolled-up scores."""

    per_competency: dict[str, float | None]
    total: float | None
    provisional: bool  # some answers or competencies are not scored yet
    missing: list[str] = Field(default_factory=list)  # competencies with no scored answer
    passed: bool | None = None


def competency_scores(questions: Sequence[QuestionScore]) -> dict[str, float | None]:
    """Weighted mean total per competency; None when none of its answers is scored yet."""
    sums: dict[str, float] = {}
    weights: dict[str, float] = {}
    seen: dict[str, None] = {}
    for q in questions:
        seen.setdefault(q.competency, None)
        if q.total is None:
            continue
        sums[q.competency] = sums.get(q.competency, 0.0) + q.total * q.weight
        weights[q.competency] = weights.get(q.competency, 0.0) + q.weight
    return {
        name: (round(sums[name] / weights[name], 2) if name in weights else None) for name in seen
    }


def composite(questions: Sequence[QuestionScore], job: JobWeights) -> Composite:
    """The candidate's weighted 0-100 total by the job's weights.

    Competencies the job weighs but no scored answer covers are listed in ``missing``;
    the total is then computed over the weights that are covered and marked
    ``provisional`` (so is a total with any answer awaiting review). With nothing
    scored the total is None.
    """
    per = competency_scores(questions)
    pending = any(q.total is None for q in questions)
    missing = [name for name in job.weights if per.get(name) is None and job.weights[name] > 0]
    covered = {name: w for name, w in job.weights.items() if w > 0 and per.get(name) is not None}
    if not covered:
        return Composite(
            per_competency={n: per.get(n) for n in job.weights},
            total=None,
            provisional=True,
            missing=missing,
        )
    weight_sum = sum(covered.values())
    total = sum((per[name] or 0.0) * w for name, w in covered.items()) / weight_sum
    total = round(total, 1)
    return Composite(
        per_competency={n: per.get(n) for n in job.weights},
        total=total,
        provisional=pending or bool(missing),
        missing=missing,
        passed=total >= job.pass_line,
    )


class RankEntry(BaseModel):
    candidate_id: str
    total: float
    rank: int  # competition ranking: ties share the best rank
    tied: bool
    batch_size: int
    vs_job_average: float | None = None  # total minus the job's running average
    percentile: float | None = None  # 0-100 among the job's totals (mid-rank for ties)
    passed: bool | None = None


def rank_batch(
    totals: Mapping[str, float | None],
    *,
    job_totals: Sequence[float] = (),
    pass_line: float | None = None,
) -> list[RankEntry]:
    """Rank the candidates of one batch, best first.

    Args:
        totals: candidate id -> total (None: not scored yet; left out of the ranking).
        job_totals: every total the job has seen so far (earlier batches); this batch's
            totals are added to it for the average and percentile.
        pass_line: the job's pass line, if ``passed`` should be filled in.
    """
    scored = {cid: t for cid, t in totals.items() if t is not None}
    ordered = sorted(scored.items(), key=lambda kv: (-kv[1], kv[0]))
    population = [*job_totals, *scored.values()]
    average = sum(population) / len(population) if population else None
    counts: dict[float, int] = {}
    for value in scored.values():
        counts[value] = counts.get(value, 0) + 1
    entries: list[RankEntry] = []
    for index, (cid, total) in enumerate(ordered):
        rank = index + 1
        if index and ordered[index - 1][1] == total:
            rank = entries[-1].rank
        entries.append(
            RankEntry(
                candidate_id=cid,
                total=total,
                rank=rank,
                tied=counts[total] > 1,
                batch_size=len(ordered),
                vs_job_average=round(total - average, 1) if average is not None else None,
                percentile=percentile(total, population),
                passed=(total >= pass_line) if pass_line is not None else None,
            )
        )
    return entries


def percentile(value: float, population: Sequence[float]) -> float | None:
    """Mid-rank percentile of ``value`` in ``population``: (below + equal / 2) / n * 100."""
    if not population:
        return None
    below = sum(1 for v in population if v < value)
    equal = sum(1 for v in population if v == value)
    return round(100.0 * (below + equal / 2) / len(population), 1)
