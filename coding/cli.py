"""``python main.py code run SOLUTION --tests TESTS.json [--json]``: judge a solution in
the sandbox. Exit 0 when it was judged (whatever the verdict), 1 when it could not be."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    code = sub.add_parser("code", help="coding questions: run a solution in the sandbox")
    code_sub = code.add_subparsers(dest="code_command", required=True)
    run = code_sub.add_parser("run", help="judge SOLUTION against the tests in TESTS.json")
    run.add_argument("solution", type=Path)
    run.add_argument("--tests", type=Path, required=True, help="TESTS.json")
    run.add_argument("--json", action="store_true", help="print the result as JSON")
    run.add_argument("--full", action="store_true", help="with --json: CPU, memory, errors")
    run.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from coding.bwrap import BwrapSandbox
    from coding.judge import Spec, judge

    spec = Spec.model_validate_json(args.tests.read_text(encoding="utf-8"))
    source = args.solution.read_text(encoding="utf-8")
    report = judge(BwrapSandbox(), source, spec)
    if args.json:
        print(json.dumps(report.as_json(full=args.full), ensure_ascii=False))
        return 0
    for test in report.tests:
        print(f"{test.name}\t{test.verdict}\t{test.seconds:.3f}s")
    print(f"{report.verdict} {report.passed}/{report.total}")
    if report.compile_output:
        print(report.compile_output)
    return 0
