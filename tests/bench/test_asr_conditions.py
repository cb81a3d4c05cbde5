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


def test_nbest_rows_are_compared_with_plain_decoding_of_the_same_language() -> None:
    from scoring.raw_transcript import Alternative, RawTranscript, Segment

    text = "我的工作是管理团队"
    seg = Segment(0, 2, "我的工作是关离钻对", alternatives=(Alternative(text, -0.5),))
    raw = RawTranscript(segments=[seg], language="zh", model="fake")
    choosers = asr_conditions._choosers({"choosers": ["rules"]})
    chosen = asr_conditions._choose(raw, choosers, "zh")
    assert chosen["rules"]["text"] == "我的工作是关离钻对"  # nothing in the question fits better
    clip = {"language": "zh", "condition": "clean", "text": text, "keywords": ["团队"]}
    # the same run's top beam: 50 % CER on zh clean, and an unrelated English WER on "clean"
    cer = {
        ("whisper_base_nbest", "zh", "clean"): 50.0,
        ("whisper_base_nbest", "en", "clean"): 10.0,
        ("whisper_base", "zh", "clean"): 40.0,  # plain decoding, another process
    }
    lines: list[Line] = []
    res = {"chosen": {"rules": {**chosen["rules"], "text": text}}}
    asr_conditions._emit_chosen(lines, clip, res, cer)
    got = {name: value for name, value, _ in lines}
    assert got["asr_whisper_base_nbest_rules_zh_clean_cer"] == 0.0
    assert got["asr_whisper_base_nbest_rules_zh_clean_keyword_recall"] == 100.0
    assert got["asr_zh_clean_cer_gain_from_nbest_rules"] == 50.0
