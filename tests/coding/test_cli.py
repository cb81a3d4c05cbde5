"""``main.py code run`` end to end, both test forms and both configured languages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coding.bwrap import BwrapSandbox
from coding.judge import Spec, judge
from main import main


def test_code_run_json_is_the_issue_s_shape(
    sandbox: BwrapSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    solution = tmp_path / "sol.py"
    solution.write_text("a, b = map(int, input().split())\nprint(a + b)\n")
    tests = tmp_path / "tests.json"
    tests.write_text(
        json.dumps(
            {
                "language": "python",
                "time_limit_s": 2,
                "memory_mb": 256,
                "tests": [
                    {"name": "small", "stdin": "1 2\n", "expected_stdout": "3\n"},
                    {"name": "wrong", "stdin": "1 2\n", "expected_stdout": "4\n"},
                ],
            }
        )
    )
    assert main(["code", "run", str(solution), "--tests", str(tests), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == "wrong_answer"
    assert (data["passed"], data["total"]) == (1, 2)
    assert [(t["name"], t["verdict"]) for t in data["tests"]] == [
        ("small", "accepted"),
        ("wrong", "wrong_answer"),
    ]
    assert all(isinstance(t["seconds"], float) for t in data["tests"])
    assert main(["code", "run", str(solution), "--tests", str(tests)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "wrong_answer 1/2"


def test_unknown_language_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tests = tmp_path / "tests.json"
    tests.write_text(
        json.dumps({"language": "cobol", "tests": [{"name": "a", "expected_stdout": ""}]})
    )
    (tmp_path / "s.py").write_text("")
    assert main(["code", "run", str(tmp_path / "s.py"), "--tests", str(tests)]) == 1
    assert "unknown language" in capsys.readouterr().err


def test_function_call_tests(sandbox: BwrapSandbox) -> None:
    spec = Spec.model_validate(
        {
            "tests": [
                {
                    "name": "a",
                    "call": {"function": "two_sum", "args": [[2, 7, 11], 9]},
                    "expected": [0, 1],
                },
                {
                    "name": "b",
                    "call": {"function": "two_sum", "args": [[3, 3], 6]},
                    "expected": [0, 1],
                },
            ]
        }
    )
    source = (
        "def two_sum(nums, target):\n"
        "    print('debug output is not the answer')\n"
        "    seen = {}\n"
        "    for i, n in enumerate(nums):\n"
        "        if target - n in seen:\n"
        "            return [seen[target - n], i]\n"
        "        seen[n] = i\n"
    )
    assert judge(sandbox, source, spec).verdict == "accepted"
    assert (
        judge(sandbox, "def two_sum(nums, target):\n    return [1, 0]\n", spec).verdict
        == "wrong_answer"
    )
    assert judge(sandbox, "def other():\n    pass\n", spec).verdict == "runtime_error"


def test_javascript_by_configuration(sandbox: BwrapSandbox) -> None:
    spec = Spec.model_validate(
        {
            "language": "javascript",
            "time_limit_s": 1,
            "tests": [
                {"name": "stdin", "stdin": "2 3\n", "expected_stdout": "5\n"},
                {"name": "call", "call": {"function": "add", "args": [2, 3]}, "expected": 5},
            ],
        }
    )
    source = (
        "function add(a, b) { return a + b; }\n"
        "module.exports = { add };\n"
        "if (require.main === module) {\n"
        "  const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number);\n"
        "  console.log(add(a, b));\n"
        "}\n"
    )
    report = judge(sandbox, source, spec)
    assert report.verdict == "accepted", report.as_json(full=True)
    assert judge(sandbox, "function (", spec).verdict == "compile_error"
    assert judge(sandbox, "while (true) {}", spec).verdict == "time_limit"
