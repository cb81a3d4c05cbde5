"""Labour Contract Law pre-check: every rule of ``docs/CONTRACTS.md`` as code.

Each rule yields :class:`Finding` objects naming the rule, its severity (``block`` stops
the contract from being sent; ``warn`` is shown to HR), the article it rests on and a
message in Chinese and English. Abbreviations: LCL = Labour Contract Law, IR = its
Implementing Regulations, LL = Labour Law, SPC = Supreme People's Court.

Rules that do not concern the terms themselves live where they act: contract expiry
(LCL Art. 44) is the end date the employee record carries; archiving (LCL Art. 50) is
:func:`archive_until`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from contracts.dates import add_months, deadline, last_day_of_months, term_reaches
from contracts.messages import CLAUSES, FINDINGS, LANGS, WORDS, Lang
from contracts.minimum_wage import MinimumWageTable
from contracts.terms import NON_COMPETE, SERVICE_PERIOD, ContractTerms

Severity = Literal["block", "warn"]
ARCHIVE_YEARS = 2  # LCL Art. 50: keep ended contracts at least two years


@dataclass(frozen=True)
class Rule:
    """A rule id and the article(s) it rests on."""

    id: str
    article_en: str
    article_zh: str


RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in (
        Rule("required_clause", "LCL Art. 17, 81", "《劳动合同法》第十七条、第八十一条"),
        Rule("term_dates", "LCL Art. 12-15, 44", "《劳动合同法》第十二条至第十五条、第四十四条"),
        Rule("id_number", "LCL Art. 17(2)", "《劳动合同法》第十七条第一款第（二）项"),
        Rule("probation_length", "LCL Art. 19", "《劳动合同法》第十九条"),
        Rule("probation_once", "LCL Art. 19", "《劳动合同法》第十九条第二款"),
        Rule("probation_only", "LCL Art. 19", "《劳动合同法》第十九条第四款"),
        Rule(
            "probation_wage",
            "LCL Art. 20; IR Art. 15",
            "《劳动合同法》第二十条；《实施条例》第十五条",
        ),
        Rule(
            "probation_wage_minimum",
            "LCL Art. 20; IR Art. 15",
            "《劳动合同法》第二十条；《实施条例》第十五条",
        ),
        Rule("liquidated_damages", "LCL Art. 25", "《劳动合同法》第二十五条"),
        Rule(
            "service_period_damages",
            "LCL Art. 22; IR Art. 16-17",
            "《劳动合同法》第二十二条；《实施条例》第十六条、第十七条",
        ),
        Rule("non_compete_damages", "LCL Art. 23, 25", "《劳动合同法》第二十三条、第二十五条"),
        Rule("non_compete_role", "LCL Art. 24", "《劳动合同法》第二十四条"),
        Rule("non_compete_length", "LCL Art. 24", "《劳动合同法》第二十四条"),
        Rule(
            "non_compete_compensation",
            "LCL Art. 23; SPC Interpretation (I) 2020 Art. 36",
            "《劳动合同法》第二十三条；最高人民法院劳动争议司法解释（一）第三十六条",
        ),
        Rule(
            "written_contract_late",
            "LCL Art. 10, 82; IR Art. 6",
            "《劳动合同法》第十条、第八十二条；《实施条例》第六条",
        ),
        Rule(
            "written_contract_deemed_open_ended",
            "LCL Art. 14, 82; IR Art. 7",
            "《劳动合同法》第十四条第三款、第八十二条；《实施条例》第七条",
        ),
        Rule("open_ended_due", "LCL Art. 14", "《劳动合同法》第十四条"),
        Rule(
            "hours_daily",
            "State Council Working Hours Provisions Art. 3; LL Art. 36",
            "《国务院关于职工工作时间的规定》第三条；《劳动法》第三十六条",
        ),
        Rule(
            "hours_weekly",
            "State Council Working Hours Provisions Art. 3; LL Art. 36",
            "《国务院关于职工工作时间的规定》第三条；《劳动法》第三十六条",
        ),
        Rule("rest_day", "LL Art. 38", "《劳动法》第三十八条"),
        Rule("hours_system", "LL Art. 39", "《劳动法》第三十九条"),
        Rule("overtime_daily", "LL Art. 41", "《劳动法》第四十一条"),
        Rule("overtime_monthly", "LL Art. 41", "《劳动法》第四十一条"),
        Rule("overtime_pay", "LL Art. 44", "《劳动法》第四十四条"),
        Rule(
            "minimum_wage",
            "LL Art. 48; Minimum Wage Provisions Art. 12",
            "《劳动法》第四十八条；《最低工资规定》第十二条",
        ),
        Rule(
            "minimum_wage_unknown",
            "LL Art. 48; Minimum Wage Provisions",
            "《劳动法》第四十八条；《最低工资规定》",
        ),
        Rule("text_deposit", "LCL Art. 9, 84", "《劳动合同法》第九条、第八十四条"),
        Rule("text_id_retention", "LCL Art. 9, 84", "《劳动合同法》第九条、第八十四条"),
        Rule(
            "text_social_insurance_waiver",
            "LCL Art. 17, 26; LL Art. 72",
            "《劳动合同法》第十七条、第二十六条；《劳动法》第七十二条",
        ),
        Rule("text_employer_exemption", "LCL Art. 26", "《劳动合同法》第二十六条"),
        Rule("text_no_severance", "LCL Art. 44, 46", "《劳动合同法》第四十四条、第四十六条"),
    )
}


@dataclass(frozen=True)
class Finding:
    """One problem with the terms, in both languages."""

    rule: str
    severity: Severity
    article: str
    article_zh: str
    message_zh: str
    message_en: str

    def message(self, lang: Lang = "zh") -> str:
        """The message in ``lang``."""
        return self.message_zh if lang == "zh" else self.message_en

    def as_dict(self, lang: Lang = "zh") -> dict[str, str]:
        """``{"rule", "severity", "article", "message"}`` as the CLI prints it."""
        return {
            "rule": self.rule,
            "severity": self.severity,
            "article": self.article_zh if lang == "zh" else self.article,
            "message": self.message(lang),
        }


@dataclass(frozen=True)
class Loc:
    """A parameter whose text differs by language."""

    zh: str
    en: str

    def get(self, lang: Lang) -> str:
        return self.zh if lang == "zh" else self.en


def _word(key: str, **params: str) -> Loc:
    return Loc(WORDS["zh"][key].format(**params), WORDS["en"][key].format(**params))


@dataclass
class _Collector:
    findings: list[Finding] = field(default_factory=list)

    def add(self, rule_id: str, severity: Severity, key: str, **params: str | Loc) -> None:
        rule = RULES[rule_id]
        texts: dict[Lang, str] = {}
        for lang in LANGS:
            values = {k: (v.get(lang) if isinstance(v, Loc) else v) for k, v in params.items()}
            texts[lang] = FINDINGS[lang][key].format(**values)
        self.findings.append(
            Finding(rule_id, severity, rule.article_en, rule.article_zh, texts["zh"], texts["en"])
        )


@dataclass(frozen=True)
class _Ctx:
    terms: ContractTerms
    sign_date: dt.date
    wages: MinimumWageTable
    out: _Collector


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):,}"


def _num(value: Decimal | int) -> str:
    text = f"{value}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# --- Art. 17 required clauses and the term -------------------------------------------


def _required_clauses(ctx: _Ctx) -> None:
    t = ctx.terms
    missing: list[str] = []
    if not t.employer.name:
        missing.append("employer_name")
    if not t.employer.domicile:
        missing.append("employer_domicile")
    if not t.employer.legal_representative:
        missing.append("employer_legal_representative")
    if not t.employee.name:
        missing.append("employee_name")
    if not t.employee.address:
        missing.append("employee_address")
    if not t.employee.id_number:
        missing.append("employee_id_number")
    if t.start_date is None:
        missing.append("term_start")
    if t.contract_type == "fixed_term" and t.end_date is None:
        missing.append("term_end")
    if t.contract_type == "task_based" and not t.task_description:
        missing.append("term_task")
    if not t.position:
        missing.append("position")
    if not t.workplace:
        missing.append("workplace")
    if t.daily_hours is None or t.weekly_hours is None or t.rest_days_per_week is None:
        missing.append("working_hours")
    if t.monthly_wage is None or t.monthly_wage <= 0:
        missing.append("pay")
    if not t.social_insurance:
        missing.append("social_insurance")
    if not t.labour_protection:
        missing.append("labour_protection")
    for clause in missing:
        name = Loc(CLAUSES["zh"][clause], CLAUSES["en"][clause])
        ctx.out.add("required_clause", "block", "required_clause", clause=name)


def _term_dates(ctx: _Ctx) -> None:
    t = ctx.terms
    if t.start_date is None or t.end_date is None:
        return
    start, end = t.start_date.isoformat(), t.end_date.isoformat()
    if t.contract_type == "open_ended":
        ctx.out.add("term_dates", "warn", "open_ended_with_end", end=end)
        return
    if t.end_date < t.start_date:
        ctx.out.add("term_dates", "block", "term_end_before_start", start=start, end=end)
    elif t.end_date < ctx.sign_date:
        sign = ctx.sign_date.isoformat()
        ctx.out.add("term_dates", "block", "term_already_ended", end=end, sign=sign)


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def resident_id_valid(number: str) -> bool:
    """True when an 18-character PRC resident ID has a valid GB 11643 check character."""
    text = number.strip().upper()
    if len(text) != 18 or not text[:17].isdigit():
        return False
    total = sum(int(digit) * weight for digit, weight in zip(text[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == text[17]


def _id_number(ctx: _Ctx) -> None:
    emp = ctx.terms.employee
    if emp.id_type == "resident_id" and emp.id_number and not resident_id_valid(emp.id_number):
        masked = emp.id_number[:6] + "…" + emp.id_number[-4:]
        ctx.out.add("id_number", "warn", "id_checksum", id=masked)


# --- Art. 19-20 probation ----------------------------------------------------------


def max_probation_months(terms: ContractTerms) -> tuple[int, Loc] | None:
    """The longest probation LCL Art. 19 allows and why (None: the term is unknown)."""
    if terms.contract_type == "task_based":
        return 0, _word("task_based")
    if terms.contract_type == "open_ended":
        return 6, _word("open_ended")
    start, end = terms.start_date, terms.end_date
    if start is None or end is None or end < start:
        return None
    if not term_reaches(start, end, 3):
        return 0, _word("under_3_months")
    if not term_reaches(start, end, 12):
        return 1, _word("3_months_to_1_year")
    if not term_reaches(start, end, 36):
        return 2, _word("1_to_3_years")
    return 6, _word("3_years_or_more")


def _probation(ctx: _Ctx) -> None:
    t = ctx.terms
    months = t.probation_months
    if months == 0:
        return
    limit = max_probation_months(t)
    if limit is not None:
        allowed, why = limit
        if allowed == 0:
            ctx.out.add("probation_length", "block", "probation_none", why=why, months=str(months))
        elif months > allowed:
            ctx.out.add(
                "probation_length",
                "block",
                "probation_max",
                why=why,
                max=str(allowed),
                months=str(months),
            )
    if t.probation_used_before:
        ctx.out.add("probation_once", "block", "probation_once")
    if t.contract_type == "fixed_term" and t.start_date and t.end_date:
        prob_end = last_day_of_months(t.start_date, months)
        if t.end_date >= t.start_date and prob_end >= t.end_date:
            ctx.out.add(
                "probation_only",
                "block",
                "probation_only",
                prob_end=prob_end.isoformat(),
                end=t.end_date.isoformat(),
            )


def _probation_wage(ctx: _Ctx) -> None:
    t = ctx.terms
    prob = t.effective_probation_wage()
    if t.probation_months == 0 or prob is None or t.monthly_wage is None:
        return
    floor = t.monthly_wage * Decimal("0.8")
    if prob >= floor:
        return
    lowest = t.same_post_lowest_wage
    post: str | Loc = ""
    if lowest is not None:
        post_floor = lowest * Decimal("0.8")
        if prob >= post_floor:
            return
        post = Loc(
            FINDINGS["zh"]["probation_wage_post"].format(
                lowest=_money(lowest), post_floor=_money(post_floor)
            ),
            FINDINGS["en"]["probation_wage_post"].format(
                lowest=_money(lowest), post_floor=_money(post_floor)
            ),
        )
    ctx.out.add(
        "probation_wage",
        "block",
        "probation_wage",
        prob=_money(prob),
        wage=_money(t.monthly_wage),
        floor=_money(floor),
        post=post,
    )


# --- Minimum wage ------------------------------------------------------------------


def _minimum_wage(ctx: _Ctx) -> None:
    t = ctx.terms
    if t.monthly_wage is None or t.start_date is None:
        return
    day = t.start_date
    entry = ctx.wages.find(t.city)
    rate = entry.rate_on(day) if entry else None
    if entry is None or rate is None:
        when = _word("on_date", date=day.isoformat()) if entry else ""
        ctx.out.add(
            "minimum_wage_unknown", "warn", "minimum_wage_unknown", city=t.city or "?", when=when
        )
        return
    city = t.city
    if t.monthly_wage < rate.monthly:
        ctx.out.add(
            "minimum_wage",
            "block",
            "minimum_wage",
            wage=_money(t.monthly_wage),
            city=city,
            minimum=_money(rate.monthly),
            since=rate.effective_from.isoformat(),
        )
    else:
        last = t.end_date if t.contract_type == "fixed_term" else None
        for later in entry.rates_between(day, last):
            if t.monthly_wage < later.monthly:
                ctx.out.add(
                    "minimum_wage",
                    "warn",
                    "minimum_wage_rises",
                    wage=_money(t.monthly_wage),
                    city=city,
                    minimum=_money(later.monthly),
                    since=later.effective_from.isoformat(),
                )
                break
    prob = t.effective_probation_wage()
    if t.probation_months > 0 and prob is not None and prob < rate.monthly:
        ctx.out.add(
            "probation_wage_minimum",
            "block",
            "probation_wage_minimum",
            prob=_money(prob),
            city=city,
            minimum=_money(rate.monthly),
            since=rate.effective_from.isoformat(),
        )


def _local_minimum(ctx: _Ctx) -> Decimal | None:
    t = ctx.terms
    entry = ctx.wages.find(t.city)
    if entry is None or t.start_date is None:
        return None
    rate = entry.rate_on(t.start_date)
    return rate.monthly if rate else None


# --- Liquidated damages and non-compete (Art. 22-25) --------------------------------


def _liquidated_damages(ctx: _Ctx) -> None:
    t = ctx.terms
    for item in t.liquidated_damages:
        reason = item.canonical_reason()
        amount = _money(item.amount)
        if reason is None:
            ctx.out.add(
                "liquidated_damages", "block", "damages_barred", reason=item.reason, amount=amount
            )
        elif reason == SERVICE_PERIOD:
            cost = t.training_cost
            if cost is None or cost <= 0:
                ctx.out.add("service_period_damages", "block", "damages_no_training", amount=amount)
            elif item.amount > cost:
                ctx.out.add(
                    "service_period_damages",
                    "block",
                    "damages_over_training",
                    amount=amount,
                    cost=_money(cost),
                )
            if not t.service_period_months:
                ctx.out.add("service_period_damages", "warn", "damages_no_service_period")
        elif reason == NON_COMPETE and t.non_compete_months == 0:
            ctx.out.add("non_compete_damages", "block", "damages_no_non_compete", amount=amount)


def _non_compete(ctx: _Ctx) -> None:
    t = ctx.terms
    months = t.non_compete_months
    if months == 0:
        return
    if t.role_category == "ordinary":
        ctx.out.add("non_compete_role", "block", "non_compete_role")
    if months > 24:
        ctx.out.add("non_compete_length", "block", "non_compete_length", months=str(months))
    comp = t.non_compete_monthly_compensation
    if comp is None or comp <= 0:
        ctx.out.add("non_compete_compensation", "warn", "non_compete_none")
        return
    floor = (t.monthly_wage or Decimal(0)) * Decimal("0.3")
    minimum = _local_minimum(ctx)
    if minimum is not None:
        floor = max(floor, minimum)
    if comp < floor:
        ctx.out.add(
            "non_compete_compensation",
            "warn",
            "non_compete_low",
            comp=_money(comp),
            floor=_money(floor),
        )


# --- Written contract and open-ended contracts (Art. 10, 14, 82) --------------------


def _written_contract(ctx: _Ctx) -> None:
    t = ctx.terms
    if t.start_date is None:
        return
    start, sign = t.start_date.isoformat(), ctx.sign_date.isoformat()
    if ctx.sign_date >= add_months(t.start_date, 12):
        if t.contract_type != "open_ended":
            kind = _word("fixed_term" if t.contract_type == "fixed_term" else "task_based_kind")
            ctx.out.add(
                "written_contract_deemed_open_ended",
                "block",
                "written_deemed",
                start=start,
                sign=sign,
                kind=kind,
            )
        else:
            ctx.out.add("written_contract_late", "warn", "written_late", start=start, sign=sign)
    elif ctx.sign_date > deadline(t.start_date, 1):
        ctx.out.add("written_contract_late", "warn", "written_late", start=start, sign=sign)


def _open_ended_due(ctx: _Ctx) -> None:
    t = ctx.terms
    if t.contract_type == "open_ended":
        return
    ten_years = t.prior_service_years >= 10
    two_terms = t.prior_fixed_term_contracts >= 2
    if not (ten_years or two_terms):
        return
    if t.employee_requests_fixed_term:
        ctx.out.add("open_ended_due", "warn", "open_ended_requested")
    elif ten_years:
        years = _num(t.prior_service_years)
        ctx.out.add("open_ended_due", "block", "open_ended_ten_years", years=years)
    else:
        count = str(t.prior_fixed_term_contracts)
        ctx.out.add("open_ended_due", "warn", "open_ended_two_terms", count=count)


# --- Working hours (State Council provisions; Labour Law Art. 36-44) ----------------


def _hours(ctx: _Ctx) -> None:
    t = ctx.terms
    if t.hours_system != "standard":
        ctx.out.add("hours_system", "warn", "hours_system", system=_word(t.hours_system))
    else:
        if t.daily_hours is not None and t.daily_hours > 8:
            ctx.out.add("hours_daily", "block", "hours_daily", hours=_num(t.daily_hours))
        if t.weekly_hours is not None and t.weekly_hours > 40:
            ctx.out.add("hours_weekly", "block", "hours_weekly", hours=_num(t.weekly_hours))
    if t.rest_days_per_week is not None and t.rest_days_per_week < 1:
        ctx.out.add("rest_day", "block", "hours_missing_rest", days=str(t.rest_days_per_week))
    per_day = t.overtime_hours_per_day
    if per_day > 3:
        ctx.out.add("overtime_daily", "block", "overtime_daily_block", hours=_num(per_day))
    elif per_day > 1:
        ctx.out.add("overtime_daily", "warn", "overtime_daily_warn", hours=_num(per_day))
    if t.overtime_hours_per_month > 36:
        hours = _num(t.overtime_hours_per_month)
        ctx.out.add("overtime_monthly", "block", "overtime_monthly", hours=hours)
    for when, pct, minimum in (
        ("workday", t.overtime_pay_workday_percent, 150),
        ("rest_day", t.overtime_pay_rest_day_percent, 200),
        ("holiday", t.overtime_pay_holiday_percent, 300),
    ):
        if pct < minimum:
            ctx.out.add(
                "overtime_pay",
                "block",
                "overtime_pay",
                when=_word(when),
                pct=str(pct),
                min=str(minimum),
            )


# --- Text flags (Art. 9, 26, 46) ----------------------------------------------------

# (rule id, message key, negatable, keywords). Matching is on lower-cased text. For a
# negatable flag a keyword right after a prohibition ("甲方不得收取押金") is not a hit.
TEXT_FLAGS: tuple[tuple[str, str, bool, tuple[str, ...]], ...] = (
    (
        "text_id_retention",
        "text_id_retention",
        True,
        (
            "扣押身份证",
            "扣押证件",
            "扣押劳动者",
            "保管身份证",
            "收取身份证",
            "身份证原件由",
            "retain the id",
            "retain id",
            "keep the id card",
            "hold the passport",
            "retain the passport",
        ),
    ),
    (
        "text_deposit",
        "text_deposit",
        True,
        (
            "押金",
            "保证金",
            "风险金",
            "抵押",
            "担保",
            "集资",
            "deposit",
            "guarantee money",
            "guarantor",
            "security money",
        ),
    ),
    (
        "text_social_insurance_waiver",
        "text_social_insurance",
        False,
        (
            "放弃社保",
            "放弃缴纳",
            "放弃社会保险",
            "不缴纳社保",
            "不缴纳社会保险",
            "不参加社会保险",
            "不购买社保",
            "不交社保",
            "社保补贴代替",
            "waive social insurance",
            "waives social insurance",
            "no social insurance",
        ),
    ),
    (
        "text_no_severance",
        "text_no_severance",
        False,
        (
            "不支付经济补偿",
            "无经济补偿",
            "不予经济补偿",
            "不给予经济补偿",
            "no severance",
            "without severance",
        ),
    ),
    (
        "text_employer_exemption",
        "text_exemption",
        False,
        (
            "概不负责",
            "免除用人单位",
            "免除甲方",
            "甲方不承担",
            "用人单位不承担",
            "不承担任何责任",
            "工伤自理",
            "后果自负",
            "一切责任由乙方",
            "not liable",
            "no liability",
            "bears no responsibility",
        ),
    ),
)


def _quote(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return "“" + (text if len(text) <= limit else text[: limit - 1] + "…") + "”"


_NEGATIONS = (
    "不得",
    "不会",
    "不要求",
    "不收取",
    "无须",
    "无需",
    "禁止",
    "严禁",
    "not ",
    "no ",
    "never ",
)


_CLAUSE_BREAK = re.compile(r"[，。；;,.!?！？\n]")


def _hit(text: str, word: str, negatable: bool) -> bool:
    start = text.find(word)
    while start >= 0:
        # the part of the sentence before the keyword, back to the previous clause break
        before = _CLAUSE_BREAK.split(text[max(0, start - 30) : start])[-1]
        if not (negatable and any(neg in before for neg in _NEGATIONS)):
            return True
        start = text.find(word, start + 1)
    return False


def _text_flags(ctx: _Ctx) -> None:
    t = ctx.terms
    if t.deposit_amount > 0:
        ctx.out.add("text_deposit", "block", "deposit_amount", amount=_money(t.deposit_amount))
    for text in t.free_texts():
        lowered = text.lower()
        for rule_id, key, negatable, keywords in TEXT_FLAGS:
            if any(_hit(lowered, word, negatable) for word in keywords):
                ctx.out.add(rule_id, "block", key, quote=_quote(text))


CHECKS: tuple[Callable[[_Ctx], None], ...] = (
    _required_clauses,
    _term_dates,
    _id_number,
    _probation,
    _probation_wage,
    _minimum_wage,
    _liquidated_damages,
    _non_compete,
    _written_contract,
    _open_ended_due,
    _hours,
    _text_flags,
)


def check(
    terms: ContractTerms,
    *,
    today: dt.date,
    wages: MinimumWageTable | None = None,
) -> list[Finding]:
    """Apply every rule to ``terms``; blocking findings first.

    Args:
        terms: the contract terms.
        today: the day of the check; it stands for the signing date when the terms do not
            state one (``sign_date``), which matters for the written-contract deadlines.
        wages: the minimum-wage table (the shipped one when omitted).
    """
    ctx = _Ctx(
        terms=terms,
        sign_date=terms.sign_date or today,
        wages=wages or MinimumWageTable.load(),
        out=_Collector(),
    )
    for rule in CHECKS:
        rule(ctx)
    findings = ctx.out.findings
    return sorted(findings, key=lambda f: f.severity != "block")


def is_blocked(findings: Iterable[Finding]) -> bool:
    """True when any finding blocks sending the contract."""
    return any(f.severity == "block" for f in findings)


def archive_until(ended: dt.date) -> dt.date:
    """The first day an ended contract may be discarded (LCL Art. 50: two years)."""
    return add_months(ended, 12 * ARCHIVE_YEARS)
