"""Render a labour contract PDF (Chinese) with fpdf2 and an embedded CJK font.

The PDF ends with a signature block (employer and employee fields) and an audit-trail
page whose box the sealing step fills. The empty signature fields are added here, with
pyHanko, so the unsigned PDF the candidate reviews is byte for byte the one that gets
signed. A character the font cannot draw is an error: fpdf2 would only log it and drop it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from io import BytesIO
from pathlib import Path

from fpdf import FPDF
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.fields import SigFieldSpec, append_signature_field

from contracts.dates import last_day_of_months
from contracts.fonts import FontFile, cjk_font
from contracts.templates import ZH
from contracts.terms import ContractTerms
from core.errors import ContractError

FIELD_EMPLOYER = "employer"
FIELD_EMPLOYEE = "employee"
FIELD_AUDIT = "audit_seal"

PAGE_W, PAGE_H, MARGIN = 210.0, 297.0, 20.0
PT_PER_MM = 72 / 25.4
FONT = "cjk"
BODY_SIZE, LINE_H = 10.5, 6.2


@dataclass(frozen=True)
class FieldBox:
    """An empty signature field: page index and box in PDF points (origin bottom-left)."""

    name: str
    page: int
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class RenderedContract:
    """The unsigned contract and where its signature fields are."""

    pdf: bytes
    fields: tuple[FieldBox, ...]
    pages: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.pdf).hexdigest()


# --- text helpers ------------------------------------------------------------------

_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_SECTIONS = ("", "万", "亿", "万亿")


def _four_digits(n: int) -> str:
    text, zero = "", False
    for power, unit in ((3, "仟"), (2, "佰"), (1, "拾"), (0, "")):
        digit = n // 10**power % 10
        if digit == 0:
            zero = bool(text)
        else:
            if zero:
                text += "零"
                zero = False
            text += _DIGITS[digit] + unit
    return text


def rmb_upper(amount: Decimal) -> str:
    """An amount in Chinese financial numerals: 12000 -> 壹万贰仟元整."""
    cents = int((amount * 100).quantize(Decimal(1)))
    if cents < 0:
        raise ContractError("negative amount")
    yuan, jiao, fen = cents // 100, cents // 10 % 10, cents % 10
    groups: list[int] = []
    rest = yuan
    while rest:
        groups.append(rest % 10000)
        rest //= 10000
    text, gap = "", False
    for index in reversed(range(len(groups))):
        group = groups[index]
        if group == 0:
            gap = bool(text)
            continue
        if text and (gap or group < 1000):
            text += "零"
        text += _four_digits(group) + _SECTIONS[index]
        gap = False
    if not text:
        text = "零" if not (jiao or fen) else ""
    if text:
        text += "元"
    if not (jiao or fen):
        return text + "整"
    if jiao:
        text += _DIGITS[jiao] + "角"
    elif yuan:
        text += "零"
    if fen:
        text += _DIGITS[fen] + "分"
    return text


def zh_date(day: dt.date) -> str:
    """2026-03-02 -> 2026年3月2日."""
    return f"{day.year}年{day.month}月{day.day}日"


_SMALL = "零一二三四五六七八九"


def zh_number(n: int) -> str:
    """Article and clause numbers: 1 -> 一, 12 -> 十二, 105 -> 一百零五, 12000 -> 一万二千.

    Any count of additional clauses that the pre-check accepts gets numbered.
    """
    if n < 0:
        raise ValueError(f"zh_number: {n} is negative")
    if n < 10_000:
        text = _below_ten_thousand(n) or _SMALL[0]
        return text[1:] if text.startswith("一十") else text
    high, low = divmod(n, 10_000)
    text = zh_number(high) + "万"
    if low:
        text += ("零" if low < 1000 else "") + _below_ten_thousand(low)
    return text


def _below_ten_thousand(n: int) -> str:
    """0 < n < 10000 in full (一十二, not 十二); a gap of zeros reads as one 零."""
    text, gap = "", False
    for unit, digit in zip("千百十 ", f"{n:04d}", strict=True):
        if digit == "0":
            gap = gap or bool(text)
            continue
        text += ("零" if gap else "") + _SMALL[int(digit)] + unit.strip()
        gap = False
    return text


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):,}"


def _num(value: Decimal | int | None) -> str:
    text = f"{value}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# A run of ASCII letters/digits (with the unit character after it) is never split;
# everything else breaks between any two characters.
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9.,:%/\-+@_']*[年月日元号个%]?|\s+|.", re.S)
_NO_LINE_START = set("，。、；：？！）】》」』”’%·…,.;:?!)")
_NO_LINE_END = set("（【《「『“‘(")


def wrap_lines(
    width_of: Callable[[str], float], text: str, width: float, first_indent: float = 0
) -> list[str]:
    """Break ``text`` into lines no wider than ``width`` (CJK rules, hanging punctuation)."""
    lines: list[str] = []
    line, used, limit = "", 0.0, width - first_indent
    for token in _TOKEN.findall(text):
        if token.isspace() and not line:
            continue
        tw = width_of(token)
        if line and used + tw > limit and token not in _NO_LINE_START:
            carry = ""
            while line and line[-1] in _NO_LINE_END:
                carry, line = line[-1] + carry, line[:-1]
            lines.append(line.rstrip())
            line, used, limit = carry, width_of(carry) if carry else 0.0, width
            if token.isspace():
                continue
        line += token
        used += tw
    if line.strip():
        lines.append(line.rstrip())
    return lines


class _Width:
    def __init__(self, pdf: FPDF) -> None:
        self.pdf = pdf

    def __call__(self, text: str) -> float:
        return float(self.pdf.get_string_width(text))


class _ContractPDF(FPDF):
    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(FONT, size=8)
        self.cell(0, 6, ZH["footer"].format(page=self.page_no()), align="C")


# --- the document ------------------------------------------------------------------


class _Writer:
    def __init__(self, font: FontFile, created: dt.datetime | None) -> None:
        pdf = _ContractPDF(format="A4", unit="mm")
        pdf.set_margins(MARGIN, MARGIN, MARGIN)
        pdf.set_auto_page_break(True, margin=MARGIN)
        if font.face is not None:
            pdf.add_font(FONT, fname=str(font.path), collection_font_number=font.face)
        else:
            pdf.add_font(FONT, fname=str(font.path))
        if created is not None:
            pdf.set_creation_date(created)
        pdf.set_title("劳动合同")
        pdf.set_creator("chat-interviewer contracts")
        self.pdf = pdf
        self.width = _Width(pdf)
        self.article_no = 0

    @property
    def text_width(self) -> float:
        return PAGE_W - 2 * MARGIN

    def para(
        self, text: str, *, size: float = BODY_SIZE, indent: bool = True, gap: float = 1.5
    ) -> None:
        pdf = self.pdf
        pdf.set_font(FONT, size=size)
        first = 2 * self.width("中") if indent else 0.0
        for index, line in enumerate(wrap_lines(self.width, text, self.text_width, first)):
            pdf.set_x(MARGIN + (first if index == 0 else 0))
            pdf.cell(0, LINE_H * size / BODY_SIZE, line, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(gap)

    def heading(self, text: str, size: float = 16) -> None:
        self.pdf.set_font(FONT, size=size)
        self.pdf.cell(0, 12, text, align="C", new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(2)

    def article(self, title_key: str, *paragraphs: str) -> None:
        self.article_no += 1
        if self.pdf.get_y() > PAGE_H - MARGIN - 25:  # keep a heading with its text
            self.pdf.add_page()
        self.para(
            ZH["article"].format(n=zh_number(self.article_no), title=ZH[title_key]),
            size=11.5,
            indent=False,
            gap=0.5,
        )
        for text in paragraphs:
            self.para(text)

    def box_at(self, x: float, y: float, w: float, h: float) -> tuple[int, int, int, int]:
        """Draw a light frame and return the same rectangle in PDF points."""
        self.pdf.set_draw_color(170, 170, 170)
        self.pdf.rect(x, y, w, h)
        self.pdf.set_draw_color(0, 0, 0)
        return (
            round(x * PT_PER_MM),
            round((PAGE_H - y - h) * PT_PER_MM),
            round((x + w) * PT_PER_MM),
            round((PAGE_H - y) * PT_PER_MM),
        )


def _parties(w: _Writer, t: ContractTerms, contract_no: str) -> None:
    w.heading(ZH[f"title.{t.contract_type}"])
    w.para(ZH["contract_no"].format(no=contract_no), size=9, indent=False, gap=3)
    er, ee = t.employer, t.employee
    lines = [ZH["party.employer"].format(name=er.name)]
    lines.append(ZH["party.domicile"].format(domicile=er.domicile))
    lines.append(ZH["party.legal_rep"].format(rep=er.legal_representative))
    if er.credit_code:
        lines.append(ZH["party.credit_code"].format(code=er.credit_code))
    if er.phone:
        lines.append(ZH["party.employer_phone"].format(phone=er.phone))
    for line in lines:
        w.para(line, indent=False, gap=0)
    w.pdf.ln(3)
    id_key = "party.id.resident_id" if ee.id_type == "resident_id" else "party.id.other"
    lines = [ZH["party.employee"].format(name=ee.name), ZH[id_key].format(number=ee.id_number)]
    lines.append(ZH["party.address"].format(address=ee.address))
    if ee.phone:
        lines.append(ZH["party.phone"].format(phone=ee.phone))
    for line in lines:
        w.para(line, indent=False, gap=0)
    w.pdf.ln(3)
    w.para(ZH["preamble"])


def _clauses(w: _Writer, t: ContractTerms) -> None:
    start = zh_date(t.start_date) if t.start_date else "____年__月__日"
    if t.contract_type == "fixed_term":
        end = zh_date(t.end_date) if t.end_date else "____年__月__日"
        term = ZH["term.fixed_term"].format(start=start, end=end)
    elif t.contract_type == "open_ended":
        term = ZH["term.open_ended"].format(start=start)
    else:
        term = ZH["term.task_based"].format(start=start, task=t.task_description.rstrip("。"))
    if t.probation_months and t.start_date:
        prob_end = zh_date(last_day_of_months(t.start_date, t.probation_months))
        term += ZH["term.probation"].format(months=t.probation_months, start=start, end=prob_end)
    else:
        term += ZH["term.no_probation"]
    w.article("term.title", term)
    w.article("job.title", ZH["job.text"].format(position=t.position, workplace=t.workplace))

    rest = t.rest_days_per_week if t.rest_days_per_week is not None else 1
    hours = ZH[f"hours.{t.hours_system}"].format(
        daily=_num(t.daily_hours), weekly=_num(t.weekly_hours), rest=rest
    )
    overtime = ZH["hours.overtime"].format(
        workday=t.overtime_pay_workday_percent,
        rest_day=t.overtime_pay_rest_day_percent,
        holiday=t.overtime_pay_holiday_percent,
    )
    if t.annual_leave_days:
        leave = ZH["hours.leave_days"].format(days=t.annual_leave_days)
    else:
        leave = ZH["hours.leave_law"]
    w.article("hours.title", hours, overtime, leave)

    wage = t.monthly_wage or Decimal(0)
    pay = ZH["pay.wage"].format(wage=_money(wage), wage_upper=rmb_upper(wage))
    if t.probation_months:
        prob = t.effective_probation_wage() or Decimal(0)
        pay += ZH["pay.probation"].format(prob=_money(prob), prob_upper=rmb_upper(prob))
    w.article("pay.title", pay, ZH["pay.schedule"].format(day=t.pay_day))
    w.article("insurance.title", ZH["insurance.text"])
    hazards = (
        ZH["protection.hazards"].format(hazards=t.occupational_hazards.rstrip("。；;"))
        if t.occupational_hazards
        else ZH["protection.no_hazards"]
    )
    w.article("protection.title", ZH["protection.text"], hazards)

    damages = {item.canonical_reason(): item.amount for item in t.liquidated_damages}
    if t.training_cost and t.service_period_months:
        texts = [
            ZH["service.text"].format(cost=_money(t.training_cost), months=t.service_period_months)
        ]
        if "service_period" in damages:
            texts.append(ZH["service.damages"].format(amount=_money(damages["service_period"])))
        w.article("service.title", *texts)
    if t.non_compete_months:
        texts = [ZH["noncompete.text"].format(months=t.non_compete_months)]
        comp = t.non_compete_monthly_compensation
        if comp:
            texts.append(ZH["noncompete.compensation"].format(amount=_money(comp)))
        else:
            texts.append(ZH["noncompete.no_compensation"])
        if "non_compete" in damages:
            texts.append(ZH["noncompete.damages"].format(amount=_money(damages["non_compete"])))
        w.article("noncompete.title", *texts)
    w.article("end.title", ZH["end.text"])
    if t.additional_clauses:
        items = [
            ZH["other.item"].format(n=zh_number(i), text=text)
            for i, text in enumerate(t.additional_clauses, start=1)
        ]
        w.article("other.title", *items)
    w.article("dispute.title", ZH["dispute.text"])
    w.article("form.title", ZH["form.text"])


def _signature_block(w: _Writer) -> list[FieldBox]:
    pdf = w.pdf
    w.para(ZH["no_more_text"], indent=False)
    if pdf.get_y() + 58 > PAGE_H - MARGIN:
        pdf.add_page()
        w.para(ZH["signature_page"], indent=False)
    pdf.ln(6)
    top = pdf.get_y()
    half = (w.text_width - 10) / 2
    pdf.set_font(FONT, size=BODY_SIZE)
    pdf.set_xy(MARGIN, top)
    pdf.cell(half, 7, ZH["sign.employer"])
    pdf.set_xy(MARGIN + half + 10, top)
    pdf.cell(half, 7, ZH["sign.employee"])
    employer = w.box_at(MARGIN, top + 8, half, 36)
    employee = w.box_at(MARGIN + half + 10, top + 8, half, 36)
    page = pdf.page_no() - 1
    pdf.set_xy(MARGIN, top + 46)
    w.para(ZH["sign.note"], size=8.5, indent=False)
    return [FieldBox(FIELD_EMPLOYER, page, employer), FieldBox(FIELD_EMPLOYEE, page, employee)]


def _audit_page(w: _Writer, contract_no: str) -> FieldBox:
    w.pdf.add_page()
    w.heading(ZH["audit.title"], size=14)
    w.para(ZH["audit.intro"].format(no=contract_no), size=9.5)
    top = w.pdf.get_y() + 3
    box = w.box_at(MARGIN, top, w.text_width, PAGE_H - MARGIN - 8 - top)
    return FieldBox(FIELD_AUDIT, w.pdf.page_no() - 1, box)


def _check_glyphs(pdf: FPDF) -> None:
    missing: set[int] = set()
    for font in pdf.fonts.values():
        missing.update(getattr(font, "missing_glyphs", ()))
    if missing:
        chars = " ".join(f"{chr(code)!r} (U+{code:04X})" for code in sorted(missing))
        raise ContractError(f"the contract font cannot draw: {chars}")


def _close_fonts(pdf: FPDF) -> None:
    # fontTools opens fonts lazily and keeps the file open until closed
    for font in pdf.fonts.values():
        ttfont = getattr(font, "ttfont", None)
        if ttfont is not None:
            ttfont.close()


def add_signature_fields(pdf: bytes, fields: tuple[FieldBox, ...]) -> bytes:
    """Append empty signature fields (an incremental update), all before any signing."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    for field in fields:
        spec = SigFieldSpec(sig_field_name=field.name, on_page=field.page, box=field.box)
        append_signature_field(writer, spec)
    out = BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


def render_contract(
    terms: ContractTerms,
    *,
    contract_no: str = "DRAFT",
    font: FontFile | None = None,
    created: dt.datetime | None = None,
) -> RenderedContract:
    """Render the unsigned contract with its empty signature fields.

    Args:
        terms: the checked terms (rendering does not re-check them).
        contract_no: the number printed on the contract and its audit page.
        font: a font to use instead of the packaged Noto Sans SC.
        created: the PDF creation date (fixed for reproducible output).

    Raises:
        ContractError: a character cannot be drawn with the font, or no font is installed.
    """
    writer = _Writer(font or cjk_font(), created)
    try:
        writer.pdf.add_page()
        _parties(writer, terms, contract_no)
        _clauses(writer, terms)
        fields = _signature_block(writer)
        fields.append(_audit_page(writer, contract_no))
        _check_glyphs(writer.pdf)
        raw = bytes(writer.pdf.output())
    finally:
        _close_fonts(writer.pdf)
    final = tuple(fields)
    return RenderedContract(add_signature_fields(raw, final), final, writer.pdf.page_no())


def write_contract(
    terms: ContractTerms, out: Path, *, contract_no: str = "DRAFT"
) -> RenderedContract:
    """Render ``terms`` into the file ``out``, owner-only (see :func:`render_contract`).

    For the operator's ``contract render`` command; the bot stores contracts encrypted
    (:mod:`contracts.files`).
    """
    rendered = render_contract(terms, contract_no=contract_no)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # personal data: owner-only
    with os.fdopen(fd, "wb") as handle:
        handle.write(rendered.pdf)
    return rendered
