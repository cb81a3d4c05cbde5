"""Judging a solution: check it compiles, run it on each test in the sandbox, give each
test a verdict, and the first failing test's verdict to the whole run.

Tests come in two forms: stdin -> expected stdout (compared line by line, trailing
white space ignored), and a function call (``call`` with the function's name and its
arguments, ``expected`` its JSON return value), run through the language's harness.
"""

from __future__ import annotations

import json
import signal
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from coding.languages import Language, language, languages
from coding.sandbox import Limits, Outcome, Sandbox

Verdict = Literal[
    "accepted",
    "wrong_answer",
    "time_limit",
    "memory_limit",
    "runtime_error",
    "output_limit",
    "compile_error",
]


class Call(BaseModel):
    model_config = ConfigDict(extra="forbid")
    function: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    args: list[Any] = Field(default_factory=list)


class Case(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=100)
    stdin: str = ""
    expected_stdout: str | None = None
    call: Call | None = None
    expected: Any = None
    weight: float = Field(1.0, ge=0)
    hidden: bool = False
    # counts toward efficiency: timed against the reference solution
    large: bool = False

    @model_validator(mode="after")
    def _one_form(self) -> Case:
        if (self.expected_stdout is None) == (self.call is None):
            raise ValueError(f"test {self.name!r}: give expected_stdout, or call and expected")
        return self


class Spec(BaseModel):
    """What ``code run --tests TESTS.json`` reads; a coding question holds the same."""

    model_config = ConfigDict(extra="allow")
    language: str = "python"
    time_limit_s: float = Field(2.0, gt=0, le=30)
    memory_mb: int = Field(256, ge=16, le=4096)
    output_bytes: int = Field(1_000_000, ge=1000, le=64_000_000)
    tests: list[Case] = Field(min_length=1, max_length=200)

    @field_validator("language")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in languages():
            raise ValueError(f"unknown language; known: {', '.join(sorted(languages()))}")
        return value

    def limits(self) -> Limits:
        base = Limits.for_time_limit(self.time_limit_s, self.memory_mb)
        return Limits(
            cpu_s=base.cpu_s,
            wall_s=base.wall_s,
            memory_mb=base.memory_mb,
            output_bytes=self.output_bytes,
        )


@dataclass
class CaseResult:
    name: str
    verdict: Verdict
    seconds: float
    cpu_seconds: float = 0.0
    memory_mb: float = 0.0
    weight: float = 1.0
    hidden: bool = False
    large: bool = False
    detail: str = ""


@dataclass
class Report:
    verdict: Verdict
    passed: int
    total: int
    tests: list[CaseResult] = field(default_factory=list)
    compile_output: str = ""

    def as_json(self, *, full: bool = False) -> dict[str, Any]:
        """The CLI's JSON: verdict, passed, total and each test's name, verdict, seconds
        (``full`` adds CPU time, memory, weight and the error's last lines)."""
        keys = None if full else ("name", "verdict", "seconds")
        tests = [
            {k: v for k, v in asdict(t).items() if keys is None or k in keys} for t in self.tests
        ]
        data: dict[str, Any] = {
            "verdict": self.verdict,
            "passed": self.passed,
            "total": self.total,
            "tests": tests,
        }
        if full and self.compile_output:
            data["compile_output"] = self.compile_output
        return data

    @property
    def weighted_score(self) -> float:
        """Share of the test weight passed, 0..1."""
        total = sum(t.weight for t in self.tests)
        if total == 0:
            return 0.0
        return sum(t.weight for t in self.tests if t.verdict == "accepted") / total


def same_output(actual: str, expected: str) -> bool:
    def lines(text: str) -> list[str]:
        found = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
        while found and not found[-1]:
            found.pop()
        return found

    return lines(actual) == lines(expected)


def _tail(data: bytes, chars: int = 400) -> str:
    return data.decode("utf-8", "replace").strip()[-chars:]


def classify(outcome: Outcome, limits: Limits, lang: Language) -> Verdict | None:
    """The verdict of a run that did not end well; None when it ended well."""
    if outcome.output_exceeded:
        return "output_limit"
    stderr = outcome.stderr.decode("utf-8", "replace")
    if outcome.oom_killed or (
        outcome.exit_code != 0 and lang.memory_error and lang.memory_error in stderr
    ):
        return "memory_limit"
    if outcome.wall_exceeded or outcome.signal == signal.SIGXCPU or outcome.cpu_s > limits.cpu_s:
        return "time_limit"
    if outcome.exit_code != 0:
        return "runtime_error"
    return None


def _call_answer(stdout: bytes) -> tuple[bool, Any]:
    lines = stdout.decode("utf-8", "replace").rstrip("\n").split("\n")
    try:
        return True, json.loads(lines[-1])
    except (json.JSONDecodeError, IndexError):
        return False, None


def run_test(
    sandbox: Sandbox, lang: Language, source: str, test: Case, limits: Limits
) -> CaseResult:
    if test.call is not None:
        if not lang.call:
            raise ValueError(f"{lang.name} has no function-call harness")
        program = lang.program(source, lang.call)
        stdin = test.call.model_dump_json().encode()
    else:
        program = lang.program(source, lang.run)
        stdin = test.stdin.encode("utf-8")
    outcome = sandbox.run(program, stdin, limits)
    verdict = classify(outcome, limits, lang)
    detail = _tail(outcome.stderr) if verdict else ""
    if verdict is None:
        if test.call is not None:
            ok, value = _call_answer(outcome.stdout)
            verdict = "accepted" if ok and value == test.expected else "wrong_answer"
        else:
            assert test.expected_stdout is not None
            good = same_output(outcome.stdout.decode("utf-8", "replace"), test.expected_stdout)
            verdict = "accepted" if good else "wrong_answer"
    return CaseResult(
        name=test.name,
        verdict=verdict,
        seconds=round(outcome.wall_s, 3),
        cpu_seconds=round(outcome.cpu_s, 3),
        memory_mb=round(outcome.peak_memory_mb, 1),
        weight=test.weight,
        hidden=test.hidden,
        large=test.large,
        detail=detail,
    )


def judge(sandbox: Sandbox, source: str, spec: Spec) -> Report:
    """Every test runs (HR sees them all); the top verdict is the first failing one's."""
    lang = language(spec.language)
    limits = spec.limits()
    if lang.check:
        outcome = sandbox.run(lang.program(source, lang.check), b"", limits)
        if classify(outcome, limits, lang) is not None:
            output = _tail(outcome.stderr, 2000)
            tests = [
                CaseResult(t.name, "compile_error", 0.0, weight=t.weight, hidden=t.hidden)
                for t in spec.tests
            ]
            return Report("compile_error", 0, len(tests), tests, compile_output=output)
    results = [run_test(sandbox, lang, source, test, limits) for test in spec.tests]
    failing = [r.verdict for r in results if r.verdict != "accepted"]
    return Report(
        verdict=failing[0] if failing else "accepted",
        passed=sum(r.verdict == "accepted" for r in results),
        total=len(results),
        tests=results,
    )
