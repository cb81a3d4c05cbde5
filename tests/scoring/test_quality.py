"""The quality gate: garbage is flagged ``unclear`` with the right reason, real answers pass."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.quality import (
    REASONS,
    SignalStats,
    Thresholds,
    assess,
    clean_text,
    find_repetition,
    measure_signal,
    pre_gate,
    spectral_flatness,
)
from scoring.raw_transcript import RawTranscript, Segment

SPEECH = SignalStats(duration_s=20, speech_s=18, level_dbfs=-22, nonspeech_dbfs=-60, flatness=0.01)
GOOD_EN = "In my last job I managed a sales team of five people and revenue grew by twenty percent."
GOOD_ZH = "我在上一家公司负责销售团队，我们每周开会，一年以后收入增长了百分之二十。"


def raw(
    *texts: str, logprob: float = -0.3, no_speech: float = 0.05, language: str = "en"
) -> RawTranscript:
    segments = [
        Segment(
            start=i * 5.0, end=i * 5.0 + 5, text=t, avg_logprob=logprob, no_speech_prob=no_speech
        )
        for i, t in enumerate(texts)
    ]
    return RawTranscript(segments=segments, language=language, model="fake")


# --- the signal alone -------------------------------------------------------


@pytest.mark.parametrize(
    ("stats", "reason"),
    [
        (SignalStats(10, 0, -90, -90, 1.0), "silence"),
        (SignalStats(10, 0, -12, -12, 0.55), "music_or_noise"),
        (SignalStats(10, 0, -15, -15, 0.01), "music_or_noise"),
        (SignalStats(10, 0, -42, -42, 0.02), "no_speech"),
        (SignalStats(10, 0.6, -30, -45, 0.02), "too_little_speech"),
        (SignalStats(60, 5, -15, -16, 0.01), "music_or_noise"),
    ],
)
def test_pre_gate_flags_unusable_signals(stats: SignalStats, reason: str) -> None:
    verdict = pre_gate(stats)
    assert verdict.quality == "unclear"
    assert verdict.reason == reason
    assert reason in REASONS
    assert verdict.detail


def test_pre_gate_passes_speech_including_short_answers_in_quiet_rooms() -> None:
    assert pre_gate(SPEECH).quality == "ok"
    assert pre_gate(SignalStats(60, 5, -30, -55, 0.01)).quality == "ok"  # mostly pauses, but quiet


def test_thresholds_are_adjustable() -> None:
    stats = SignalStats(10, 1.5, -30, -50, 0.02)
    assert pre_gate(stats).quality == "ok"
    assert pre_gate(stats, Thresholds(min_speech_s=2.0)).reason == "too_little_speech"


def test_measured_silence_and_noise() -> None:
    silence = measure_signal(np.zeros(16000 * 3, dtype=np.float32))
    assert pre_gate(silence).reason == "silence"
    noise = np.random.default_rng(1).normal(0, 0.3, 16000 * 3).astype(np.float32)
    stats = measure_signal(noise)
    assert stats.speech_s == 0
    assert stats.flatness > 0.3
    assert pre_gate(stats).reason == "music_or_noise"


def test_measured_tones_are_not_speech() -> None:
    t = np.arange(16000 * 4) / 16000
    chord = np.sin(2 * np.pi * np.outer((220.0, 277.0, 330.0), t)).sum(axis=0) * 0.2
    stats = measure_signal(chord.astype(np.float32))
    assert stats.flatness < 0.1
    assert pre_gate(stats).reason == "music_or_noise"


def test_spectral_flatness_separates_noise_from_tones() -> None:
    rng = np.random.default_rng(2)
    noise = rng.normal(0, 0.1, 16000).astype(np.float32)
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype(np.float32)
    assert spectral_flatness(noise) > 0.4
    assert spectral_flatness(tone) < 0.05


# --- what the recogniser produced ------------------------------------------


def test_clear_answers_pass() -> None:
    assert assess(raw(GOOD_EN), SPEECH).quality == "ok"
    assert assess(raw(GOOD_ZH, language="zh"), SPEECH).quality == "ok"


@pytest.mark.parametrize(
    ("transcript", "reason"),
    [
        (raw(""), "no_speech"),
        (raw("[Music]", "♪ ♪"), "music_or_noise"),
        (raw("(音乐)"), "music_or_noise"),
        (raw("Thanks for watching!"), "music_or_noise"),
        (raw("字幕由Amara.org社区提供"), "music_or_noise"),
        (raw("以下是普通话的句子。"), "music_or_noise"),
        (raw("Yes."), "too_little_speech"),
        (raw("I'm not going to play this part. " * 6), "repetition"),
        (raw("我们的团队" * 8, language="zh"), "repetition"),
        (raw(GOOD_EN, logprob=-1.6), "low_confidence"),
        (raw(GOOD_EN, logprob=-1.1, no_speech=0.8), "music_or_noise"),
    ],
)
def test_unusable_transcripts_are_unclear(transcript: RawTranscript, reason: str) -> None:
    verdict = assess(transcript, SPEECH)
    assert (verdict.quality, verdict.reason) == ("unclear", reason)


def test_confidence_is_weighted_by_duration() -> None:
    segments = [
        Segment(0, 18, GOOD_EN, avg_logprob=-0.4),
        Segment(18, 19, "mm hmm", avg_logprob=-3.0),
    ]
    assert assess(RawTranscript(segments, "en", "fake"), SPEECH).quality == "ok"
    flipped = [
        Segment(0, 1, GOOD_EN, avg_logprob=-0.4),
        Segment(1, 19, "mm hmm yes", avg_logprob=-3.0),
    ]
    assert assess(RawTranscript(flipped, "en", "fake"), SPEECH).reason == "low_confidence"


def test_a_few_words_for_a_long_speech_is_low_confidence() -> None:
    long_speech = SignalStats(
        duration_s=60, speech_s=55, level_dbfs=-20, nonspeech_dbfs=-60, flatness=0.01
    )
    verdict = assess(raw("Okay then."), long_speech)
    assert verdict.reason == "low_confidence"


def test_hallucinated_tail_is_removed_but_answer_kept() -> None:
    assert clean_text(GOOD_EN + " Thanks for watching!") == GOOD_EN
    assert clean_text("[Music] " + GOOD_ZH) == GOOD_ZH


@pytest.mark.parametrize(
    "text",
    [
        GOOD_EN,
        GOOD_ZH,
        "哈哈哈哈，这个问题很好。我在上一家公司负责销售团队，我们每周开会，收入增长了百分之二十。",
        "No, no, I mean the second project, the one in Shanghai with the new customers.",
    ],
)
def test_normal_speech_is_not_a_loop(text: str) -> None:
    assert find_repetition(text) is None


def test_loops_are_found() -> None:
    assert find_repetition("I think that I think that I think that I think that") == "ithinkthat"
    assert find_repetition("好的" + "谢谢大家" * 12) == "谢谢大家"
    assert set(find_repetition("啊" * 30) or "x") == {"啊"}


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=12))
def test_any_phrase_said_ten_times_is_a_loop(phrase: str) -> None:
    assert find_repetition((phrase + " ") * 10) is not None
