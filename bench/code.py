"""Code sandbox benchmark: ``python main.py bench code``.

Prints the sandbox's start-up overhead per run (a sandboxed ``python3 -c pass`` against
the same interpreter started plainly, and a sandboxed ``true``), and how many short
Python runs per second go through the sandbox with two at a time (this project's
CI machines have two cores). Goal: at most 150 ms overhead, at least 10 runs/s.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from coding.bwrap import BwrapSandbox
from coding.languages import language
from coding.sandbox import Limits, Program
from core.settings import Settings

Line = tuple[str, float, str]
ROUNDS = 20
THROUGHPUT_RUNS = 40
WORKERS = 2


def _ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 1)


def _timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(settings: Settings, rounds: int = ROUNDS, runs: int = THROUGHPUT_RUNS) -> list[Line]:
    del settings
    sandbox = BwrapSandbox()
    python = language("python")
    limits = Limits()
    trivial = python.program("pass\n", ["/usr/bin/python3", "-I", "-c", "pass"])
    true = Program({}, ["/bin/true"])
    short = python.program("print(sum(range(1000)))\n", python.run)

    def plain() -> None:
        subprocess.run(["/usr/bin/python3", "-I", "-c", "pass"], check=True, env={})

    def boxed(program: Program) -> None:
        outcome = sandbox.run(program, b"", limits)
        if not outcome.ok:
            raise RuntimeError(f"sandboxed run failed: {outcome.stderr[-200:]!r}")

    boxed(trivial)  # warm the page cache
    plain_s = [_timed(plain) for _ in range(rounds)]
    boxed_s = [_timed(lambda: boxed(trivial)) for _ in range(rounds)]
    true_s = [_timed(lambda: boxed(true)) for _ in range(rounds)]
    start = time.perf_counter()
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(lambda _: boxed(short), range(runs)))
    per_s = runs / (time.perf_counter() - start)
    return [
        ("code.python_plain_ms", _ms(plain_s), "ms"),
        ("code.python_sandboxed_ms", _ms(boxed_s), "ms"),
        ("code.sandbox_overhead_ms", round(_ms(boxed_s) - _ms(plain_s), 1), "ms"),
        ("code.sandbox_true_ms", _ms(true_s), "ms"),
        ("code.short_runs_per_s", round(per_s, 1), "runs/s"),
        ("code.parallel_runs", WORKERS, "runs"),
        ("code.cpu_cores", os.cpu_count() or 0, "cores"),
    ]
