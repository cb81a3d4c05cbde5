"""The coding answers' part of the candidate's PDF: verdict, score (correctness,
efficiency), each test's verdict and time, the advisory review and the code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from scoring.code_score import CodeResult

MAX_CODE_LINES = 60
MAX_LINE_CHARS = 110

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Coding answers",
        "verdict": "Verdict",
        "tests": "Tests passed",
        "score": "Score",
        "correctness": "Correctness",
        "efficiency": "Efficiency",
        "not_measured": "not measured",
        "test": "Test",
        "time": "Time (s)",
        "hidden": "hidden",
        "review": "Readability (AI, advisory)",
        "code": "Code",
        "accepted": "accepted",
        "wrong_answer": "wrong answer",
        "time_limit": "time limit exceeded",
        "memory_limit": "memory limit exceeded",
        "runtime_error": "runtime error",
        "output_limit": "output limit exceeded",
        "compile_error": "compile error",
    },
    "zh": {
        "title": "编程题",
        "verdict": "结果",
        "tests": "通过测试",
        "score": "得分",
        "correctness": "正确性",
        "efficiency": "效率",
        "not_measured": "未测",
        "test": "测试",
        "time": "用时（秒）",
        "hidden": "隐藏",
        "review": "可读性（AI 参考意见）",
        "code": "代码",
        "accepted": "通过",
        "wrong_answer": "答案错误",
        "time_limit": "超出时间限制",
        "memory_limit": "超出内存限制",
        "runtime_error": "运行错误",
        "output_limit": "输出超限",
        "compile_error": "编译错误",
    },
}


class CodingAnswerReport(BaseModel):
    question: str
    competency: str
    code: str
    result: CodeResult


def printable(text: str) -> str:
    """Code as the report font can draw it: ASCII and CJK kept, anything else '?'."""

    def keep(ch: str) -> bool:
        return (
            ch == "\n"
            or " " <= ch < "\x7f"
            or "\u4e00" <= ch <= "\u9fff"
            or "\u3000" <= ch <= "\u303f"
            or "\uff00" <= ch <= "\uffef"
        )

    return "".join(ch if keep(ch) else "?" for ch in text.replace("\t", "    "))


def code_excerpt(code: str) -> list[str]:
    lines = printable(code).split("\n")
    out = [ln[:MAX_LINE_CHARS] for ln in lines[:MAX_CODE_LINES]]
    if len(lines) > MAX_CODE_LINES:
        out.append(f"… (+{len(lines) - MAX_CODE_LINES})")
    return out


def texts(answers: list[CodingAnswerReport], lang: str) -> list[str]:
    """Every string the section draws (the report checks their glyphs first)."""
    out = list(TEXTS[lang].values())
    for answer in answers:
        out += [answer.question, answer.competency, answer.result.review]
        out += [str(test.get("name", "")) for test in answer.result.tests]
        out += code_excerpt(answer.code)
    return out


def render(
    pdf: Any,
    line: Callable[..., None],
    answers: list[CodingAnswerReport],
    lang: str,
    headings: Any,
    font: str,
) -> None:
    from fpdf.enums import WrapMode

    if not answers:
        return
    t = TEXTS[lang]
    pdf.ln(3)
    line(t["title"], size=13, h=8)
    for answer in answers:
        r = answer.result
        eff = t["not_measured"] if r.efficiency is None else f"{r.efficiency:.0f}"
        line(f"{answer.question}", size=11, h=6)
        line(
            f"{answer.competency} · {t['verdict']}: {t.get(r.verdict, r.verdict)} · "
            f"{t['tests']}: {r.passed}/{r.total} · {t['score']}: {r.score:.1f} "
            f"({t['correctness']} {r.correctness:.0f}, {t['efficiency']} {eff})"
        )
        pdf.set_font(font, size=9)
        with pdf.table(
            col_widths=(80, 60, 30),
            wrapmode=WrapMode.CHAR,
            text_align="LEFT",
            headings_style=headings,
            line_height=5,
        ) as table:
            header = table.row()
            for key in ("test", "verdict", "time"):
                header.cell(t[key])
            for test in r.tests:
                row = table.row()
                hidden = f" ({t['hidden']})" if test.get("hidden") else ""
                row.cell(f"{test.get('name', '')}{hidden}")
                verdict = str(test.get("verdict", ""))
                row.cell(t.get(verdict, verdict))
                row.cell(f"{float(test.get('seconds', 0)):.2f}")
        if r.readability is not None:
            line(f"{t['review']}: {r.readability}/5 — {r.review}", size=9, h=5)
        line(f"{t['code']}:", size=9, h=5)
        for code_line in code_excerpt(answer.code):
            line(code_line or " ", size=8, h=4, color=(40, 40, 40))
