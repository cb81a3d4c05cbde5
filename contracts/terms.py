"""The terms of a labour contract, as HR enters them and as ``TERMS.json`` holds them.

Field names are the public JSON contract of ``python main.py contract check``. The model
is deliberately lenient about *missing* particulars (empty strings, ``None``): the rule
engine reports every missing Art. 17 clause at once instead of failing on the first one.
It is strict about shape (unknown keys, negative amounts, wrong types are errors), so a
typo in a field name cannot silently drop a clause.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import ContractError

ContractType = Literal["fixed_term", "open_ended", "task_based"]
HoursSystem = Literal["standard", "comprehensive", "flexible"]
# Who may be bound by a non-compete (LCL Art. 24): senior managers, senior technical
# staff and other staff with confidentiality duties.
RoleCategory = Literal["ordinary", "senior_manager", "senior_technical", "confidentiality"]
IdType = Literal["resident_id", "passport", "hk_macau_permit", "taiwan_permit", "other"]

Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
Hours = Annotated[Decimal, Field(ge=0, le=24 * 7)]

# Canonical liquidated-damages reasons. Anything else is barred by LCL Art. 25.
SERVICE_PERIOD = "service_period"
NON_COMPETE = "non_compete"
_REASON_ALIASES = {
    SERVICE_PERIOD: ("service_period", "service period", "training", "服务期", "培训"),
    NON_COMPETE: ("non_compete", "non-compete", "noncompete", "竞业限制", "竞业"),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class EmployeeParty(_Strict):
    """The worker's Art. 17 particulars (name, address, ID number) plus contact data."""

    name: str = ""
    address: str = ""
    id_type: IdType = "resident_id"
    id_number: str = ""
    phone: str = ""
    email: str = ""


class EmployerParty(_Strict):
    """The employer's Art. 17 particulars (name, domicile, legal representative)."""

    name: str = ""
    domicile: str = ""
    legal_representative: str = ""
    credit_code: str = ""  # 统一社会信用代码, optional
    phone: str = ""


class LiquidatedDamages(_Strict):
    """A liquidated-damages clause the employee would pay.

    ``reason`` is ``service_period`` or ``non_compete`` (Chinese aliases such as 服务期,
    竞业限制 are understood); any other reason is reported as barred by LCL Art. 25.
    """

    reason: str
    amount: Money

    def canonical_reason(self) -> str | None:
        """``service_period``, ``non_compete`` or None for an unrecognised reason."""
        text = self.reason.strip().lower()
        for canonical, aliases in _REASON_ALIASES.items():
            if any(alias in text for alias in aliases):
                return canonical
        return None


class ContractTerms(_Strict):
    """Everything the pre-check and the templates need.

    Dates: ``end_date`` is the last day of the contract, inclusive, the way Chinese
    contracts state a term (自2026年1月5日起至2027年1月4日止 is exactly one year).
    """

    contract_type: ContractType
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    task_description: str = ""  # task-based contracts: the task whose completion ends it
    probation_months: int = Field(0, ge=0, le=120)
    probation_used_before: bool = False  # a probation already agreed with this employee

    monthly_wage: Money | None = None
    probation_wage: Money | None = None  # None: the full monthly wage
    same_post_lowest_wage: Money | None = None  # lowest wage for the same post (Art. 20)
    pay_day: int = Field(15, ge=1, le=31)

    city: str = ""
    position: str = ""
    workplace: str = ""

    hours_system: HoursSystem = "standard"
    daily_hours: Hours | None = Decimal(8)
    weekly_hours: Hours | None = Decimal(40)
    rest_days_per_week: int | None = Field(2, ge=0, le=7)
    annual_leave_days: int | None = Field(None, ge=0, le=366)
    overtime_hours_per_day: Hours = Decimal(0)
    overtime_hours_per_month: Hours = Decimal(0)
    overtime_pay_workday_percent: int = Field(150, ge=0)
    overtime_pay_rest_day_percent: int = Field(200, ge=0)
    overtime_pay_holiday_percent: int = Field(300, ge=0)

    liquidated_damages: list[LiquidatedDamages] = Field(default_factory=list)
    role_category: RoleCategory = "ordinary"
    non_compete_months: int = Field(0, ge=0, le=600)
    non_compete_monthly_compensation: Money | None = None
    training_cost: Money | None = None
    service_period_months: int | None = Field(None, ge=0, le=600)

    social_insurance: bool = True  # clause: the employer enrols the employee by law
    labour_protection: bool = True  # clause: labour protection, conditions, hazard protection
    occupational_hazards: str = ""  # hazards of the post the employee is told about (Art. 8)
    deposit_amount: Money = Decimal(0)  # any deposit/guarantee asked of the employee
    additional_clauses: list[str] = Field(default_factory=list)

    sign_date: dt.date | None = None  # None: the day of the check
    prior_service_years: Decimal = Field(Decimal(0), ge=0, le=80)
    prior_fixed_term_contracts: int = Field(0, ge=0, le=100)
    employee_requests_fixed_term: bool = False

    employee: EmployeeParty = Field(default_factory=EmployeeParty)
    employer: EmployerParty = Field(default_factory=EmployerParty)

    def effective_probation_wage(self) -> Decimal | None:
        """The wage paid during probation (the full wage when none is stated)."""
        return self.probation_wage if self.probation_wage is not None else self.monthly_wage

    def free_texts(self) -> list[str]:
        """Every free-text clause the text-flag rules scan."""
        texts = list(self.additional_clauses)
        texts += [self.task_description, self.occupational_hazards]
        texts += [item.reason for item in self.liquidated_damages]
        return [text for text in texts if text]


def parse_terms(data: object) -> ContractTerms:
    """Validate a decoded JSON object into :class:`ContractTerms`.

    Raises:
        ContractError: listing every invalid field.
    """
    try:
        return ContractTerms.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ContractError("invalid contract terms:\n  " + "\n  ".join(problems)) from exc


@dataclass(frozen=True)
class FieldProblem:
    """One invalid value, by the top-level key HR typed and a kind a message exists for.

    ``kind`` is one of :data:`PROBLEM_KINDS`; ``allowed`` says what would be accepted
    (the choices or the range), ``value`` is what was given (shortened).
    """

    key: str
    kind: str
    value: str = ""
    allowed: str = ""


PROBLEM_KINDS = ("amount", "date", "integer", "yes_no", "choice", "range", "unknown", "invalid")
_KIND_OF = {
    "decimal_parsing": "amount",
    "decimal_type": "amount",
    "finite_number": "amount",
    "decimal_max_digits": "amount",
    "decimal_max_places": "amount",
    "decimal_whole_digits": "amount",
    "date_parsing": "date",
    "date_from_datetime_parsing": "date",
    "date_from_datetime_inexact": "date",
    "date_type": "date",
    "int_parsing": "integer",
    "int_parsing_size": "integer",
    "int_type": "integer",
    "int_from_float": "integer",
    "bool_parsing": "yes_no",
    "bool_type": "yes_no",
    "literal_error": "choice",
    "greater_than_equal": "range",
    "less_than_equal": "range",
    "greater_than": "range",
    "less_than": "range",
    "extra_forbidden": "unknown",
}


def _limits(key: str) -> str:
    """``1–31``, ``≥ 0`` ...: the bounds a field declares."""
    info = ContractTerms.model_fields.get(key)
    low = high = None
    for item in info.metadata if info is not None else ():
        low = getattr(item, "ge", low)
        high = getattr(item, "le", high)
    if low is not None and high is not None:
        return f"{low}–{high}"
    return f"≥ {low}" if low is not None else (f"≤ {high}" if high is not None else "")


def _choices(key: str) -> str:
    info = ContractTerms.model_fields.get(key)
    return ", ".join(str(a) for a in get_args(info.annotation)) if info is not None else ""


def field_problems(data: object) -> list[FieldProblem]:
    """Every invalid value of ``data`` (a :class:`ContractTerms` mapping), one per key.

    Unlike :func:`parse_terms` the result names the key HR typed and a kind of mistake,
    so the chat can say what is wrong in the user's language.
    """
    try:
        ContractTerms.model_validate(data)
    except ValidationError as exc:
        found: dict[str, FieldProblem] = {}
        for err in exc.errors():
            key = str(err["loc"][0]) if err["loc"] else "(root)"
            kind = _KIND_OF.get(err["type"], "invalid")
            limits = err.get("ctx") or {}
            if kind == "choice":
                allowed = _choices(key)
            elif kind in ("range", "integer"):
                allowed = _limits(key) or " ".join(
                    f"{sign} {limits[bound]}"
                    for bound, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))
                    if bound in limits
                )
            else:
                allowed = ""
            value = err.get("input")
            shown = value if isinstance(value, str | int | float) else ""
            found.setdefault(key, FieldProblem(key, kind, str(shown)[:40], allowed))
        return list(found.values())
    return []


def load_terms(path: Path | str) -> ContractTerms:
    """Read and validate a ``TERMS.json`` file.

    Raises:
        ContractError: the file is missing, not JSON, or has invalid fields.
    """
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ContractError(f"{file}: file not found") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ContractError(f"{file}: not valid JSON: {exc}") from exc
    return parse_terms(data)
