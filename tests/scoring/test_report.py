"""Candidate PDF and batch ranking chart: CJK text survives, missing glyphs are errors."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest

from scoring.composite import rank_batch
from scoring.evaluator import FakeBackend, StarEvaluator
from scoring.report import (
    AnswerReport,
    CandidateReportData,
    CompetencyLine,
    ReportError,
    candidate_report_pdf,
    check_glyphs,
    find_cjk_font,
    ranking_chart_png,
    ranking_figure,
    render_candidate_report,
)
from scoring.star import AnswerInput

Q_ZH = "请讲一个你处理难缠客户的经历。"
A_ZH = (
    "去年三月在上一家公司，一个重要客户投诉我们的账单软件在他们季度审计前频繁崩溃。我负责这个客户，"
    "所以我的目标是在一周内解决问题。我当天就给他们的财务负责人打电话，收集了崩溃日志。"
    "结果崩溃从每天20次降到了0次，他们续签了价值30万元的合同。"
)
Q_EN = "Tell me about a time you met a tight deadline."
A_EN = (
    "Last year our biggest customer moved their launch forward by two weeks. I was in charge of "
    "the project. I listed all 30 features with the client and I wrote the checkout page myself. "
    "We launched one day early and the site handled 50,000 visitors."
)


def _data(lang: str, name: str = "张伟") -> CandidateReportData:
    evaluator = StarEvaluator(FakeBackend())
    zh = evaluator.evaluate(AnswerInput(question=Q_ZH, answer=A_ZH, competency="customer"))
    en = evaluator.evaluate(AnswerInput(question=Q_EN, answer=A_EN, competency="pressure"))
    return CandidateReportData(
        lang=lang,
        candidate_id="c-42",
        candidate_name=name,
        job_title="销售经理 Sales Manager",
        total=78.5,
        pass_line=70,
        rank=2,
        batch_size=5,
        tied=True,
        vs_job_average=6.2,
        percentile=71,
        competencies=[
            CompetencyLine(name="客户服务", weight=60, score=zh.total),
            CompetencyLine(name="抗压能力", weight=40, score=en.total),
        ],
        answers=[
            AnswerReport(question=Q_ZH, competency="客户服务", transcript=A_ZH, evaluation=zh),
            AnswerReport(question=Q_EN, competency="抗压能力", transcript=A_EN, evaluation=en),
        ],
        generated_at=dt.datetime(2026, 11, 26, 9, 30, tzinfo=dt.UTC),
    )


def _pdftext(path: Path) -> str:
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True)
    return out.stdout.decode("utf-8")


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_candidate_report_keeps_chinese_text_and_evidence(tmp_path: Path, lang: str) -> None:
    data = _data(lang)
    out = render_candidate_report(data, tmp_path / "report.pdf")
    assert out.read_bytes().startswith(b"%PDF")
    body = "".join(_pdftext(out).split())
    assert "张伟" in body
    assert "78.5" in body
    assert "客户服务" in body
    assert "续签了价值30万元的合同" in body  # evidence quoted from the answer
    assert ("面试评估报告" in body) == (lang == "zh")
    assert ("Interviewreport" in body) == (lang == "en")
    for suggestion in data.answers[0].evaluation.suggestions:
        assert "".join(suggestion.split())[:8] in body


def test_the_report_renders_in_memory_and_a_written_copy_is_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    pdf = candidate_report_pdf(_data("zh"))
    assert pdf.startswith(b"%PDF")
    assert list(tmp_path.iterdir()) == []  # nothing was written on the way
    out = render_candidate_report(_data("zh"), tmp_path / "hr" / "report.pdf")
    assert out.read_bytes().startswith(b"%PDF")
    assert out.stat().st_mode & 0o777 == 0o600


def test_missing_glyph_is_an_error_not_a_silent_drop(tmp_path: Path) -> None:
    data = _data("zh", name="张伟\U0001f600")  # an emoji the CJK font lacks
    with pytest.raises(ReportError, match="U\\+1F600"):
        render_candidate_report(data, tmp_path / "bad.pdf")
    assert not (tmp_path / "bad.pdf").exists()


def test_check_glyphs_accepts_chinese_english_and_digits() -> None:
    check_glyphs(["面试报告 Interview 2026-11-26 78.5% “引文”"], find_cjk_font())


def test_ranking_chart_png(tmp_path: Path) -> None:
    entries = rank_batch({"a": 81.0, "b": 64.5, "c": 81.0, "d": 40.0}, pass_line=70)
    names = {"a": "张伟", "b": "Li Na", "c": "王芳", "d": "Tom"}
    target = tmp_path / "ranking.png"
    png = ranking_chart_png(entries, names, pass_line=70, job_average=62.0, path=target)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert target.read_bytes() == png
    assert len(png) > 5_000


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize(
    ("count", "average", "pass_line"),
    [(1, 81.0, 70.0), (2, 72.0, 70.0), (3, 30.0, 95.0), (30, 61.3, 60.0)],
)
def test_ranking_chart_labels_clear_the_title_and_each_other(
    lang: str, count: int, average: float, pass_line: float
) -> None:
    """The issue's picture: with few candidates the average's label sat on the title and
    the pass line had none. Both labels now exist, inside the axes, apart."""
    from matplotlib import pyplot as plt

    totals = {f"c{i}": round(95 - i * 2.1, 1) for i in range(count)}
    names = {cid: f"候选人 {cid}" if lang == "zh" else f"Candidate {cid}" for cid in totals}
    fig, artists = ranking_figure(
        rank_batch(totals, pass_line=pass_line),
        names,
        pass_line=pass_line,
        job_average=average,
        lang=lang,  # type: ignore[arg-type]
    )
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        boxes = {role: a.get_window_extent(renderer) for role, a in artists.items()}
        axes_box = artists["pass"].axes.get_window_extent(renderer)
        assert set(boxes) == {"title", "pass", "average"}
        assert artists["pass"].get_text().endswith(f"{pass_line:g}")
        for role in ("pass", "average"):
            box = boxes[role]
            assert not box.overlaps(boxes["title"]), role
            assert box.x0 >= axes_box.x0 and box.x1 <= axes_box.x1, role
            assert box.y0 >= axes_box.y0 and box.y1 <= axes_box.y1, role
        assert not boxes["pass"].overlaps(boxes["average"])
        assert boxes["title"].y0 >= axes_box.y1  # the title stays above the axes
    finally:
        plt.close(fig)


def test_ranking_chart_rejects_an_undrawable_name() -> None:
    entries = rank_batch({"a": 81.0})
    with pytest.raises(ReportError):
        ranking_chart_png(entries, {"a": "\U0001f600"}, pass_line=70)


def test_report_data_requires_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CandidateReportData(
            candidate_id="x",
            candidate_name="x",
            job_title="x",
            pass_line=60,
            competencies=[],
            answers=[],
            generated_at=dt.datetime(2026, 1, 1),  # noqa: DTZ001
        )


TEMPLATE_ZH = (
    "情境：在之前的工作中，我遇到了一个具有挑战性的客户问题。任务：我的任务是解决问题，确保客户满意。"
    "行动：我积极倾听，积极沟通，充分对齐各方需求，全方位优化服务流程，形成闭环。"
    "结果：客户满意度显著提升30%，效率提升25%。"
)


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_report_shows_each_elements_reason_and_why_a_score_is_capped(tmp_path: Path) -> None:
    reply = (
        '{"situation": {"sentences": [1], "score": 5, "reason": "之前的工作，没有具体时间"},'
        ' "task": {"sentences": [2], "score": 5, "reason": "只有一般职责"},'
        ' "action": {"sentences": [3], "score": 5, "reason": "都是套话"},'
        ' "result": {"sentences": [4], "score": 5, "reason": "孤立的百分比"},'
        ' "events": [], "on_topic": true, "addresses_grader": false}'
    )
    evaluation = StarEvaluator(FakeBackend([reply])).evaluate(
        AnswerInput(question=Q_ZH, answer=TEMPLATE_ZH, competency="customer")
    )
    assert "template_answer" in evaluation.flags
    data = _data("zh").model_copy(
        update={
            "answers": [
                AnswerReport(
                    question=Q_ZH,
                    competency="客户服务",
                    transcript=TEMPLATE_ZH,
                    evaluation=evaluation,
                )
            ]
        }
    )
    body = "".join(_pdftext(render_candidate_report(data, tmp_path / "r.pdf")).split())
    assert "套用模板" in body  # the flag, in words, with "score capped"
    assert "已封顶" in body
    assert "都是套话" in body  # the model's one-line reason for the action element
