"""The code sandbox bench: its lines, from a few real sandboxed runs."""

from __future__ import annotations

import os

import pytest

from bench.code import run
from core.settings import Settings


@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs root (CI runs as root)")
def test_bench_code_lines() -> None:
    lines = run(Settings(), rounds=3, runs=4)
    values = {name: value for name, value, _ in lines}
    assert set(values) == {
        "code.python_plain_ms",
        "code.python_sandboxed_ms",
        "code.sandbox_overhead_ms",
        "code.sandbox_true_ms",
        "code.short_runs_per_s",
        "code.parallel_runs",
        "code.cpu_cores",
    }
    assert all(" " not in unit for _, _, unit in lines)
    assert 0 < values["code.sandbox_true_ms"] < 1000
    assert values["code.python_sandboxed_ms"] > values["code.sandbox_true_ms"]
    assert values["code.short_runs_per_s"] > 1
