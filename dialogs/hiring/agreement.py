"""Pure statistics for HR dashboards: AI-human agreement and question (item) analysis.

Implemented with numpy only (scipy is not a dependency). Every function returns
``None`` where a statistic is undefined (too few pairs, no variance) instead of NaN,
so callers can say "not enough data" rather than print ``nan``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

MIN_PAIRS = 3


def ranks(values: Sequence[float]) -> NDArray[np.float64]:
    """1-based ranks with ties given their average rank (as in Spearman's rho)."""
    data = np.asarray(values, dtype=float)
    order = np.argsort(data, kind="mergesort")
    out = np.empty(len(data), dtype=float)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and data[order[j + 1]] == data[order[i]]:
            j += 1
        out[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return out


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson's r, or None with fewer than two pairs or a constant variable."""
    if len(x) != len(y):
        raise ValueError("x and y must have the same length")
    if len(x) < 2:
        return None
    a = np.asarray(x, dtype=float) - float(np.mean(x))
    b = np.asarray(y, dtype=float) - float(np.mean(y))
    denominator = float(np.sqrt(np.sum(a * a) * np.sum(b * b)))
    if denominator == 0.0:
        return None
    return float(np.clip(np.sum(a * b) / denominator, -1.0, 1.0))


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation (Pearson's r of average ranks), None if undefined."""
    if len(x) != len(y):
        raise ValueError("x and y must have the same length")
    if len(x) < 2:
        return None
    return pearson(list(ranks(x)), list(ranks(y)))


def icc_2_1(matrix: Sequence[Sequence[float]]) -> float | None:
    """ICC(2,1) of Shrout & Fleiss (1979): two-way random effects, absolute agreement,
    single rater. Rows are subjects (candidates), columns raters (AI, people).

    Returns None with fewer than two subjects or raters, or when the denominator is 0
    (every rating identical).
    """
    data = np.asarray(matrix, dtype=float)
    if data.ndim != 2:
        raise ValueError("matrix must be subjects x raters")
    n, k = data.shape
    if n < 2 or k < 2:
        return None
    grand = float(data.mean())
    row_means = data.mean(axis=1)
    col_means = data.mean(axis=0)
    ms_rows = k * float(np.sum((row_means - grand) ** 2)) / (n - 1)
    ms_cols = n * float(np.sum((col_means - grand) ** 2)) / (k - 1)
    residual = data - row_means[:, None] - col_means[None, :] + grand
    ms_error = float(np.sum(residual**2)) / ((n - 1) * (k - 1))
    denominator = ms_rows + (k - 1) * ms_error + k * (ms_cols - ms_error) / n
    if denominator == 0.0:
        return None
    return float((ms_rows - ms_error) / denominator)


@dataclass(frozen=True)
class Agreement:
    """How well two raters (AI and people) agree over the same candidates."""

    n: int
    spearman: float | None
    icc: float | None


def agreement(ai: Sequence[float], human: Sequence[float]) -> Agreement:
    """Spearman's rho and ICC(2,1) of paired scores on one scale (e.g. 0-100).

    With fewer than :data:`MIN_PAIRS` pairs both statistics are None.
    """
    if len(ai) != len(human):
        raise ValueError("ai and human must have the same length")
    n = len(ai)
    if n < MIN_PAIRS:
        return Agreement(n=n, spearman=None, icc=None)
    return Agreement(
        n=n,
        spearman=spearman(ai, human),
        icc=icc_2_1([[a, h] for a, h in zip(ai, human, strict=True)]),
    )


def icc_level(value: float | None) -> str:
    """Koo & Li (2016) bands: poor < 0.5 <= moderate < 0.75 <= good < 0.9 <= excellent."""
    if value is None:
        return "na"
    if value < 0.5:
        return "poor"
    if value < 0.75:
        return "moderate"
    if value < 0.9:
        return "good"
    return "excellent"


def human_to_100(score: float) -> float:
    """Map a 1-5 human rating onto the AI's 0-100 scale (1 -> 0, 3 -> 50, 5 -> 100)."""
    return (score - 1.0) * 25.0


# ------------------------------------------------------------------ item analysis
@dataclass(frozen=True)
class ItemStat:
    """One question's discrimination over the candidates who answered it."""

    item: str
    n: int  # candidates with a score for this item and at least one other item
    mean: float | None
    r: float | None  # corrected item-total correlation (None: too few or no variance)


def item_total(scores: Mapping[str, Mapping[str, float]], items: Sequence[str]) -> list[ItemStat]:
    """Corrected item-total correlation for each item.

    Args:
        scores: candidate -> item -> score (missing items simply absent).
        items: the items to report, in order.

    For each item, the pairs are (the candidate's item score, the mean of the same
    candidate's *other* items), over candidates who have both. Using the mean of the
    rest rather than the sum keeps candidates with a missing answer comparable; with
    complete data it gives the same r as the classic rest-sum.
    """
    out: list[ItemStat] = []
    for item in items:
        xs: list[float] = []
        rest: list[float] = []
        for per_item in scores.values():
            if item not in per_item:
                continue
            others = [float(v) for k, v in per_item.items() if k != item and k in items]
            if not others:
                continue
            xs.append(float(per_item[item]))
            rest.append(sum(others) / len(others))
        out.append(
            ItemStat(
                item=item,
                n=len(xs),
                mean=float(np.mean(xs)) if xs else None,
                r=pearson(xs, rest) if len(xs) >= MIN_PAIRS else None,
            )
        )
    return out
