"""``python main.py contract check|render`` end to end through ``main.main``."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from main import main

FIXTURES = Path(__file__).parents[1] / "fixtures" / "contracts"
GOOD = FIXTURES / "terms_fixed_term.json"
BAD = FIXTURES / "terms_blocked.json"


def test_check_json_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contract", "check", str(GOOD), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"ok": True, "findings": []}


def test_check_json_blocked_in_both_languages(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contract", "check", str(BAD), "--json", "--lang", "en"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False
    rules = {f["rule"] for f in out["findings"]}
    assert {"probation_length", "minimum_wage", "liquidated_damages", "text_deposit"} <= rules
    for finding in out["findings"]:
        assert set(finding) == {"rule", "severity", "article", "message"}
        assert finding["severity"] in ("block", "warn")
    assert any(f["article"] == "LCL Art. 19" for f in out["findings"])

    assert main(["contract", "check", str(BAD), "--json", "--lang", "zh"]) == 1
    zh = json.loads(capsys.readouterr().out)
    assert any(f["article"] == "《劳动合同法》第十九条" for f in zh["findings"])
    assert any("试用期" in f["message"] for f in zh["findings"])


def test_check_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contract", "check", str(BAD), "--lang", "en"]) == 1
    out = capsys.readouterr().out
    assert "BLOCK  minimum_wage" in out
    assert "BLOCKED" in out


def test_check_uses_the_given_day(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(GOOD.read_text("utf-8"))
    del data["sign_date"]
    terms = tmp_path / "t.json"
    terms.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    assert main(["contract", "check", str(terms), "--json", "--today", "2026-04-03"]) == 0
    rules = [f["rule"] for f in json.loads(capsys.readouterr().out)["findings"]]
    assert rules == ["written_contract_late"]


def test_bad_input_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"contract_type": "fixed_term", "wage": 1}', "utf-8")
    assert main(["contract", "check", str(bad)]) == 1
    assert "wage" in capsys.readouterr().err
    assert main(["contract", "check", str(tmp_path / "missing.json")]) == 1


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_render_writes_the_pdf(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.pdf"
    assert main(["contract", "render", str(GOOD), "-o", str(out), "--number", "HT-7"]) == 0
    assert "sha256" in capsys.readouterr().out
    text = subprocess.run(
        ["pdftotext", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "张三" in text
    assert "HT-7" in text
