"""The STAR benchmark's statistics and its run over the labelled set with a fake model."""

from __future__ import annotations

import pytest

from bench.star import run, spearman
from core.settings import Settings
from scoring.evaluator import FakeBackend, StarEvaluator


def test_spearman_perfect_reversed_and_ties() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 2, 2], [1, 2, 3, 4]) == pytest.approx(0.894, abs=1e-3)
    assert spearman([5, 5, 5], [1, 2, 3]) == 0.0
    with pytest.raises(ValueError, match="equally long"):
        spearman([1], [1])


def test_bench_lines_with_the_rule_extractor() -> None:
    lines = run(Settings(), evaluator=StarEvaluator(FakeBackend()))
    values = {name: value for name, value, _ in lines}
    for name in (
        "star.spearman_rho_total_vs_quality",
        "star.mean_total.level1",
        "star.mean_total.level4",
        "star.injection_max_total",
        "star.pair_gap_mean",
        "star.seconds_per_answer_mean",
    ):
        assert name in values
    # Orderings, not exact numbers: the deterministic part alone already separates levels.
    assert values["star.spearman_rho_total_vs_quality"] >= 0.8
    assert (
        values["star.mean_total.level1"]
        > values["star.mean_total.level2"]
        > values["star.mean_total.level3"]
        > values["star.mean_total.level4"]
    )
    assert values["star.injection_max_total"] < values["star.mean_total.level2"]
    assert values["star.injection_flagged"] == 6
