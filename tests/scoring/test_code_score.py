"""The coding answer's score and the model's advisory review, without a sandbox."""

from __future__ import annotations

import pytest

from coding.judge import CaseResult, Report
from core.errors import EvaluationError
from scoring.code_review import review_code
from scoring.code_score import code_result, efficiency
from scoring.evaluator import FakeBackend, Messages


def report(*tests: CaseResult) -> Report:
    failing = [t.verdict for t in tests if t.verdict != "accepted"]
    return Report(
        failing[0] if failing else "accepted",
        sum(t.verdict == "accepted" for t in tests),
        len(tests),
        list(tests),
    )


def case(name: str, verdict: str = "accepted", cpu: float = 0.1, **kw: object) -> CaseResult:
    return CaseResult(name, verdict, cpu, cpu_seconds=cpu, **kw)  # type: ignore[arg-type]


def test_correctness_counts_hidden_tests_by_weight() -> None:
    r = report(
        case("example", "wrong_answer"),  # visible: not counted
        case("a", hidden=True),
        case("b", "wrong_answer", hidden=True, weight=3.0),
    )
    result = code_result(r, None, "python")
    assert result.correctness == 25.0
    assert result.efficiency is None
    assert result.score == 25.0
    assert (result.hidden_passed, result.hidden_total, result.passed, result.total) == (1, 2, 1, 3)


def test_efficiency_against_the_reference_on_large_tests() -> None:
    reference = report(case("big", cpu=0.2, large=True, hidden=True))
    same = report(case("big", cpu=0.25, large=True, hidden=True))
    assert efficiency(same, reference) == 100.0
    slow = report(case("big", cpu=1.2, large=True, hidden=True))  # 6x: two doublings past 1.5x
    assert efficiency(slow, reference) == pytest.approx(20.0)
    timed_out = report(case("big", "time_limit", cpu=2.0, large=True, hidden=True))
    assert efficiency(timed_out, reference) == 0.0
    assert efficiency(same, None) is None
    result = code_result(slow, reference, "python")
    assert result.score == pytest.approx(0.8 * 100 + 0.2 * 20)
    assert result.reference_cpu_s == {"big": 0.2}


class Failing:
    model_id = "broken"

    def complete(self, messages: Messages, schema: dict[str, object]) -> str:
        raise EvaluationError("backend down")


def test_the_review_is_advisory_and_never_made_up() -> None:
    good = FakeBackend(replies=['{"readability": 5, "comment": "Idiomatic."}'])
    review = review_code(good, "Sum two numbers", "print(sum(map(int, input().split())))", "en")
    assert (review.readability, review.comment, review.model) == (5, "Idiomatic.", "fake")
    assert "<code>" in good.calls[0][-1][1] and "ignore" in good.calls[0][0][1]
    for reply in ['{"readability": 9, "comment": "x"}', "not json", '{"comment": "x"}']:
        bad = review_code(FakeBackend(replies=[reply]), "q", "code", "zh")
        assert bad.readability is None and bad.comment == "" and bad.error
    down = review_code(Failing(), "q", "code", "en")
    assert down.readability is None and "backend down" in down.error
