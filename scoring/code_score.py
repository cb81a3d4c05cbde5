"""The score of a coding answer: correctness (the hidden tests passed, by weight) and
efficiency (CPU time on the large tests against the reference solution's), with the
model's advisory readability review beside them (it does not change the score).

score = 0.8 x correctness + 0.2 x efficiency, or correctness alone when the question
has no reference solution or no large test (nothing to measure efficiency against).
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, Field

from coding.judge import Report

CORRECTNESS_WEIGHT = 0.8
# CPU-time ratio to the reference up to which efficiency is full; each doubling past
# it costs EFFICIENCY_STEP points
RATIO_FREE = 1.5
EFFICIENCY_STEP = 40.0
# a reference faster than this is timed as this (process start-up noise)
MIN_REFERENCE_S = 0.01


class CodeResult(BaseModel):
    """What the ``code`` job stores on the answer's evaluation (``details["coding"]``)."""

    language: str
    verdict: str
    passed: int
    total: int
    hidden_passed: int
    hidden_total: int
    correctness: float = Field(ge=0, le=100)
    efficiency: float | None = Field(default=None, ge=0, le=100)
    score: float = Field(ge=0, le=100)
    tests: list[dict[str, Any]] = Field(default_factory=list)
    reference_cpu_s: dict[str, float] = Field(default_factory=dict)
    compile_output: str = ""
    readability: int | None = Field(default=None, ge=1, le=5)
    review: str = ""
    review_model: str = ""
    review_error: str = ""


def efficiency(report: Report, reference: Report | None) -> float | None:
    """Mean over the large tests of 100 at <= 1.5x the reference's CPU time, minus 40
    per doubling past that, 0 for a large test not passed; None: nothing to compare."""
    if reference is None:
        return None
    ref = {t.name: t.cpu_seconds for t in reference.tests if t.verdict == "accepted"}
    large = [t for t in report.tests if t.large and t.name in ref]
    if not large:
        return None
    points = []
    for test in large:
        if test.verdict != "accepted":
            points.append(0.0)
            continue
        ratio = test.cpu_seconds / max(ref[test.name], MIN_REFERENCE_S)
        over = max(0.0, math.log2(max(ratio, 1e-9) / RATIO_FREE))
        points.append(max(0.0, 100.0 - EFFICIENCY_STEP * over))
    return round(sum(points) / len(points), 1)


def code_result(report: Report, reference: Report | None, language: str) -> CodeResult:
    hidden = [t for t in report.tests if t.hidden] or report.tests
    weight = sum(t.weight for t in hidden)
    passed_weight = sum(t.weight for t in hidden if t.verdict == "accepted")
    correctness = round(100.0 * passed_weight / weight, 1) if weight else 0.0
    eff = efficiency(report, reference)
    if eff is None:
        score = correctness
    else:
        score = round(CORRECTNESS_WEIGHT * correctness + (1 - CORRECTNESS_WEIGHT) * eff, 1)
    return CodeResult(
        language=language,
        verdict=report.verdict,
        passed=report.passed,
        total=report.total,
        hidden_passed=sum(t.verdict == "accepted" for t in hidden),
        hidden_total=len(hidden),
        correctness=correctness,
        efficiency=eff,
        score=score,
        tests=report.as_json(full=True)["tests"],
        reference_cpu_s={
            t.name: t.cpu_seconds for t in (reference.tests if reference else []) if t.large
        },
        compile_output=report.compile_output,
    )
