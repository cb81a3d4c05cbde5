"""AI-human agreement and item statistics: checked against published values and by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialogs.hiring.agreement import (
    agreement,
    human_to_100,
    icc_2_1,
    icc_level,
    item_total,
    pearson,
    ranks,
    spearman,
)

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges; ICC(2,1) = 0.29.
SHROUT_FLEISS = [
    [9, 2, 5, 8],
    [6, 1, 3, 2],
    [8, 4, 6, 8],
    [7, 1, 2, 6],
    [10, 5, 6, 9],
    [6, 2, 4, 7],
]


def test_ranks_average_ties() -> None:
    assert list(ranks([10, 20, 20, 30])) == [1.0, 2.5, 2.5, 4.0]
    assert list(ranks([3, 1, 2])) == [3.0, 1.0, 2.0]


def test_spearman_matches_the_textbook_value_with_a_tie() -> None:
    # 1 - 6 * sum(d^2) / (n (n^2 - 1)) does not hold with ties; the rank-Pearson value is 0.8208.
    assert spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(0.8207826816681233)


def test_spearman_without_ties_is_the_d_squared_formula() -> None:
    ai = [20, 40, 60, 80]
    human = [0, 50, 25, 100]  # ranks 1 3 2 4: sum d^2 = 2
    assert spearman(ai, human) == pytest.approx(1 - 6 * 2 / (4 * 15))


def test_spearman_is_rank_based() -> None:
    x = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert spearman(x, [v**3 for v in x]) == pytest.approx(1.0)
    assert spearman(x, [-v for v in x]) == pytest.approx(-1.0)


def test_undefined_statistics_are_none_not_nan() -> None:
    assert pearson([1, 2, 3], [5, 5, 5]) is None
    assert spearman([1], [2]) is None
    assert icc_2_1([[1, 1], [1, 1], [1, 1]]) is None
    assert icc_2_1([[1, 2]]) is None


def test_icc_matches_shrout_and_fleiss() -> None:
    assert icc_2_1(SHROUT_FLEISS) == pytest.approx(0.29, abs=0.005)


def test_icc_is_absolute_agreement_while_spearman_only_orders() -> None:
    ai = [30.0, 50.0, 70.0, 90.0]
    same = agreement(ai, ai)
    assert same.icc == pytest.approx(1.0)
    assert same.spearman == pytest.approx(1.0)
    shifted = agreement(ai, [a - 30 for a in ai])  # people always 30 points lower
    assert shifted.spearman == pytest.approx(1.0)
    assert shifted.icc is not None and shifted.icc < 0.7


def test_icc_two_raters_by_hand() -> None:
    data = np.array([[20.0, 0.0], [40.0, 50.0], [60.0, 25.0], [80.0, 100.0]])
    n, k = data.shape
    grand = data.mean()
    ss_rows = k * ((data.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((data.mean(axis=0) - grand) ** 2).sum()
    ss_total = ((data - grand) ** 2).sum()
    ss_error = ss_total - ss_rows - ss_cols
    msr, msc, mse = ss_rows / (n - 1), ss_cols / (k - 1), ss_error / ((n - 1) * (k - 1))
    expected = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
    assert icc_2_1(data.tolist()) == pytest.approx(expected)


def test_agreement_needs_three_pairs() -> None:
    result = agreement([50, 60], [50, 60])
    assert (result.n, result.spearman, result.icc) == (2, None, None)
    with pytest.raises(ValueError, match="same length"):
        agreement([1, 2, 3], [1, 2])


@pytest.mark.parametrize(
    ("value", "level"),
    [(None, "na"), (0.1, "poor"), (0.5, "moderate"), (0.8, "good"), (0.95, "excellent")],
)
def test_icc_levels(value: float | None, level: str) -> None:
    assert icc_level(value) == level


def test_human_scale_maps_onto_ai_scale() -> None:
    assert [human_to_100(s) for s in (1, 2, 3, 4, 5)] == [0, 25, 50, 75, 100]


def test_item_total_uses_the_rest_of_the_items() -> None:
    q1 = [90, 80, 70, 60, 50, 40]
    q2 = [85, 75, 65, 55, 45, 35]
    q3 = [40, 60, 50, 50, 60, 40]  # symmetric: no linear relation to the others' trend
    scores = {
        f"c{i}": {"q1": float(a), "q2": float(b), "q3": float(c)}
        for i, (a, b, c) in enumerate(zip(q1, q2, q3, strict=True))
    }
    stats = {s.item: s for s in item_total(scores, ["q1", "q2", "q3"])}
    rest_q1 = [(b + c) / 2 for b, c in zip(q2, q3, strict=True)]
    assert stats["q1"].r == pytest.approx(np.corrcoef(q1, rest_q1)[0, 1])
    assert stats["q3"].r == pytest.approx(0.0, abs=1e-12)
    assert stats["q2"].n == 6
    assert stats["q2"].mean == pytest.approx(60.0)


def test_item_total_with_missing_answers_and_too_few() -> None:
    scores = {
        "a": {"q1": 90.0, "q2": 80.0},
        "b": {"q1": 50.0},  # no other item: left out of q1's pairs
        "c": {"q1": 70.0, "q2": 60.0, "q3": 60.0},  # rest of q1 = 60
        "d": {"q1": 30.0, "q2": 20.0},
    }
    stats = {s.item: s for s in item_total(scores, ["q1", "q2", "q3"])}
    assert stats["q1"].n == 3
    assert stats["q1"].r == pytest.approx(1.0)
    assert stats["q3"].n == 1 and stats["q3"].r is None  # too few pairs


@given(
    st.lists(st.tuples(st.floats(0, 100), st.floats(0, 100)), min_size=3, max_size=30, unique=True)
)
def test_properties(pairs: list[tuple[float, float]]) -> None:
    ai = [a for a, _h in pairs]
    human = [h for _a, h in pairs]
    forward = agreement(ai, human)
    backward = agreement(human, ai)
    if forward.spearman is not None:
        assert -1.0 <= forward.spearman <= 1.0
        assert backward.spearman == pytest.approx(forward.spearman)
    if forward.icc is not None:
        assert forward.icc <= 1.0 + 1e-9
        assert backward.icc == pytest.approx(forward.icc)
