"""Reports HR receives in the group chat: a per-candidate PDF and a batch ranking chart.

``render_candidate_report`` is a pure function of a pydantic ``CandidateReportData``
(the CLI fills it from the database). The PDF uses fpdf2 with a font that has Chinese
glyphs (Noto Sans SC from ``pylopdf-fonts-zh-cn``, else face 2 of Debian's
``NotoSansCJK-Regular.ttc``). A character the font cannot draw is an error: fpdf2 would
only log it and drop the character, so every text is checked against the font's cmap
first, and the rendered document's ``missing_glyphs`` once more at the end.
Charts are matplotlib PNGs drawn with the same font.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator

from core.errors import InterviewerError
from scoring import code_report
from scoring.code_report import CodingAnswerReport
from scoring.composite import RankEntry
from scoring.star import ELEMENTS, Evaluation
from scoring.star_texts import Lang, text

DEBIAN_TTC = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
DEBIAN_SC_FACE = 2  # in the collection, face 2 is Simplified Chinese (0 is Japanese)
FONT = "cjk"
EXCERPT_CHARS = 400
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


class ReportError(InterviewerError):
    """A report could not be rendered (no CJK font, a glyph the font lacks, bad data)."""


class FontChoice(BaseModel):
    path: Path
    face: int = 0


def find_cjk_font() -> FontChoice:
    """The packaged Noto Sans SC OTF, else Debian's Noto Sans CJK (face 2).

    Raises:
        ReportError: neither is installed.
    """
    try:
        import pylopdf_fonts_zh_cn

        otf = Path(pylopdf_fonts_zh_cn.sans_path())
        if otf.is_file():
            return FontChoice(path=otf)
    except (ImportError, AttributeError):
        pass
    if DEBIAN_TTC.is_file():
        return FontChoice(path=DEBIAN_TTC, face=DEBIAN_SC_FACE)
    raise ReportError(
        "no Simplified Chinese font: install pylopdf-fonts-zh-cn (PyPI) or fonts-noto-cjk (Debian)"
    )


def _cmap(font: FontChoice) -> set[int]:
    from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

    with TTFont(str(font.path), fontNumber=font.face, lazy=True) as tt:
        return set(tt.getBestCmap().keys())


def check_glyphs(texts: Iterable[str], font: FontChoice) -> None:
    """Raise when any character of ``texts`` is missing from the font.

    Raises:
        ReportError: naming the missing characters.
    """
    cmap = _cmap(font)
    missing = sorted({ch for t in texts for ch in t if not ch.isspace() and ord(ch) not in cmap})
    if missing:
        listed = " ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in missing[:20])
        raise ReportError(f"the report font cannot draw: {listed}")


# ---------------------------------------------------------------- input model


class AnswerReport(BaseModel):
    question: str
    competency: str
    transcript: str
    evaluation: Evaluation


class CompetencyLine(BaseModel):
    name: str
    weight: float = Field(ge=0, le=100)
    score: float | None = Field(default=None, ge=0, le=100)


class HumanScoreLine(BaseModel):
    """One competency as people scored it (1-5, mean over scorers) beside the AI's 0-100."""

    name: str
    ai: float | None = Field(default=None, ge=0, le=100)
    human: float | None = Field(default=None, ge=1, le=5)
    scorers: int = Field(default=0, ge=0)
    comments: list[str] = Field(default_factory=list)


class CandidateReportData(BaseModel):
    """Everything one candidate's PDF shows."""

    lang: Lang = "zh"
    candidate_id: str
    candidate_name: str
    job_title: str
    total: float | None = Field(default=None, ge=0, le=100)
    provisional: bool = False
    pass_line: float = Field(ge=0, le=100)
    rank: int | None = Field(default=None, ge=1)
    batch_size: int | None = Field(default=None, ge=1)
    tied: bool = False
    vs_job_average: float | None = None
    percentile: float | None = Field(default=None, ge=0, le=100)
    competencies: list[CompetencyLine]
    answers: list[AnswerReport]
    generated_at: dt.datetime
    human: list[HumanScoreLine] = Field(default_factory=list)  # optional: scores by people
    coding: list[CodingAnswerReport] = Field(default_factory=list)  # coding answers

    @field_validator("generated_at")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("generated_at must be timezone-aware")
        return value


# ---------------------------------------------------------------- charts


def _font_properties(font: FontChoice) -> Any:
    from matplotlib import font_manager

    # For a .ttc matplotlib uses the first face (Japanese), which still has the common
    # Hanzi; the packaged OTF (a declared dependency) is the usual choice.
    return font_manager.FontProperties(fname=str(font.path))


def competency_chart_png(data: CandidateReportData, font: FontChoice) -> bytes:
    """Horizontal bars of the competency scores with the pass line."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fp = _font_properties(font)
    lang = data.lang
    names = [f"{c.name} ({text(lang, 'rep.weight')} {c.weight:g}%)" for c in data.competencies]
    values = [c.score or 0.0 for c in data.competencies]
    fig, ax = plt.subplots(figsize=(7, 0.55 * len(names) + 1.4), dpi=130)
    try:
        bars = ax.barh(range(len(names)), values, color="#4C72B0")
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels(names, fontproperties=fp)
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.axvline(data.pass_line, color="#C44E52", linestyle="--", linewidth=1)
        ax.set_title(text(lang, "rep.chart_title"), fontproperties=fp)
        for bar, comp in zip(bars, data.competencies, strict=True):
            label = f"{comp.score:.0f}" if comp.score is not None else text(lang, "rep.not_scored")
            ax.text(
                bar.get_width() + 1,
                bar.get_y() + bar.get_height() / 2,
                label,
                va="center",
                fontproperties=fp,
            )
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)


def ranking_chart_png(
    entries: Sequence[RankEntry],
    names: Mapping[str, str],
    *,
    pass_line: float,
    job_average: float | None = None,
    lang: Lang = "zh",
    path: Path | None = None,
) -> bytes:
    """The batch ranking as a PNG (best at the top), with pass line and job average.

    Raises:
        ReportError: nothing to rank, or a name the font cannot draw.
    """
    from matplotlib import pyplot as plt

    fig, _ = ranking_figure(entries, names, pass_line=pass_line, job_average=job_average, lang=lang)
    try:
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    png = buf.getvalue()
    if path is not None:
        path.write_bytes(png)
    return png


def ranking_figure(
    entries: Sequence[RankEntry],
    names: Mapping[str, str],
    *,
    pass_line: float,
    job_average: float | None = None,
    lang: Lang = "zh",
) -> tuple[Any, dict[str, Any]]:
    """The ranking chart's matplotlib figure (the caller closes it) and its labelled
    artists by role: ``title``, ``pass`` and, with a job average, ``average``.

    The line labels sit inside the axes, in rows of their own below the bars (one row
    per label, a white box behind each), on the side of their line that keeps them
    inside: they never cover the title, a bar or each other, whatever the batch size.
    """
    if not entries:
        raise ReportError("no ranked candidates to chart")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    font = find_cjk_font()
    labels = [
        f"{e.rank}{'=' if e.tied else ''}. {names.get(e.candidate_id, e.candidate_id)}"
        for e in entries
    ]
    pass_text = f"{text(lang, 'rep.pass_line')} {pass_line:g}"
    average_text = (
        f"{text(lang, 'rep.average')} {job_average:.1f}" if job_average is not None else ""
    )
    check_glyphs([*labels, text(lang, "rep.rank_chart_title"), pass_text, average_text], font)
    fp = _font_properties(font)
    n = len(entries)
    lines: list[tuple[str, float, str, str]] = [("pass", pass_line, pass_text, "#A83236")]
    if job_average is not None:
        lines.append(("average", job_average, average_text, "#2F5A9E"))
    fig, ax = plt.subplots(figsize=(7, 0.45 * (n + len(lines)) + 1.5), dpi=130)
    artists: dict[str, Any] = {}
    try:
        colors = ["#55A868" if e.total >= pass_line else "#8C8C8C" for e in entries]
        bars = ax.barh(range(n), [e.total for e in entries], color=colors)
        ax.set_yticks(range(n))
        ax.set_yticklabels(labels, fontproperties=fp)
        # Rows n, n+1 (below the last bar) hold the line labels.
        ax.set_ylim(n + len(lines) - 0.4, -0.6)
        ax.set_xlim(0, 100)
        for row, (role, x, label, color) in enumerate(lines, start=n):
            style = "--" if role == "pass" else ":"
            ax.axvline(x, color=color, linestyle=style, linewidth=1.2)
            right = x > 50  # the label goes on the side with room for it
            artists[role] = ax.text(
                x - 1 if right else x + 1,
                row,
                label,
                color=color,
                fontproperties=fp,
                ha="right" if right else "left",
                va="center",
                bbox={"facecolor": "white", "edgecolor": color, "boxstyle": "round,pad=0.25"},
            )
        artists["title"] = ax.set_title(text(lang, "rep.rank_chart_title"), fontproperties=fp)
        for bar, entry in zip(bars, entries, strict=True):
            ax.text(
                bar.get_width() + 1,
                bar.get_y() + bar.get_height() / 2,
                f"{entry.total:.1f}",
                va="center",
                fontproperties=fp,
            )
        fig.tight_layout()
    except BaseException:
        plt.close(fig)
        raise
    return fig, artists


# ---------------------------------------------------------------- PDF


def _report_texts(data: CandidateReportData) -> list[str]:
    """Every string the PDF will draw, for the glyph check before rendering."""
    lang = data.lang
    out = [data.candidate_name, data.candidate_id, data.job_title]
    out += [v for k, v in _labels(lang).items()]
    for comp in data.competencies:
        out.append(comp.name)
    if data.human:
        out += list(_HUMAN_TEXTS[lang].values())
        for human in data.human:
            out += [human.name, *human.comments]
    out += code_report.texts(data.coding, lang)
    for answer in data.answers:
        ev = answer.evaluation
        out += [answer.question, answer.competency, _excerpt(answer.transcript), ev.model]
        out += ev.events + ev.suggestions
        for el in ev.star.values():
            out += el.evidence + [el.rationale]
    return out


def _labels(lang: Lang) -> dict[str, str]:
    from scoring.star_texts import TEXTS

    return {
        k: v for k, v in TEXTS[lang].items() if k.startswith(("rep.", "dim.", "flag.", "elem."))
    }


_HUMAN_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "AI and human scores",
        "competency": "Competency",
        "ai": "AI (0-100)",
        "human": "People (1-5, mean)",
        "scorers": "Scorers",
        "comments": "Comments from people",
    },
    "zh": {
        "title": "AI 评分与人工评分",
        "competency": "能力",
        "ai": "AI（0-100）",
        "human": "人工（1-5，平均）",
        "scorers": "评分人数",
        "comments": "人工评语",
    },
}


def _excerpt(transcript: str) -> str:
    transcript = " ".join(transcript.split())
    return transcript if len(transcript) <= EXCERPT_CHARS else transcript[:EXCERPT_CHARS] + "…"


def render_candidate_report(data: CandidateReportData, path: Path) -> Path:
    """Write the candidate's PDF report to ``path`` (owner-only: it is personal data).

    The bot stores reports in the encrypted media store: it should call
    :func:`candidate_report_pdf` and keep the bytes in memory instead.

    Raises:
        ReportError: no CJK font, or a character the font cannot draw.
    """
    pdf = candidate_report_pdf(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pdf)
    return path


def candidate_report_pdf(data: CandidateReportData) -> bytes:
    """The candidate's PDF report, rendered in memory (nothing is written to disk).

    Raises:
        ReportError: no CJK font, or a character the font cannot draw.
    """
    from fpdf import FPDF
    from fpdf.enums import WrapMode, XPos, YPos
    from fpdf.fonts import FontFace

    font = find_cjk_font()
    check_glyphs(_report_texts(data), font)
    lang = data.lang
    t = _labels(lang)
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font(FONT, fname=str(font.path), collection_font_number=font.face)
    pdf.set_title(f"{t['rep.title']} - {data.candidate_name}")
    pdf.add_page()
    width = pdf.epw

    def wrap(txt: str) -> WrapMode:
        # Chinese has no spaces to break at; English must not be split inside words.
        cjk = len(_CJK.findall(txt))
        latin = sum(1 for ch in txt if ch.isascii() and ch.isalpha())
        return WrapMode.CHAR if cjk * 3 >= latin else WrapMode.WORD

    def line(
        txt: str, size: float = 10, h: float = 6, color: tuple[int, int, int] = (0, 0, 0)
    ) -> None:
        pdf.set_font(FONT, size=size)
        pdf.set_text_color(*color)
        pdf.multi_cell(width, h, txt, wrapmode=wrap(txt), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(0, 0, 0)

    line(t["rep.title"], size=18, h=10)
    line(f"{t['rep.candidate']}: {data.candidate_name} ({data.candidate_id})")
    line(f"{t['rep.job']}: {data.job_title}")
    line(
        f"{t['rep.generated']}: {data.generated_at.isoformat(timespec='minutes')}",
        color=(90, 90, 90),
    )
    pdf.ln(3)
    total = f"{data.total:.1f} / 100" if data.total is not None else t["rep.not_scored"]
    line(f"{t['rep.total']}: {total}", size=16, h=9)
    if data.provisional:
        line(t["rep.provisional"], color=(180, 90, 0))
    if data.total is not None:
        verdict = t["rep.passed"] if data.total >= data.pass_line else t["rep.below"]
        line(f"{t['rep.pass_line']}: {data.pass_line:g} ({verdict})")
    if data.rank is not None and data.batch_size is not None:
        value = text(lang, "rep.rank_value", rank=data.rank, size=data.batch_size)
        line(f"{t['rep.rank']}: {value}{t['rep.tied'] if data.tied else ''}")
    if data.vs_job_average is not None:
        line(f"{t['rep.vs_avg']}: {data.vs_job_average:+.1f}")
    if data.percentile is not None:
        line(f"{t['rep.percentile']}: {data.percentile:.0f}")
    pdf.ln(2)
    if data.competencies:
        line(t["rep.competencies"], size=13, h=8)
        png = competency_chart_png(data, font)
        pdf.image(io.BytesIO(png), w=min(width, 160))
    headings = FontFace(emphasis="", fill_color=(235, 235, 235))
    if data.human:
        labels = _HUMAN_TEXTS[lang]
        pdf.ln(2)
        line(labels["title"], size=13, h=8)
        pdf.set_font(FONT, size=9)
        with pdf.table(
            col_widths=(60, 35, 50, 25),
            wrapmode=WrapMode.CHAR if lang == "zh" else WrapMode.WORD,
            text_align="LEFT",
            headings_style=headings,
            line_height=5,
        ) as table:
            header = table.row()
            for key in ("competency", "ai", "human", "scorers"):
                header.cell(labels[key])
            for human in data.human:
                row = table.row()
                row.cell(human.name)
                row.cell("-" if human.ai is None else f"{human.ai:.0f}")
                row.cell("-" if human.human is None else f"{human.human:.1f}")
                row.cell(str(human.scorers))
        notes = [(human.name, c) for human in data.human for c in human.comments]
        if notes:
            line(labels["comments"] + ":", size=9, h=5)
            for name, comment in notes:
                line(f"• {name}: {comment}", size=9, h=5)
    for index, answer in enumerate(data.answers, 1):
        ev = answer.evaluation
        pdf.ln(3)
        line(f"{index}. {t['rep.question']}: {answer.question}", size=12, h=7)
        score = f"{ev.total:.1f}" if ev.total is not None else t["rep.needs_review"]
        line(f"{answer.competency} · {t['rep.answer_total']}: {score}")
        if ev.flags:
            flags = ", ".join(t.get(f"flag.{f}", f) for f in ev.flags)
            line(f"{t['rep.flags']}: {flags}", color=(180, 60, 60))
        pdf.set_font(FONT, size=9)
        with pdf.table(
            col_widths=(18, 12, 95, 55),
            wrapmode=WrapMode.CHAR if ev.lang == "zh" else WrapMode.WORD,
            text_align="LEFT",
            headings_style=headings,
            line_height=5,
        ) as table:
            header = table.row()
            for key in ("rep.element", "rep.score", "rep.evidence", "rep.rationale"):
                header.cell(t[key])
            for name in ELEMENTS:
                el = ev.star[name]
                row = table.row()
                row.cell(t[f"elem.{name}"])
                row.cell("-" if el.score is None else f"{el.score}/5")
                row.cell("\n".join(f"“{q}”" for q in el.evidence) or "-")
                row.cell(el.rationale or "-")
        if ev.dimensions:
            dims = ", ".join(f"{t.get('dim.' + k, k)} {v}" for k, v in ev.dimensions.items())
            line(f"{t['rep.dimensions']}: {dims}", size=9, h=5)
        if ev.events:
            line(f"{t['rep.events']}: " + "; ".join(ev.events), size=9, h=5)
        if ev.suggestions:
            line(t["rep.suggestions"] + ":", size=9, h=5)
            for suggestion in ev.suggestions:
                line(f"• {suggestion}", size=9, h=5)
        line(
            f"{t['rep.transcript']}: {_excerpt(answer.transcript)}",
            size=8,
            h=4.5,
            color=(70, 70, 70),
        )
    code_report.render(pdf, line, data.coding, lang, headings, FONT)
    models = sorted({a.evaluation.model for a in data.answers}) or ["-"]
    prompts = sorted({a.evaluation.prompt_version for a in data.answers}) or ["-"]
    pdf.ln(4)
    line(
        text(lang, "rep.footer", model=", ".join(models), prompt=", ".join(prompts)),
        size=8,
        h=4.5,
        color=(90, 90, 90),
    )
    missing: set[int] = set()
    for f in pdf.fonts.values():
        missing.update(getattr(f, "missing_glyphs", ()))
    if missing:
        chars = " ".join(f"U+{c:04X}" for c in sorted(missing))
        raise ReportError(f"the report font could not draw: {chars}")
    return bytes(pdf.output())
