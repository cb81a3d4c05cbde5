"""The contract PDF: Chinese text really in it, fields in place, missing glyphs are errors."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import enumerate_sig_fields

from contracts.render import (
    FIELD_AUDIT,
    FIELD_EMPLOYEE,
    FIELD_EMPLOYER,
    render_contract,
    rmb_upper,
    wrap_lines,
    zh_number,
)
from contracts.terms import ContractTerms, parse_terms
from core.errors import ContractError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "contracts"
BASE: dict[str, Any] = json.loads((FIXTURES / "terms_fixed_term.json").read_text("utf-8"))
needs_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="poppler-utils missing"
)


def terms(**changes: Any) -> ContractTerms:
    data = copy.deepcopy(BASE)
    data.update(changes)
    return parse_terms(data)


def pdftotext(pdf: bytes) -> str:
    done = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True)
    return "".join(done.stdout.decode("utf-8").split())  # CJK lines wrap anywhere


@pytest.mark.parametrize(
    ("amount", "upper"),
    [
        ("12000", "壹万贰仟元整"),
        ("9600.50", "玖仟陆佰元伍角"),
        ("1005", "壹仟零伍元整"),
        ("100000", "壹拾万元整"),
        ("10005", "壹万零伍元整"),
        ("2740.07", "贰仟柒佰肆拾元零柒分"),
        ("101010101", "壹亿零壹佰零壹万零壹佰零壹元整"),
        ("0", "零元整"),
    ],
)
def test_amount_in_chinese_financial_numerals(amount: str, upper: str) -> None:
    assert rmb_upper(Decimal(amount)) == upper


def test_article_numbers() -> None:
    assert [zh_number(n) for n in (1, 9, 10, 11, 12, 20, 21)] == [
        "一",
        "九",
        "十",
        "十一",
        "十二",
        "二十",
        "二十一",
    ]


def test_wrapping_keeps_numbers_whole_and_hangs_punctuation() -> None:
    def width(text: str) -> float:
        return float(len(text))

    text = "期限自2026年3月2日起至2029年3月1日止。其中试用期3个月，共计。"
    lines = wrap_lines(width, text, 9)
    assert "".join(lines) == text
    for line in lines:
        assert not line.startswith(("，", "。"))
    # a year is never split across lines
    assert all("2026年" in line or "2026" not in line for line in lines)
    assert all("2029年" in line or "2029" not in line for line in lines)


@pytest.mark.slow
@needs_poppler
@pytest.mark.parametrize("kind", ["fixed_term", "open_ended", "task_based"])
def test_three_contract_types_render_with_chinese_text(kind: str) -> None:
    changes: dict[str, Any] = {"contract_type": kind}
    if kind != "fixed_term":
        changes.update(end_date=None, probation_months=0 if kind == "task_based" else 6)
    if kind == "task_based":
        changes["task_description"] = "完成华东区新门店的开业筹备工作"
    rendered = render_contract(terms(**changes), contract_no="HT-2026-0001")
    text = pdftotext(rendered.pdf)
    assert "张三" in text
    assert "11010519491231002X" in text
    assert "示例科技（上海）有限公司" in text
    assert "HT-2026-0001" in text
    title = {"fixed_term": "劳动合同书（固定期限）", "open_ended": "劳动合同书（无固定期限）"}
    assert title.get(kind, "以完成一定工作任务为期限") in text
    for clause in (
        "劳动合同期限",
        "工作内容和工作地点",
        "工作时间和休息休假",
        "劳动报酬",
        "社会保险",
        "职业危害防护",
        "劳动争议处理",
        "电子签署审计记录",
    ):
        assert clause in text, clause
    assert "壹万贰仟元整" in text
    if kind == "task_based":
        assert "完成华东区新门店的开业筹备工作" in text
        assert "本合同不约定试用期" in text
    if kind == "fixed_term":
        assert "自2026年3月2日起至2029年3月1日止" in text
        assert "竞业限制" in text


@pytest.mark.slow
def test_empty_signature_fields_are_in_place() -> None:
    rendered = render_contract(terms())
    reader = PdfFileReader(BytesIO(rendered.pdf))
    names = {name for name, value, _ref in enumerate_sig_fields(reader) if value is None}
    assert names == {FIELD_EMPLOYER, FIELD_EMPLOYEE, FIELD_AUDIT}
    by_name = {f.name: f for f in rendered.fields}
    assert by_name[FIELD_AUDIT].page == rendered.pages - 1
    assert by_name[FIELD_EMPLOYER].page == by_name[FIELD_EMPLOYEE].page < rendered.pages - 1
    assert len(rendered.sha256) == 64


@pytest.mark.slow
def test_a_character_the_font_lacks_is_an_error() -> None:
    odd = terms(
        employee={**BASE["employee"], "name": "张\U00020000"}
    )  # CJK Ext. B, not in Noto Sans SC
    with pytest.raises(ContractError, match="U\\+20000"):
        render_contract(odd)
