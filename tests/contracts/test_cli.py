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
    assert out.stat().st_mode & 0o777 == 0o600  # the operator's copy is personal data


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[app]\ndata_dir = "{tmp_path / "data"}"\n'
        f'[database]\nurl = "sqlite:///{tmp_path / "db.sqlite3"}"\n'
        f'[security]\nkey_file = "{tmp_path / "data.key"}"\n',
        "utf-8",
    )
    return config


@pytest.mark.slow
def test_validate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from contracts.render import render_contract
    from contracts.signing import SealRequest, SignatureMark, build_signer
    from contracts.terms import load_terms
    from core.settings import ContractSettings

    config = _config(tmp_path)
    signer = build_signer(ContractSettings(), tmp_path / "data")
    pdf = render_contract(load_terms(GOOD)).pdf
    sealed = signer.seal(
        pdf,
        SealRequest("HT-9", "示例科技（上海）有限公司", "张三", SignatureMark(typed_name="张三")),
    )
    good = tmp_path / "signed.pdf"
    good.write_bytes(sealed.pdf)
    assert main(["--config", str(config), "contract", "validate", str(good)]) == 0
    assert capsys.readouterr().out.strip().endswith("valid")
    data = bytearray(sealed.pdf)
    data[len(data) // 2] ^= 1
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(bytes(data))
    assert main(["--config", str(config), "contract", "validate", str(bad)]) == 1
    assert "NOT VALID" in capsys.readouterr().out
    # an unsigned contract is not a valid sealed contract
    unsigned = tmp_path / "unsigned.pdf"
    unsigned.write_bytes(pdf)
    assert main(["--config", str(config), "contract", "validate", str(unsigned)]) == 1
    capsys.readouterr()

    # A stored contract is encrypted at rest: it is validated by its number, in memory.
    from sqlmodel import SQLModel

    import storage.tables  # noqa: F401
    from contracts.files import ContractFiles
    from core.settings import load_settings
    from storage.contract_models import Contract
    from storage.db import open_database
    from storage.models import Candidate, Job

    settings = load_settings(config)
    db = open_database(settings)
    SQLModel.metadata.create_all(db.engine)  # Alembic owns the real schema
    files = ContractFiles.in_data_dir(settings.app.data_dir, db.keyring)
    with db.transaction() as s:
        job = Job(code="sales", title_zh="销售", title_en="Sales")
        s.add(job)
        s.flush()
        s.add(Candidate(id=5, job_id=job.id or 0, name="张三"))
        s.flush()
        s.add(
            Contract(
                contract_no="HT-9", candidate_id=5, contract_type="fixed_term",
                terms_json="{}", status="signed", signed_sha256=sealed.sha256_final,
                signed_pdf_path=files.write("HT-9", "signed.pdf", sealed.pdf),
            )
        )  # fmt: skip
    db.engine.dispose()
    assert b"%PDF" not in (files.root / "HT-9" / "signed.pdf.enc").read_bytes()
    assert main(["--config", str(config), "contract", "validate", "HT-9"]) == 0
    assert capsys.readouterr().out.strip().endswith("valid")
    assert main(["--config", str(config), "contract", "validate", "HT-404"]) == 2
    assert "no signed contract" in capsys.readouterr().err


def test_employee_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import datetime as dt

    from sqlmodel import SQLModel

    import storage.contract_models as cm
    import storage.tables  # noqa: F401
    from core.settings import load_settings
    from storage.db import open_database
    from storage.models import Candidate, Job

    config = _config(tmp_path)
    db = open_database(load_settings(config))
    SQLModel.metadata.create_all(db.engine)  # Alembic owns the real schema
    with db.transaction() as s:
        job = Job(code="sales", title_zh="销售", title_en="Sales")
        s.add(job)
        s.flush()
        s.add(Candidate(id=5, job_id=job.id or 0, name="张三"))
        s.flush()
        contract = cm.Contract(
            contract_no="HT-20260220-ABCDEF",
            candidate_id=5,
            contract_type="fixed_term",
            terms_json="{}",
            status="signed",
        )
        s.add(contract)
        s.flush()
        s.add(
            cm.Employee(
                candidate_id=5,
                contract_id=contract.id or 0,
                name="张三",
                position="销售经理",
                contract_type="fixed_term",
                start_date=dt.date(2026, 3, 2),
                end_date=dt.date(2029, 3, 1),
            )
        )
    for query in ("张三", "5", "HT-20260220-ABCDEF"):
        assert main(["--config", str(config), "contract", "employee", query]) == 0
        out = capsys.readouterr().out
        assert "张三" in out
        assert "2029-03-01" in out
    assert main(["--config", str(config), "contract", "employee", "李四"]) == 1
