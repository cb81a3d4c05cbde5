"""Composite totals by job weights, batch ranking with ties, percentile, pass line."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from scoring.composite import (
    JobWeights,
    QuestionScore,
    competency_scores,
    composite,
    percentile,
    rank_batch,
)

JOB = JobWeights(weights={"communication": 30, "customer": 50, "pressure": 20}, pass_line=70)


def q(qid: str, competency: str, total: float | None, weight: float = 1.0) -> QuestionScore:
    return QuestionScore(question_id=qid, competency=competency, total=total, weight=weight)


def test_weights_must_sum_to_100() -> None:
    with pytest.raises(ValidationError, match="sum to 100"):
        JobWeights(weights={"a": 30, "b": 60})
    with pytest.raises(ValidationError, match="negative"):
        JobWeights(weights={"a": 130, "b": -30})


def test_competency_mean_uses_question_weights() -> None:
    scores = competency_scores([q("1", "a", 80), q("2", "a", 50, weight=2), q("3", "b", None)])
    assert scores == {"a": 60.0, "b": None}


def test_weighted_total_and_pass_line() -> None:
    result = composite(
        [q("1", "communication", 60), q("2", "customer", 90), q("3", "pressure", 50)], JOB
    )
    assert result.total == pytest.approx(0.3 * 60 + 0.5 * 90 + 0.2 * 50)
    assert result.passed is True
    assert result.provisional is False
    low = composite(
        [q("1", "communication", 60), q("2", "customer", 60), q("3", "pressure", 60)], JOB
    )
    assert low.passed is False


def test_answer_awaiting_review_makes_total_provisional_not_zero() -> None:
    result = composite(
        [q("1", "communication", 80), q("2", "customer", 80), q("3", "customer", None),
         q("4", "pressure", 80)],
        JOB,
    )  # fmt: skip
    assert result.total == pytest.approx(80)
    assert result.provisional is True


def test_missing_competency_is_reported_and_total_renormalised() -> None:
    result = composite([q("1", "communication", 50), q("2", "customer", 100)], JOB)
    assert result.missing == ["pressure"]
    assert result.provisional is True
    assert result.total == pytest.approx((30 * 50 + 50 * 100) / 80, abs=0.05)


def test_nothing_scored_gives_no_total() -> None:
    result = composite([q("1", "customer", None)], JOB)
    assert result.total is None
    assert result.passed is None


def test_rank_batch_competition_ranking_with_ties() -> None:
    entries = rank_batch({"a": 70.0, "b": 90.0, "c": 70.0, "d": 50.0, "e": None}, pass_line=70)
    assert [(e.candidate_id, e.rank, e.tied) for e in entries] == [
        ("b", 1, False),
        ("a", 2, True),
        ("c", 2, True),
        ("d", 4, False),
    ]
    assert all(e.batch_size == 4 for e in entries)
    assert [e.passed for e in entries] == [True, True, True, False]


def test_position_against_job_average_and_percentile() -> None:
    entries = rank_batch({"a": 80.0, "b": 60.0}, job_totals=[40.0, 60.0, 100.0])
    by_id = {e.candidate_id: e for e in entries}
    average = (40 + 60 + 100 + 80 + 60) / 5
    assert by_id["a"].vs_job_average == pytest.approx(80 - average)
    assert by_id["b"].vs_job_average == pytest.approx(60 - average)
    assert by_id["a"].percentile == pytest.approx(100 * (3 + 0.5) / 5)
    assert by_id["b"].percentile == pytest.approx(100 * (1 + 1.0) / 5)


def test_percentile_of_empty_population() -> None:
    assert percentile(50.0, []) is None


@given(st.dictionaries(st.text(min_size=1, max_size=4), st.floats(0, 100), min_size=1, max_size=12))
def test_ranks_are_consistent_with_totals(totals: dict[str, float]) -> None:
    entries = rank_batch(totals)
    assert len(entries) == len(totals)
    for better, worse in zip(entries, entries[1:], strict=False):
        assert better.total >= worse.total
        assert better.rank <= worse.rank
        assert (better.rank == worse.rank) == (better.total == worse.total)
    for e in entries:
        assert e.rank == 1 + sum(1 for v in totals.values() if v > e.total)
        assert 0 < (e.percentile or 0) <= 100
