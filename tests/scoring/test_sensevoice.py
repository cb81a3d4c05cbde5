"""The SenseVoice (sherpa-onnx) backend on a tiny model with its interface, its install
from a folder, the per-language router and the per-backend quality gate."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

import main
from core.errors import ConfigError, ModelNotInstalledError
from core.settings import load_settings
from scoring import quality
from scoring.audio import decode_audio
from scoring.raw_transcript import RawTranscript, Segment
from scoring.sensevoice import SenseVoiceTranscriber, chunk_spans
from scoring.sensevoice_install import check_installed, install_from, sha256
from scoring.speech_router import SpeechRouter, get_recogniser
from scoring.transcribe import Language, Samples
from testkit import degrade, synth, tiny_sensevoice

ROOT = Path(__file__).resolve().parents[2]
SR = 16_000


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_sensevoice.build(tmp_path_factory.mktemp("sv") / "src")


@pytest.fixture(scope="module")
def installed(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_from(source, tmp_path_factory.mktemp("sv-installed") / "sensevoice")


@pytest.fixture(scope="module")
def sensevoice(installed: Path) -> SenseVoiceTranscriber:
    return SenseVoiceTranscriber(installed, cpu_threads=1)


def _copy(source: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(source, tmp_path / "copy"))


def _tone_bursts(*spans: tuple[float, float], total: float) -> Samples:
    """Loud harmonic bursts (speech-like to the model's energy rule) in silence."""
    audio = np.zeros(int(total * SR), dtype=np.float32)
    for start, end in spans:
        t = np.arange(int((end - start) * SR)) / SR
        wave = sum(np.sin(2 * np.pi * f * t) for f in (220, 440, 880, 1760, 3000)) * 0.12
        audio[int(start * SR) : int(start * SR) + len(t)] = wave
    return audio


# --- install --from DIR -------------------------------------------------------


def test_install_from_verifies_and_stamps(installed: Path, source: Path) -> None:
    assert check_installed(installed) == installed / "model.onnx"
    stamp = json.loads((installed / ".installed.json").read_text())
    assert stamp["files"]["model.onnx"]["sha256"] == sha256(source / "model.onnx")
    assert {p.name for p in installed.iterdir()} == {"model.onnx", "tokens.txt", ".installed.json"}


def _no_folder(d: Path) -> Path:
    return d / "missing"


def _no_model(d: Path) -> Path:
    (d / "model.onnx").unlink()
    return d


def _no_tokens(d: Path) -> Path:
    (d / "tokens.txt").unlink()
    return d


def _token_gap(d: Path) -> Path:
    (d / "tokens.txt").write_text("<blank> 0\nx 2\n", encoding="utf-8")
    return d


def _vocab_mismatch(d: Path) -> Path:
    with (d / "tokens.txt").open("a", encoding="utf-8") as fh:
        fh.write(f"extra {len(tiny_sensevoice.TOKENS)}\n")
    return d


def _not_onnx(d: Path) -> Path:
    (d / "model.onnx").write_bytes(b"\x00not an onnx file" * 10)
    return d


def _bad_sums(d: Path) -> Path:
    (d / "SHA256SUMS").write_text("0" * 64 + "  model.onnx\n", encoding="utf-8")
    return d


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_no_folder, "is not a folder"),
        (_no_model, "has no model.int8.onnx or model.onnx"),
        (_no_tokens, "has no tokens.txt"),
        (_token_gap, "token ids are not"),
        (_vocab_mismatch, "vocab_size"),
        (_not_onnx, "not a loadable ONNX model"),
        (_bad_sums, "the copy is damaged"),
    ],
)
def test_install_from_bad_dirs(source: Path, tmp_path: Path, damage: object, message: str) -> None:
    bad = damage(_copy(source, tmp_path))  # type: ignore[operator]
    target = tmp_path / "target"
    with pytest.raises(ModelNotInstalledError) as info:
        install_from(bad, target)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert not target.exists()


def test_install_from_checks_sums_and_pin(source: Path, tmp_path: Path) -> None:
    good = _copy(source, tmp_path)
    digest = sha256(good / "model.onnx")
    (good / "SHA256SUMS").write_text(f"{digest}  model.onnx\n", encoding="utf-8")
    assert install_from(good, tmp_path / "ok", pin=digest) == tmp_path / "ok"
    with pytest.raises(ModelNotInstalledError, match="pins"):
        install_from(good, tmp_path / "pinned", pin="a" * 64)


def test_changed_install_is_refused(installed: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(installed, tmp_path / "changed"))
    with (copy / "model.onnx").open("ab") as fh:
        fh.write(b"x")
    with pytest.raises(ModelNotInstalledError, match="changed since it was verified"):
        SenseVoiceTranscriber(copy)
    (copy / ".installed.json").unlink()
    with pytest.raises(ModelNotInstalledError, match="was not verified"):
        check_installed(copy)


def test_cli_install_from_prints_one_line(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[speech]\nsensevoice_dir = "{tmp_path / "sv"}"\n', encoding="utf-8")
    assert main.main(["--config", str(config), "models", "install", "--from", str(source)]) == 0
    assert "verified and installed" in capsys.readouterr().out
    bad = _no_tokens(_copy(source, tmp_path))
    assert main.main(["--config", str(config), "models", "install", "--from", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "tokens.txt" in err and "\n" not in err


# --- decoding -------------------------------------------------------------------


def test_chunks_cut_at_long_pauses() -> None:
    s = SR
    spans = [(1 * s, 2 * s), (int(2.3 * s), 3 * s), (6 * s, 7 * s)]
    chunks = chunk_spans(spans, 10 * s, pad_s=0.0)
    assert chunks == [(1 * s, 3 * s), (6 * s, 7 * s)]
    assert chunk_spans([(0, 70 * s)], 70 * s, max_chunk_s=25, pad_s=0) == [
        (0, 25 * s),
        (25 * s, 50 * s),
        (50 * s, 70 * s),
    ]
    assert chunk_spans([], 5) == [(0, 5)]


@pytest.mark.slow
def test_decodes_speech_into_timed_segments(
    sensevoice: SenseVoiceTranscriber, tmp_path: Path
) -> None:
    padded = degrade.speak_with_pauses(synth.ZH_SHORT, tmp_path / "paused.wav", pause_s=3.0)

    samples = decode_audio(padded, max_seconds=120).samples
    raw = sensevoice.transcribe(samples, language="zh")
    assert raw.model == "sherpa-onnx:sensevoice:model"
    assert raw.extra["backend"] == "sensevoice"
    assert len(raw.segments) >= 2  # the 3 s pause ends a segment
    assert set(raw.text) == {tiny_sensevoice.SPEECH_TOKEN}
    duration = len(samples) / SR
    for before, after in zip(raw.segments, raw.segments[1:], strict=False):
        assert 0 <= before.start < before.end <= after.start <= duration
    assert any(b.start - a.end >= 2.5 for a, b in zip(raw.segments, raw.segments[1:], strict=False))


def test_silence_gives_no_segments(sensevoice: SenseVoiceTranscriber) -> None:
    raw = sensevoice.transcribe(np.zeros(3 * SR, dtype=np.float32), language="zh")
    assert raw.segments == [] and raw.text == ""


def test_language_tag_decides_when_unknown(sensevoice: SenseVoiceTranscriber) -> None:
    raw = sensevoice.transcribe(_tone_bursts((0.5, 1.5), total=2.5), language=None)
    assert raw.language == "zh"  # the tiny model always tags <|zh|>


def test_music_event_is_unclear(tmp_path: Path) -> None:
    folder = install_from(
        tiny_sensevoice.build(tmp_path / "bgm-src", event="<|BGM|>"), tmp_path / "bgm"
    )
    raw = SenseVoiceTranscriber(folder, cpu_threads=1).transcribe(
        _tone_bursts((0.5, 2.5), (3.5, 5.5), total=6.0), language="zh"
    )
    assert raw.extra["events"] and raw.extra["events"][0][0] == "BGM"
    stats = quality.SignalStats(6.0, 4.0, -20.0, -80.0, 0.01)
    verdict = quality.assess(
        RawTranscript([Segment(0.5, 5.5, "我负责整个项目的交付")], "zh", "m", raw.extra),
        stats,
        quality.SENSEVOICE_THRESHOLDS,
    )
    assert (verdict.quality, verdict.reason) == ("unclear", "music_or_noise")


# --- the per-backend quality gate -------------------------------------------------


def _raw(text: str, backend: str) -> RawTranscript:
    return RawTranscript([Segment(0.0, 10.0, text)], "zh", "m", {"backend": backend})


def test_sensevoice_gate_judges_the_text_rate() -> None:
    stats = quality.SignalStats(10.0, 8.0, -20.0, -60.0, 0.01)
    t = quality.thresholds_for("sensevoice")
    few = quality.assess(_raw("我做了项目", "sensevoice"), stats, t)
    flood = quality.assess(_raw("项目管理" * 40 + "我们", "sensevoice"), stats, t)
    fine = quality.assess(
        _raw("我在上一家公司负责客户关系，每周开会，收入增长了百分之二十。", "sensevoice"), stats, t
    )
    assert (few.quality, few.reason) == ("unclear", "low_confidence")
    assert (flood.quality, flood.reason) == ("unclear", "repetition")
    assert fine.quality == "ok"
    # Whisper's lines still need a 10 s stretch of speech before judging the rate.
    assert (
        quality.assess(
            _raw("我做了项目", "whisper"), stats, quality.thresholds_for("whisper")
        ).quality
        == "ok"
    )
    assert quality.thresholds_for("unknown") is quality.DEFAULT_THRESHOLDS


def test_garbage_flood_without_loop_is_unclear() -> None:
    stats = quality.SignalStats(4.0, 2.0, -20.0, -60.0, 0.01)
    text = "".join(chr(0x4E00 + (i * 37) % 2000) for i in range(60))  # 30 chars/s, no loop
    verdict = quality.assess(_raw(text, "sensevoice"), stats, quality.SENSEVOICE_THRESHOLDS)
    assert (verdict.quality, verdict.reason) == ("unclear", "low_confidence")


# --- choosing a backend per language ----------------------------------------------


class NamedFake:
    def __init__(self, name: str, lang: Language = "en") -> None:
        self.name, self.lang, self.calls = name, lang, 0

    @property
    def model_name(self) -> str:
        return f"fake:{self.name}"

    def detect_language(self, samples: Samples) -> Language:
        return self.lang

    def transcribe(
        self, samples: Samples, *, language: Language | None, vocabulary: Sequence[str] = ()
    ) -> RawTranscript:
        self.calls += 1
        return RawTranscript([Segment(0, 1, self.name)], language or "zh", self.model_name)


def _missing() -> NamedFake:
    raise ModelNotInstalledError("SenseVoice model not found")


def test_router_picks_per_language_and_identifies() -> None:
    whisper, sv = NamedFake("whisper", lang="zh"), NamedFake("sensevoice")
    router = SpeechRouter(
        {"zh": "sensevoice", "en": "whisper"},
        {"whisper": lambda: whisper, "sensevoice": lambda: sv},
    )
    samples = np.zeros(SR, dtype=np.float32)
    assert router.transcribe(samples, language="en").extra["backend"] == "whisper"
    zh = router.transcribe(samples, language="zh")
    assert (zh.text, zh.extra["backend"]) == ("sensevoice", "sensevoice")
    unknown = router.transcribe(samples, language=None)  # whisper says zh
    assert (unknown.language, unknown.extra["backend"]) == ("zh", "sensevoice")
    assert router.model_name == "router:zh=sensevoice,en=whisper"


def test_router_falls_back_to_whisper_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    whisper, sv = NamedFake("whisper"), NamedFake("sensevoice")
    router = SpeechRouter(
        {"zh": "sensevoice", "en": "whisper"}, {"whisper": lambda: whisper, "sensevoice": _missing}
    )
    raw = router.transcribe(np.zeros(SR, dtype=np.float32), language="zh")
    assert raw.extra["backend"] == "whisper" and raw.text == "whisper"
    assert "sensevoice unavailable" in caplog.text
    # Without Whisper, SenseVoice's own language tag decides an unknown language.
    sv_only = SpeechRouter(
        {"zh": "sensevoice", "en": "whisper"}, {"whisper": _missing, "sensevoice": lambda: sv}
    )
    assert sv_only.transcribe(np.zeros(SR, dtype=np.float32), language=None).extra == {
        "backend": "sensevoice"
    }
    nothing = SpeechRouter({"zh": "whisper", "en": "whisper"}, {"whisper": _missing})
    with pytest.raises(ModelNotInstalledError, match="not found"):
        nothing.transcribe(np.zeros(SR, dtype=np.float32), language=None)
    with pytest.raises(ValueError, match="no loader"):
        SpeechRouter({"zh": "paraformer"}, {"whisper": lambda: whisper})


def test_speech_settings_are_validated(tmp_path: Path) -> None:
    good = load_settings(ROOT / "config.toml", env={}, overrides={"speech": {"zh": "sensevoice"}})
    assert (good.speech.zh, good.speech.en) == ("sensevoice", "whisper")
    for bad in ({"zh": "paraformer"}, {"sensevoice_sha256": "abc"}, {"en": ""}):
        with pytest.raises(ConfigError) as info:
            load_settings(ROOT / "config.toml", env={}, overrides={"speech": bad})
        assert "speech" in str(info.value)
    assert get_recogniser(good) is get_recogniser(good)


@pytest.mark.slow
def test_transcribe_cli_json_with_sensevoice(
    installed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[speech]\nzh = "sensevoice"\nsensevoice_dir = "{installed}"\n', encoding="utf-8"
    )
    wav = synth.speak(synth.ZH_SHORT, tmp_path / "zh.wav")
    ogg = synth.voice_note(wav, tmp_path / "zh.ogg")
    assert (
        main.main(["--config", str(config), "transcribe", str(ogg), "--lang", "zh", "--json"]) == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["backend"] == "sensevoice" and out["model"] == "sherpa-onnx:sensevoice:model"
    assert out["punctuated"] is False
    assert out["segments"] and all(s["end"] > s["start"] for s in out["segments"])
    # The tiny model hears each burst as one character: the gate must not pass that.
    assert out["quality"] == "unclear" and out["reason"] in quality.REASONS
