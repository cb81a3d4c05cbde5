"""The pure parts of ``bench asr``'s per-condition accuracy."""

from __future__ import annotations

import pytest

from bench import asr_conditions
from bench.asr_metrics import Line
from core.settings import load_settings
from tests.conftest import ROOT


def test_keyword_recall_counts_simplified_and_spaced_terms() -> None:
    keywords = ("python", "sql", "kpi", "客户", "数据")
    assert asr_conditions.keyword_recall("我用 Python 和 S QL 分析數據", keywords) == 60.0
    assert asr_conditions.keyword_recall("", keywords) == 0.0


def test_gpu_lines_say_when_there_is_no_gpu(capsys: pytest.CaptureFixture[str]) -> None:
    lines: list[Line] = []
    settings = load_settings(ROOT / "config.toml", env={})
    asr_conditions.gpu_lines(settings, lines, [])
    count = next(value for name, value, _ in lines if name == "asr_gpu_count")
    if count == 0:
        assert "no GPU present" in capsys.readouterr().out
