"""Transcription: the real Whisper base model on generated speech, and the answer pipeline with a fake."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

import main
from core.errors import MediaError, ModelNotInstalledError
from scoring.hypothesis_choice import RulesChooser
from scoring.raw_transcript import Alternative, RawTranscript, Segment
from scoring.transcribe import (
    FasterWhisperTranscriber,
    Language,
    Samples,
    TranscriptResult,
    _resolve_device,
    get_transcriber,
    to_simplified,
    transcribe_answer,
)
from testkit import synth
from tests.fixtures.speech.clips import (
    Clips,
    keyword_hits,
    session_clips,
    session_transcriber,
    speech_settings,
)


class FakeTranscriber:
    """Returns canned segments and records what it was asked."""

    def __init__(self, *texts: str, logprob: float = -0.3) -> None:
        self.texts = texts
        self.logprob = logprob
        self.calls: list[tuple[int, Language | None]] = []

    @property
    def model_name(self) -> str:
        return "fake:1"

    def transcribe(
        self, samples: Samples, *, language: Language | None, vocabulary: Sequence[str] = ()
    ) -> RawTranscript:
        self.calls.append((len(samples), language))
        segments = [
            Segment(i * 2.0, i * 2.0 + 2, t, avg_logprob=self.logprob)
            for i, t in enumerate(self.texts)
        ]
        return RawTranscript(segments=segments, language=language or "en", model=self.model_name)


class StepClock:
    """Each reading is one second later than the last."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Clips:
    return session_clips(tmp_path_factory)


@pytest.fixture(scope="module")
def whisper() -> FasterWhisperTranscriber:
    return session_transcriber()


# --- pure parts -------------------------------------------------------------


def test_chinese_output_is_simplified() -> None:
    assert to_simplified("謝謝，我們的團隊每週開會") == "谢谢，我们的团队每周开会"


def test_device_choice() -> None:
    assert _resolve_device("cpu", "auto") == ("cpu", "int8")
    assert _resolve_device("cuda", "auto") == ("cuda", "float16")
    assert _resolve_device("cpu", "float32") == ("cpu", "float32")
    device, compute = _resolve_device("auto", "auto")
    assert (device, compute) in {("cpu", "int8"), ("cuda", "float16")}


def test_missing_model_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(ModelNotInstalledError) as info:
        FasterWhisperTranscriber(tmp_path / "nowhere")
    assert "models install" in str(info.value)
    assert "model.bin" in str(info.value)


# --- the answer pipeline with a fake recogniser ------------------------------


@pytest.mark.slow
def test_answer_pipeline_passes_language_and_reports_rtf(clips: Clips) -> None:
    fake = FakeTranscriber("I managed a sales team.", "Revenue grew by twenty percent.")
    result = transcribe_answer(
        fake, clips["en_voice"], language="en", max_seconds=180, clock=StepClock()
    )
    assert [lang for _, lang in fake.calls] == ["en"]
    assert result.quality == "ok"
    assert result.text == "I managed a sales team. Revenue grew by twenty percent."
    assert [s.text for s in result.segments] == [
        "I managed a sales team.",
        "Revenue grew by twenty percent.",
    ]
    assert result.model == "fake:1"
    assert result.speech_s > 5
    assert result.rtf == pytest.approx(1.0 / result.duration_s, rel=0.02)


@pytest.mark.slow
def test_silence_and_noise_never_reach_the_recogniser(clips: Clips) -> None:
    fake = FakeTranscriber("this must not appear")
    silent = transcribe_answer(fake, clips["silence"], language="zh", max_seconds=180)
    noisy = transcribe_answer(fake, clips["noise"].read_bytes(), language="en", max_seconds=180)
    assert (silent.quality, silent.reason, silent.text) == ("unclear", "silence", "")
    assert (noisy.quality, noisy.reason, noisy.text) == ("unclear", "music_or_noise", "")
    assert fake.calls == []


@pytest.mark.slow
def test_looping_recogniser_output_is_unclear(clips: Clips) -> None:
    fake = FakeTranscriber(*(["我们的团队每周开会"] * 6))
    result = transcribe_answer(fake, clips["zh_amr"], language="zh", max_seconds=180)
    assert (result.quality, result.reason) == ("unclear", "repetition")
    assert result.text  # kept for HR to see, flagged so it is never scored


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("one_byte", "corrupt"),
        ("empty", "empty"),
        ("truncated_ogg", "truncated"),
        ("png", "wrong_type"),
    ],
)
def test_broken_files_raise_media_errors(clips: Clips, name: str, reason: str) -> None:
    fake = FakeTranscriber("never")
    with pytest.raises(MediaError) as info:
        transcribe_answer(fake, clips[name], language="en", max_seconds=180)
    assert info.value.reason == reason
    assert fake.calls == []


@pytest.mark.slow
def test_answer_limits(clips: Clips) -> None:
    fake = FakeTranscriber("never")
    with pytest.raises(MediaError) as long:
        transcribe_answer(fake, clips["en_voice"], language="en", max_seconds=2)
    with pytest.raises(MediaError) as large:
        transcribe_answer(fake, clips["en_voice"], language="en", max_seconds=180, max_bytes=1000)
    assert (long.value.reason, large.value.reason) == ("too_long", "too_large")


# --- the real model -------------------------------------------------------------


def assert_keywords(result: TranscriptResult, script: synth.Script) -> None:
    hits = keyword_hits(result.text, script)
    assert len(hits) >= script.min_hits, f"only {hits} in {result.text!r}"


@pytest.mark.slow
@pytest.mark.parametrize("form", ["voice", "amr", "video"])
def test_english_answers(whisper: FasterWhisperTranscriber, clips: Clips, form: str) -> None:
    result = transcribe_answer(whisper, clips[f"en_{form}"], language="en", max_seconds=180)
    assert result.quality == "ok", result.reason
    assert result.language == "en"
    assert_keywords(result, synth.EN_SHORT)
    assert result.model == "faster-whisper:whisper-base:int8"
    assert all(0 <= s.start < s.end <= result.duration_s + 0.5 for s in result.segments)


@pytest.mark.slow
@pytest.mark.parametrize("form", ["voice", "amr", "video"])
def test_mandarin_answers_in_simplified_characters(
    whisper: FasterWhisperTranscriber, clips: Clips, form: str
) -> None:
    result = transcribe_answer(
        whisper, clips[f"zh_{form}"].read_bytes(), language="zh", max_seconds=180
    )
    assert result.quality == "ok", result.reason
    assert result.language == "zh"
    assert_keywords(result, synth.ZH_SHORT)
    assert to_simplified(result.text) == result.text


@pytest.mark.slow
def test_language_detection_chooses_between_zh_and_en(
    whisper: FasterWhisperTranscriber, clips: Clips
) -> None:
    assert whisper.transcribe(_samples(clips["zh_voice"]), language=None).language == "zh"
    assert whisper.detect_language(_samples(clips["en_amr"])) == "en"


@pytest.mark.slow
def test_real_model_flags_silence_and_noise(
    whisper: FasterWhisperTranscriber, clips: Clips
) -> None:
    assert (
        transcribe_answer(whisper, clips["silence"], language="en", max_seconds=180).reason
        == "silence"
    )
    assert (
        transcribe_answer(whisper, clips["noise"], language="zh", max_seconds=180).reason
        == "music_or_noise"
    )


@pytest.mark.slow
def test_model_loads_once_per_process() -> None:
    settings = speech_settings()
    assert get_transcriber(settings, beam_size=1) is get_transcriber(settings, beam_size=1)


@pytest.mark.slow
def test_cli_prints_the_json_shape(clips: Clips, capsys: pytest.CaptureFixture[str]) -> None:
    session_transcriber()  # makes sure the weights are installed
    code = main.main(["--config", str(Path(main.__file__).parent / "config.toml"), "transcribe",
                      str(clips["en_voice"]), "--lang", "en", "--json", "--beam", "1"])  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert set(out) == {
        "text",
        "language",
        "duration_s",
        "speech_s",
        "quality",
        "reason",
        "segments",
        "model",
        "rtf",
        "backend",
        "punctuated",
    }
    assert out["quality"] == "ok"
    assert out["backend"] == "whisper"
    assert set(out["segments"][0]) == {"start", "end", "text", "alternatives"}
    assert out["segments"][0]["alternatives"] == []  # [speech] nbest = 0 by default
    assert "revenue" in out["text"].lower()


@pytest.mark.slow
def test_cli_reports_broken_files(clips: Clips, capsys: pytest.CaptureFixture[str]) -> None:
    session_transcriber()
    code = main.main(["--config", str(Path(main.__file__).parent / "config.toml"), "transcribe",
                      str(clips["png"]), "--json"])  # fmt: skip
    assert code == 1
    assert json.loads(capsys.readouterr().out)["error"] == "wrong_type"


def _samples(path: Path) -> Samples:
    from scoring.audio import decode_audio

    samples: Samples = decode_audio(path, max_seconds=180).samples
    assert samples.dtype == np.float32
    return samples


def test_decoder_prompt_primes_simplified_and_carries_the_vocabulary() -> None:
    from scoring.transcribe import ZH_PROMPT, decoder_prompt

    assert decoder_prompt("zh") == ZH_PROMPT
    assert decoder_prompt("en") is None
    zh = decoder_prompt("zh", ["客户关系", "  ", "KPI"])
    assert zh is not None and zh.startswith(ZH_PROMPT) and "客户关系、KPI" in zh
    assert decoder_prompt("en", ["Python", "SQL"]) == "Keywords: Python, SQL."
    long = decoder_prompt("en", ["x" * 500] * 50)
    assert long is not None and len(long) < 20 * 62 + 20  # bounded: 20 terms of 60 chars


# --- N-best hypotheses -----------------------------------------------------


class TraditionalNBest(FakeTranscriber):
    """A backend that forgets to convert: Traditional text and alternatives."""

    def transcribe(
        self, samples: Samples, *, language: Language | None, vocabulary: Sequence[str] = ()
    ) -> RawTranscript:
        seg = Segment(
            0.0,
            2.0,
            "我們的團對每週開會",
            avg_logprob=-0.3,
            alternatives=(Alternative("我們的團隊每週開會", -0.4),),
        )
        return RawTranscript(segments=[seg], language="zh", model=self.model_name)


@pytest.mark.slow
def test_every_backend_output_and_alternative_is_simplified_and_chosen_in_context(
    clips: Clips,
) -> None:
    result = transcribe_answer(
        TraditionalNBest(),
        clips["zh_voice"],
        language="zh",
        max_seconds=180,
        chooser=RulesChooser(),
        context=["你的团队多久开一次会？", "团队经理"],
    )
    seg = result.segments[0]
    assert seg.text == "我们的团队每周开会"  # the alternative that fits the question
    assert [a.text for a in seg.alternatives] == ["我们的团对每周开会"]
    assert result.text == "我们的团队每周开会"


@pytest.mark.slow
def test_real_whisper_gives_alternatives_per_segment(clips: Clips) -> None:
    settings = speech_settings()
    session_transcriber()  # installs the weights when missing
    nbest = FasterWhisperTranscriber(settings.speech.model_dir, beam_size=5, nbest=4)
    raw = nbest.transcribe(_samples(clips["zh_voice"]), language="zh")
    alternatives = [a for seg in raw.segments for a in seg.alternatives]
    assert alternatives, raw.segments
    for seg in raw.segments:
        texts = [a.text for a in seg.alternatives]
        assert seg.text not in texts and len(set(texts)) == len(texts)
        assert all(to_simplified(t) == t and t for t in texts)
        assert all(a.score < 0 for a in seg.alternatives)
    result = transcribe_answer(
        nbest, clips["zh_voice"], language="zh", max_seconds=180, chooser=RulesChooser()
    )
    assert result.quality == "ok"
    assert any(s.alternatives for s in result.segments)
