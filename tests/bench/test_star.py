"""The STAR benchmark's statistics and its run over the labelled set with a fake model."""

from __future__ import annotations

import pytest

from bench.star import FIXTURE, load_fixtures, run, spearman
from core.settings import Settings
from scoring import star
from scoring.evaluator import FakeBackend, StarEvaluator


def test_spearman_perfect_reversed_and_ties() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 2, 2], [1, 2, 3, 4]) == pytest.approx(0.894, abs=1e-3)
    assert spearman([5, 5, 5], [1, 2, 3]) == 0.0
    with pytest.raises(ValueError, match="equally long"):
        spearman([1], [1])


def test_bench_lines_with_the_rule_extractor() -> None:
    lines = run(Settings(), evaluator=StarEvaluator(FakeBackend()), fixture=FIXTURE)
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
    assert values["star.injection_flagged"] == 6  # answers.yaml alone


def test_issue_15_figures_over_the_whole_set() -> None:
    """The substance figures exist; the guards alone already hold templates and injections."""
    lines = run(Settings(), evaluator=StarEvaluator(FakeBackend()))
    values = {name: value for name, value, _ in lines}
    units = {name: unit for name, _, unit in lines}
    for name in (
        "star.spearman_rho.holdout",
        "star.spearman_rho.tuning",
        "star.twin_gap_mean.zh",
        "star.twin_gap_max.en",
        "star.template_max_total",
        "star.template_below_every_genuine",
        "star.generic_max_total",
        "star.paraphrase_diff_max",
        "star.first_person_minus_team_mean",
        "star.injection_not_above_generic",
    ):
        assert name in values, name
    assert values["star.template_max_total"] <= star.CAP_TEMPLATE
    assert units["star.template_flagged"] == f"of_{int(values['star.template_flagged'])}"
    assert units["star.injection_flagged"] == f"of_{int(values['star.injection_flagged'])}"
    assert values["star.twin_pairs.zh"] >= 10 and values["star.twin_pairs.en"] >= 10
    assert values["star.twin_gap_mean.zh"] <= 5 and values["star.twin_gap_mean.en"] <= 5
    assert values["star.generic_max_total"] <= 40
    assert values["star.first_person_minus_team_mean"] > 0


def test_held_out_part_is_large_enough_and_fixed() -> None:
    items = load_fixtures()
    held = [i for i in items if i["split"] == "holdout"]
    assert len(held) >= 40
    assert {i["lang"] for i in held} == {"zh", "en"}
    assert len({i["question_key"] for i in held}) >= 5
    tuning_questions = {i["question_key"] for i in items if i["split"] == "tuning"}
    assert not tuning_questions & {i["question_key"] for i in held}
