"""Boundary cases for every pre-check rule (LCL 以上 includes the bound, 不满 excludes it)."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from contracts.minimum_wage import MinimumWageTable
from contracts.rules import RULES, Finding, archive_until, check, is_blocked, max_probation_months
from contracts.terms import ContractTerms, parse_terms
from core.errors import ContractError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "contracts"
WAGES = MinimumWageTable.load(FIXTURES / "minimum_wage_test.toml")  # 2000, 2200 from 2027
BASE: dict[str, Any] = json.loads((FIXTURES / "terms_fixed_term.json").read_text("utf-8"))
BASE["city"] = "测试市"
TODAY = dt.date(2026, 2, 20)


def terms(**changes: Any) -> ContractTerms:
    data = copy.deepcopy(BASE)
    for key, value in changes.items():
        if "__" in key:
            outer, inner = key.split("__")
            data[outer][inner] = value
        else:
            data[key] = value
    return parse_terms(data)


def run(t: ContractTerms, today: dt.date = TODAY) -> list[Finding]:
    return check(t, today=today, wages=WAGES)


def found(t: ContractTerms, today: dt.date = TODAY) -> set[tuple[str, str]]:
    return {(f.rule, f.severity) for f in run(t, today)}


def rules(t: ContractTerms, today: dt.date = TODAY) -> set[str]:
    return {f.rule for f in run(t, today)}


def test_valid_terms_have_no_findings() -> None:
    assert run(terms()) == []


# --- Art. 17 required clauses ------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "clause_zh"),
    [
        ("employer__name", "", "用人单位的名称"),
        ("employer__domicile", "", "用人单位的住所"),
        ("employer__legal_representative", "", "法定代表人"),
        ("employee__name", "", "劳动者的姓名"),
        ("employee__address", "", "劳动者的住址"),
        ("employee__id_number", "", "身份证件号码"),
        ("start_date", None, "起始日期"),
        ("end_date", None, "终止日期"),
        ("position", "", "工作内容"),
        ("workplace", "", "工作地点"),
        ("daily_hours", None, "工作时间和休息休假"),
        ("rest_days_per_week", None, "工作时间和休息休假"),
        ("monthly_wage", None, "劳动报酬"),
        ("monthly_wage", 0, "劳动报酬"),
        ("social_insurance", False, "社会保险"),
        ("labour_protection", False, "职业危害防护"),
    ],
)
def test_each_missing_clause_blocks(field: str, value: Any, clause_zh: str) -> None:
    findings = [f for f in run(terms(**{field: value})) if f.rule == "required_clause"]
    assert len(findings) == 1
    assert findings[0].severity == "block"
    assert clause_zh in findings[0].message_zh
    assert findings[0].article == "LCL Art. 17, 81"


def test_task_based_contract_needs_its_task() -> None:
    t = terms(contract_type="task_based", end_date=None, probation_months=0)
    assert ("required_clause", "block") in found(t)
    t = terms(
        contract_type="task_based",
        end_date=None,
        probation_months=0,
        task_description="完成A项目上线",
    )
    assert "required_clause" not in rules(t)


def test_open_ended_needs_no_end_date_and_warns_when_given_one() -> None:
    assert rules(terms(contract_type="open_ended", end_date=None)) == set()
    assert found(terms(contract_type="open_ended")) == {("term_dates", "warn")}


def test_term_dates() -> None:
    assert ("term_dates", "block") in found(terms(end_date="2026-03-01"))  # before start
    # ends before the signing day
    t = terms(start_date="2025-01-01", end_date="2026-02-19", probation_months=0)
    assert ("term_dates", "block") in found(t)
    t = terms(start_date="2026-02-20", end_date="2026-12-31", probation_months=0)
    assert "term_dates" not in rules(t)


def test_resident_id_check_digit() -> None:
    assert ("id_number", "warn") in found(terms(employee__id_number="110105194912310021"))
    assert "id_number" not in rules(terms(employee__id_number="11010519491231002x"))
    t = terms(employee__id_type="passport", employee__id_number="E12345678")
    assert "id_number" not in rules(t)


# --- Art. 19 probation length ------------------------------------------------------


@pytest.mark.parametrize(
    ("end", "probation", "ok"),
    [
        # under 3 months: none
        ("2026-05-31", 1, False),  # 3 months minus a day
        ("2026-06-01", 1, True),  # exactly 3 months: 三个月以上
        ("2026-06-01", 2, False),
        # 3 months to under 1 year: <= 1 month
        ("2027-02-28", 1, True),
        ("2027-02-28", 2, False),  # 1 year minus a day is still 不满一年
        ("2027-03-01", 2, True),  # exactly 1 year: 一年以上
        ("2027-03-01", 3, False),
        # 1 year to under 3 years: <= 2 months
        ("2029-02-28", 2, True),
        ("2029-02-28", 3, False),  # 3 years minus a day
        ("2029-03-01", 6, True),  # exactly 3 years: 三年以上
        ("2029-03-01", 7, False),
    ],
)
def test_probation_length_bounds(end: str, probation: int, ok: bool) -> None:
    t = terms(start_date="2026-03-02", end_date=end, probation_months=probation)
    assert ("probation_length" not in rules(t)) is ok


def test_probation_bounds_at_month_end() -> None:
    # 2026-01-31 + 3 months is clipped to 2026-04-30, so the term reaches 3 months on 04-29.
    base = {"start_date": "2026-01-31", "probation_months": 1, "sign_date": "2026-01-31"}
    assert "probation_length" not in rules(terms(end_date="2026-04-29", **base))
    assert "probation_length" in rules(terms(end_date="2026-04-28", **base))


def test_probation_for_open_ended_and_task_based() -> None:
    assert "probation_length" not in rules(
        terms(contract_type="open_ended", end_date=None, probation_months=6)
    )
    assert ("probation_length", "block") in found(
        terms(contract_type="open_ended", end_date=None, probation_months=7)
    )
    task = {"contract_type": "task_based", "end_date": None, "task_description": "完成项目"}
    assert ("probation_length", "block") in found(terms(probation_months=1, **task))
    assert "probation_length" not in rules(terms(probation_months=0, **task))
    limit = max_probation_months(terms(probation_months=0, **task))
    assert limit is not None
    assert limit[0] == 0


def test_probation_once_per_employee() -> None:
    assert ("probation_once", "block") in found(terms(probation_used_before=True))
    assert "probation_once" not in rules(terms(probation_used_before=True, probation_months=0))


def test_contract_that_is_only_probation() -> None:
    t = terms(start_date="2026-03-02", end_date="2026-04-01", probation_months=1)
    assert {"probation_length", "probation_only"} <= rules(t)
    t = terms(start_date="2026-03-02", end_date="2026-04-02", probation_months=1)
    assert "probation_only" not in rules(t)


# --- Art. 20 probation wage and the minimum wage -----------------------------------


@pytest.mark.parametrize(("prob", "ok"), [("9600", True), ("9599.99", False), ("12000", True)])
def test_probation_wage_80_percent(prob: str, ok: bool) -> None:
    assert ("probation_wage" not in rules(terms(probation_wage=prob))) is ok


def test_probation_wage_defaults_to_full_wage() -> None:
    assert "probation_wage" not in rules(terms(probation_wage=None))


@pytest.mark.parametrize(("prob", "ok"), [("8800", True), ("8799.99", False)])
def test_probation_wage_80_percent_of_lowest_same_post_wage(prob: str, ok: bool) -> None:
    t = terms(probation_wage=prob, same_post_lowest_wage=11000)
    assert ("probation_wage" not in rules(t)) is ok


@pytest.mark.parametrize(("wage", "ok"), [("2000", True), ("1999.99", False)])
def test_minimum_wage_exact(wage: str, ok: bool) -> None:
    t = terms(monthly_wage=wage, probation_months=0, non_compete_months=0, liquidated_damages=[])
    assert (("minimum_wage", "block") not in found(t)) is ok


@pytest.mark.parametrize(("prob", "ok"), [("2000", True), ("1999.99", False)])
def test_probation_wage_not_below_minimum(prob: str, ok: bool) -> None:
    # 80% of 2400 is 1920, so only the minimum-wage limb of Art. 20 can fail here.
    t = terms(monthly_wage=2400, probation_wage=prob, probation_months=2, end_date="2027-03-01")
    t = t.model_copy(update={"non_compete_months": 0, "liquidated_damages": []})
    assert "probation_wage" not in rules(t)
    assert (("probation_wage_minimum", "block") not in found(t)) is ok


@pytest.mark.parametrize(("end", "warned"), [("2026-12-31", False), ("2027-01-01", True)])
def test_minimum_wage_rise_during_the_term(end: str, warned: bool) -> None:
    t = terms(monthly_wage=2100, probation_months=0, end_date=end)
    t = t.model_copy(update={"non_compete_months": 0, "liquidated_damages": []})
    assert (("minimum_wage", "warn") in found(t)) is warned


def test_minimum_wage_unknown_city_or_date() -> None:
    assert ("minimum_wage_unknown", "warn") in found(terms(city="火星市"))
    assert ("minimum_wage_unknown", "warn") in found(terms(city=""))
    t = terms(start_date="2023-06-01", end_date="2026-05-31", sign_date="2023-06-01")
    assert ("minimum_wage_unknown", "warn") in found(t)
    assert "minimum_wage_unknown" not in rules(terms(city="测试市高新区"))


def test_shipped_minimum_wage_table_loads() -> None:
    table = MinimumWageTable.load()
    for name in ("上海", "北京市", "Shenzhen", "广州", "杭州", "成都"):
        entry = table.find(name)
        assert entry is not None, name
        rate = entry.rate_on(dt.date(2026, 1, 1))
        assert rate is not None
        assert 1500 <= rate.monthly <= 4000


def test_malformed_wage_table_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "w.toml"
    bad.write_text(
        '[[city]]\nkey="x"\nnames=["x"]\n[[city.rate]]\neffective_from="soon"\nmonthly=1\n'
    )
    with pytest.raises(ContractError, match="effective_from"):
        MinimumWageTable.load(bad)


# --- Art. 22-25 liquidated damages and non-compete ---------------------------------


def test_liquidated_damages_other_reasons_are_barred() -> None:
    t = terms(liquidated_damages=[{"reason": "提前离职", "amount": 5000}])
    assert ("liquidated_damages", "block") in found(t)


@pytest.mark.parametrize(("amount", "ok"), [("30000", True), ("30000.01", False)])
def test_service_period_damages_capped_by_training_cost(amount: str, ok: bool) -> None:
    t = terms(liquidated_damages=[{"reason": "服务期违约金", "amount": amount}])
    assert ("service_period_damages" not in rules(t)) is ok


def test_service_period_damages_need_training_and_a_period() -> None:
    t = terms(training_cost=None)
    assert ("service_period_damages", "block") in found(t)
    t = terms(service_period_months=None)
    assert found(t) == {("service_period_damages", "warn")}


def test_non_compete_damages_need_a_non_compete() -> None:
    t = terms(non_compete_months=0, non_compete_monthly_compensation=None)
    assert ("non_compete_damages", "block") in found(t)


@pytest.mark.parametrize(("months", "ok"), [(24, True), (25, False)])
def test_non_compete_at_most_two_years(months: int, ok: bool) -> None:
    assert ("non_compete_length" not in rules(terms(non_compete_months=months))) is ok


@pytest.mark.parametrize(
    ("role", "ok"),
    [
        ("ordinary", False),
        ("senior_manager", True),
        ("senior_technical", True),
        ("confidentiality", True),
    ],
)
def test_non_compete_only_for_eligible_roles(role: str, ok: bool) -> None:
    assert ("non_compete_role" not in rules(terms(role_category=role))) is ok


@pytest.mark.parametrize(
    ("wage", "comp", "warned"),
    [
        (12000, "3600", False),  # exactly 30%
        (12000, "3599.99", True),
        (12000, None, True),  # none agreed
        (12000, 0, True),
        (5000, "2000", False),  # 30% is 1500, the local minimum 2000 is the floor
        (5000, "1999.99", True),
    ],
)
def test_non_compete_compensation(wage: int, comp: str | None, warned: bool) -> None:
    t = terms(monthly_wage=wage, probation_wage=None, non_compete_monthly_compensation=comp)
    assert (("non_compete_compensation", "warn") in found(t)) is warned


# --- Art. 10, 14, 82 written contract and open-ended contracts ----------------------


@pytest.mark.parametrize(
    ("contract_type", "sign", "expected"),
    [
        ("fixed_term", "2026-01-01", set()),  # signed before work starts
        ("fixed_term", "2026-02-05", set()),  # one month after 2026-01-05: still in time
        ("fixed_term", "2026-02-06", {("written_contract_late", "warn")}),
        ("fixed_term", "2027-01-04", {("written_contract_late", "warn")}),
        ("fixed_term", "2027-01-05", {("written_contract_deemed_open_ended", "block")}),
        ("open_ended", "2027-01-05", {("written_contract_late", "warn")}),
    ],
)
def test_written_contract_deadlines(
    contract_type: str, sign: str, expected: set[tuple[str, str]]
) -> None:
    end = "2030-01-04" if contract_type == "fixed_term" else None
    t = terms(contract_type=contract_type, start_date="2026-01-05", end_date=end, sign_date=sign)
    got = {item for item in found(t) if item[0].startswith("written_contract")}
    assert got == expected


def test_sign_date_defaults_to_the_day_of_the_check() -> None:
    t = terms(start_date="2026-01-05", sign_date=None)
    assert "written_contract_late" not in rules(t, today=dt.date(2026, 2, 5))
    assert "written_contract_late" in rules(t, today=dt.date(2026, 2, 6))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"prior_service_years": "9.9"}, set()),
        ({"prior_service_years": 10}, {("open_ended_due", "block")}),
        (
            {"prior_service_years": 10, "employee_requests_fixed_term": True},
            {("open_ended_due", "warn")},
        ),
        ({"prior_fixed_term_contracts": 1}, set()),
        ({"prior_fixed_term_contracts": 2}, {("open_ended_due", "warn")}),
        ({"prior_service_years": 12, "contract_type": "open_ended", "end_date": None}, set()),
    ],
)
def test_open_ended_contract_due(changes: dict[str, Any], expected: set[tuple[str, str]]) -> None:
    got = {item for item in found(terms(**changes)) if item[0] == "open_ended_due"}
    assert got == expected


# --- Working hours -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"daily_hours": 8}, set()),
        ({"daily_hours": "8.5"}, {("hours_daily", "block")}),
        ({"weekly_hours": 40}, set()),
        ({"weekly_hours": "40.5"}, {("hours_weekly", "block")}),
        ({"rest_days_per_week": 1}, set()),
        ({"rest_days_per_week": 0}, {("rest_day", "block")}),
        ({"hours_system": "comprehensive", "daily_hours": 10}, {("hours_system", "warn")}),
        ({"hours_system": "flexible"}, {("hours_system", "warn")}),
        ({"overtime_hours_per_day": 1}, set()),
        ({"overtime_hours_per_day": "1.5"}, {("overtime_daily", "warn")}),
        ({"overtime_hours_per_day": 3}, {("overtime_daily", "warn")}),
        ({"overtime_hours_per_day": "3.5"}, {("overtime_daily", "block")}),
        ({"overtime_hours_per_month": 36}, set()),
        ({"overtime_hours_per_month": 37}, {("overtime_monthly", "block")}),
        ({"overtime_pay_workday_percent": 149}, {("overtime_pay", "block")}),
        ({"overtime_pay_rest_day_percent": 199}, {("overtime_pay", "block")}),
        ({"overtime_pay_holiday_percent": 299}, {("overtime_pay", "block")}),
        ({"overtime_pay_holiday_percent": 300, "overtime_pay_workday_percent": 150}, set()),
    ],
)
def test_working_hours(changes: dict[str, Any], expected: set[tuple[str, str]]) -> None:
    assert found(terms(**changes)) == expected


# --- Text flags --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clause", "rule"),
    [
        ("入职时乙方须交纳押金1000元。", "text_deposit"),
        ("The employee shall pay a deposit of CNY 500.", "text_deposit"),
        ("乙方身份证原件由甲方保管至合同期满。", "text_id_retention"),
        ("乙方自愿放弃社保，由甲方发放补贴。", "text_social_insurance_waiver"),
        ("工作期间发生意外，工伤自理，甲方概不负责。", "text_employer_exemption"),
        ("合同到期自动终止，甲方不支付经济补偿。", "text_no_severance"),
    ],
)
def test_text_flags_block(clause: str, rule: str) -> None:
    findings = [f for f in run(terms(additional_clauses=[clause])) if f.rule == rule]
    assert findings
    assert findings[0].severity == "block"
    assert clause[:10] in findings[0].message_zh


def test_prohibition_of_a_deposit_is_not_a_deposit() -> None:
    t = terms(additional_clauses=["甲方不得向乙方收取押金或要求乙方提供担保。"])
    assert run(t) == []


def test_deposit_amount_field_blocks() -> None:
    assert ("text_deposit", "block") in found(terms(deposit_amount=1))
    assert run(terms(deposit_amount=0)) == []


# --- The findings themselves -------------------------------------------------------


def test_every_rule_can_fire_and_every_finding_is_complete() -> None:
    cases = [
        terms(employer__name="", end_date="2026-03-01", employee__id_number="110105194912310021"),
        terms(contract_type="open_ended", probation_months=7, probation_used_before=True),
        terms(end_date="2026-04-01", probation_months=1, probation_wage=1, monthly_wage=1500),
        terms(city="nowhere", liquidated_damages=[{"reason": "x", "amount": 1}]),
        terms(training_cost=None),
        terms(start_date="2026-01-01", sign_date="2026-02-20"),
        terms(
            role_category="ordinary", non_compete_months=30, non_compete_monthly_compensation=None
        ),
        terms(
            non_compete_months=0,
            start_date="2025-01-01",
            end_date="2030-01-01",
            sign_date="2026-02-20",
        ),
        terms(prior_service_years=11, daily_hours=9, weekly_hours=45, rest_days_per_week=0),
        terms(
            overtime_hours_per_day=4, overtime_hours_per_month=40, overtime_pay_workday_percent=100
        ),
        terms(
            hours_system="flexible",
            deposit_amount=1,
            additional_clauses=["押金", "扣押身份证", "放弃社保", "概不负责", "不支付经济补偿"],
        ),
    ]
    seen: set[str] = set()
    for case in cases:
        for finding in run(case):
            seen.add(finding.rule)
            assert finding.rule in RULES
            assert finding.article
            assert finding.article_zh.startswith("《")
            assert re.search(r"[\u4e00-\u9fff]", finding.message_zh)
            assert finding.message_en
            assert finding.message_en != finding.message_zh
            assert "{" not in finding.message_zh + finding.message_en
            out = finding.as_dict("en")
            assert set(out) == {"rule", "severity", "article", "message"}
    assert seen == set(RULES)


def test_blocking_findings_come_first() -> None:
    findings = run(terms(non_compete_monthly_compensation=None, daily_hours=9))
    assert [f.severity for f in findings] == ["block", "warn"]
    assert is_blocked(findings)
    assert not is_blocked([f for f in findings if f.severity == "warn"])


def test_archive_for_two_years() -> None:
    assert archive_until(dt.date(2026, 3, 1)) == dt.date(2028, 3, 1)
    assert archive_until(dt.date(2028, 2, 29)) == dt.date(2030, 2, 28)


# --- The terms model ---------------------------------------------------------------


def test_unknown_fields_and_negative_amounts_are_errors() -> None:
    with pytest.raises(ContractError, match="monthly_wages"):
        terms(monthly_wages=1)
    with pytest.raises(ContractError, match="monthly_wage"):
        terms(monthly_wage=-1)
    with pytest.raises(ContractError, match="contract_type"):
        terms(contract_type="permanent")
