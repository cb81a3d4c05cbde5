"""Quality gate: is a transcript usable as an answer, or must it be flagged ``unclear``?

Two stages, so garbage never reaches the scorer and the speech model is not run
on audio without speech:

* :func:`pre_gate` looks at the signal alone (:func:`measure_signal`: level,
  speech found by the Silero VAD that ships with faster-whisper, spectral
  flatness) and catches silence, noise, music and answers with too little
  speech;
* :func:`assess` looks at what the recogniser produced: empty text or only
  well-known hallucinations, repetition loops, and low confidence (Whisper's
  average log-probability and no-speech probability, weighted by duration).

Both return a :class:`Verdict`; ``reason`` is one of :data:`REASONS`.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from scoring.raw_transcript import RawTranscript

Quality = Literal["ok", "unclear"]

REASONS = {
    "silence": "the recording is silent",
    "no_speech": "no speech was found in the recording",
    "too_little_speech": "there is too little speech to judge",
    "music_or_noise": "the recording is music or noise rather than speech",
    "low_confidence": "the speech could not be recognised reliably",
    "repetition": "the transcript repeats itself (a recognition loop)",
}

# Phrases Whisper is known to invent on silence, music and noise (from its
# subtitle training data). A transcript made only of these is not an answer.
HALLUCINATIONS = (
    "thanks for watching",
    "thank you for watching",
    "please subscribe",
    "subscribe to my channel",
    "字幕由amara.org社区提供",
    "字幕by索兰娅",
    "请不吝点赞订阅转发打赏支持明镜与点点栏目",
    "明镜与点点栏目",
    "优优独播剧场",
    "谢谢观看",
    "感谢观看",
    "请订阅",
    "以下是普通话的句子",  # our own decoder prompt, echoed back on unclear audio
)
# Bracketed sound descriptions and music signs: "[Music]", "(音乐)", "♪".
_SEPARATORS = re.compile(r"[\s,.!?，。！？、]*")
_TAGS = re.compile(r"[\[(（【][^\])）】]{0,30}[\])）】]|[♪♫♬🎵🎶]")


@dataclass(frozen=True)
class Thresholds:
    """Where the gate draws its lines; defaults suit Whisper ``base``.

    Attributes:
        min_speech_s: less VAD speech than this is ``too_little_speech``.
        silence_dbfs: a recording quieter than this overall is ``silence``.
        loud_dbfs: non-speech louder than this counts as music or noise.
        min_speech_ratio: a loud recording with less speech than this share
            of its length is ``music_or_noise``.
        min_avg_logprob: lower duration-weighted mean log-probability is
            ``low_confidence`` (synthetic Mandarin scores about -0.8 to -1.05
            with ``base``; clear human speech about -0.2 to -0.5).
        no_speech_prob: Whisper's no-speech probability above which a segment
            counts as non-speech (when its log-probability is also below -1).
        max_no_speech_share: more non-speech segments (by duration) than this
            share is ``music_or_noise``.
        max_compression_ratio: zlib ratio of the text above which it is a loop.
        min_repeats: a phrase repeated back to back this many times is a loop.
        min_chars: fewer letters (English) or characters (Chinese) than this
            is ``too_little_speech``.
        min_chars_per_second: fewer characters per second of VAD speech than
            this (speech runs at 3-15) means most of the speech was not
            recognised: ``low_confidence``.
    """

    min_speech_s: float = 1.0
    silence_dbfs: float = -50.0
    loud_dbfs: float = -35.0
    min_speech_ratio: float = 0.2
    min_avg_logprob: float = -1.2
    no_speech_prob: float = 0.6
    max_no_speech_share: float = 0.5
    max_compression_ratio: float = 2.4
    min_repeats: int = 4
    min_chars: int = 4
    min_chars_per_second: float = 0.5
    rate_min_speech_s: float = 10.0
    max_chars_per_second: float | None = None
    max_nonspeech_event_share: float = 0.5


DEFAULT_THRESHOLDS = Thresholds()
# SenseVoice (sherpa-onnx) gives no token probabilities: the log-probability lines
# cannot apply. A CTC model drops what it cannot hear rather than inventing text,
# so too few characters for the speech heard is its sign of trouble, checked from
# 3 s of speech on; far too many is garbage; its audio events (music, noise)
# replace Whisper's no-speech probability.
SENSEVOICE_THRESHOLDS = Thresholds(
    min_avg_logprob=float("-inf"),
    no_speech_prob=1.1,
    min_chars_per_second=1.0,
    rate_min_speech_s=3.0,
    max_chars_per_second=15.0,
)
BACKEND_THRESHOLDS = {"whisper": DEFAULT_THRESHOLDS, "sensevoice": SENSEVOICE_THRESHOLDS}


def thresholds_for(backend: str | None) -> Thresholds:
    """The gate's lines for a backend (``whisper``'s for an unknown one)."""
    return BACKEND_THRESHOLDS.get(backend or "whisper", DEFAULT_THRESHOLDS)


@dataclass(frozen=True)
class SignalStats:
    """What the signal alone says.

    Attributes:
        duration_s: length of the audio.
        speech_s: seconds of speech the VAD found.
        level_dbfs: overall RMS level in dB full scale.
        nonspeech_dbfs: RMS level of the parts without speech.
        flatness: median spectral flatness (1 = white noise, near 0 = tones/speech).
    """

    duration_s: float
    speech_s: float
    level_dbfs: float
    nonspeech_dbfs: float
    flatness: float


@dataclass(frozen=True)
class Verdict:
    """The gate's decision.

    Attributes:
        quality: ``ok`` or ``unclear``.
        reason: a key of :data:`REASONS` when unclear, else ``None``.
        detail: the measured figure behind the decision, for logs and HR.
    """

    quality: Quality
    reason: str | None = None
    detail: str = ""


OK = Verdict("ok")
_SR = 16_000


def _dbfs(x: npt.NDArray[np.float32]) -> float:
    if x.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return max(-120.0, 20.0 * float(np.log10(rms + 1e-12)))


def speech_spans(samples: npt.NDArray[np.float32]) -> list[tuple[int, int]]:
    """Speech regions (sample offsets) found by the Silero VAD, tightly padded."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(min_silence_duration_ms=300, speech_pad_ms=30)
    return [(int(s["start"]), int(s["end"])) for s in get_speech_timestamps(samples, options)]


def spectral_flatness(samples: npt.NDArray[np.float32], frame: int = 512) -> float:
    """Median spectral flatness over frames, in the 250 Hz - 6 kHz band.

    White noise gives about 0.5-0.6 with this estimator, speech and music below 0.05.
    """
    count = len(samples) // frame
    if count == 0:
        return 0.0
    frames = samples[: count * frame].reshape(count, frame) * np.hanning(frame)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2 + 1e-12
    band = power[:, 8:192]
    loud = band.mean(axis=1) > 1e-8
    if not loud.any():
        return 1.0  # digital silence is perfectly flat
    band = band[loud]
    flat = np.exp(np.mean(np.log(band), axis=1)) / np.mean(band, axis=1)
    return float(np.median(flat))


def measure_signal(samples: npt.NDArray[np.float32]) -> SignalStats:
    """Level, VAD speech and flatness of 16 kHz mono audio."""
    spans = speech_spans(samples) if samples.size else []
    mask = np.ones(len(samples), dtype=bool)
    for start, end in spans:
        mask[start:end] = False
    return SignalStats(
        duration_s=len(samples) / _SR,
        speech_s=sum(end - start for start, end in spans) / _SR,
        level_dbfs=_dbfs(samples),
        nonspeech_dbfs=_dbfs(samples[mask]),
        flatness=spectral_flatness(samples),
    )


def pre_gate(stats: SignalStats, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Verdict:
    """Judge the signal before any speech recognition runs."""
    t = thresholds
    if stats.level_dbfs < t.silence_dbfs:
        return Verdict("unclear", "silence", f"level {stats.level_dbfs:.0f} dBFS")
    if stats.speech_s == 0:
        if stats.level_dbfs > t.loud_dbfs:
            kind = "noise" if stats.flatness > 0.2 else "music or tones"
            return Verdict(
                "unclear", "music_or_noise", f"no speech, {kind} at {stats.level_dbfs:.0f} dBFS"
            )
        return Verdict("unclear", "no_speech", "the VAD found no speech")
    if stats.speech_s < t.min_speech_s:
        return Verdict("unclear", "too_little_speech", f"{stats.speech_s:.1f} s of speech")
    ratio = stats.speech_s / stats.duration_s if stats.duration_s else 0.0
    if ratio < t.min_speech_ratio and stats.nonspeech_dbfs > t.loud_dbfs:
        return Verdict(
            "unclear",
            "music_or_noise",
            f"only {ratio:.0%} speech, the rest loud ({stats.nonspeech_dbfs:.0f} dBFS)",
        )
    return OK


def clean_text(text: str) -> str:
    """The transcript without sound tags and known hallucination phrases."""
    text = _TAGS.sub(" ", text)
    for phrase in HALLUCINATIONS:
        key = _SEPARATORS.sub("", phrase.lower())
        pattern = _SEPARATORS.pattern.join(re.escape(ch) for ch in key) + r"[\s,.!?，。！？、]*"
        text = re.sub(pattern, " ", text, flags=re.IGNORECASE)
    return " ".join(text.split())


def content_chars(text: str) -> int:
    """Letters, digits and CJK characters (what carries content)."""
    return sum(1 for ch in text if unicodedata.category(ch)[0] in "LN")


def find_repetition(text: str, min_repeats: int = 4) -> str | None:
    """The looping phrase when the text is a recognition loop, else ``None``.

    A loop is a unit of 2-40 characters (spaces ignored, so it works for
    English words and Chinese characters alike) repeated back to back at
    least ``min_repeats`` times and covering a quarter of the text, or
    repeated ten times anywhere. A short laugh ("哈哈哈哈") in a long answer
    is not a loop.
    """
    compact = re.sub(r"[\W_]+", "", text.lower())
    if not compact:
        return None
    pattern = re.compile(r"(.{2,40}?)\1{" + str(min_repeats - 1) + ",}")
    for match in pattern.finditer(compact):
        unit = match.group(1)
        span = match.end() - match.start()
        if span >= 0.25 * len(compact) or span >= 10 * len(unit):
            return unit
    single = re.search(r"(.)\1{19,}", compact)  # one character running on
    return single.group(1) if single else None


def compression_ratio(text: str) -> float:
    """zlib compression ratio of the text, as Whisper computes it."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def _weighted(values: Sequence[tuple[float, float]]) -> float:
    total = sum(w for _, w in values)
    if total <= 0:
        return sum(v for v, _ in values) / len(values) if values else 0.0
    return sum(v * w for v, w in values) / total


def assess(
    raw: RawTranscript, stats: SignalStats, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> Verdict:
    """Judge a transcript; call after :func:`pre_gate` said ``ok``."""
    t = thresholds
    text = clean_text(raw.text)
    if content_chars(text) == 0:
        if raw.text.strip():
            return Verdict(
                "unclear",
                "music_or_noise",
                f"only sound tags or stock phrases: {raw.text.strip()[:60]!r}",
            )
        return Verdict("unclear", "no_speech", "the recogniser heard no words")
    if content_chars(text) < t.min_chars:
        return Verdict(
            "unclear", "too_little_speech", f"only {content_chars(text)} characters: {text!r}"
        )
    loop = find_repetition(text, t.min_repeats)
    ratio = compression_ratio(text)
    if loop is not None or (len(text.encode()) > 60 and ratio > t.max_compression_ratio):
        what = f"{loop!r} repeated" if loop else f"compression ratio {ratio:.1f}"
        return Verdict("unclear", "repetition", what)
    segments = [s for s in raw.segments if s.text.strip()]
    if segments:
        weights = [max(s.end - s.start, 0.01) for s in segments]
        nonspeech = sum(
            w
            for s, w in zip(segments, weights, strict=True)
            if s.no_speech_prob > t.no_speech_prob and s.avg_logprob < -1.0
        )
        if nonspeech / sum(weights) > t.max_no_speech_share:
            return Verdict(
                "unclear", "music_or_noise", f"{nonspeech / sum(weights):.0%} looks like non-speech"
            )
        logprob = _weighted([(s.avg_logprob, w) for s, w in zip(segments, weights, strict=True)])
        if logprob < t.min_avg_logprob:
            return Verdict("unclear", "low_confidence", f"average log-probability {logprob:.2f}")
    events = raw.extra.get("events") or []
    total = sum(float(d) for _, d in events)
    noise = sum(float(d) for e, d in events if e not in _SPEECH_EVENTS)
    if total > 0 and noise / total > t.max_nonspeech_event_share:
        kinds = sorted({str(e) for e, _ in events if e not in _SPEECH_EVENTS})
        return Verdict(
            "unclear", "music_or_noise", f"{noise / total:.0%} heard as {', '.join(kinds)}"
        )
    rate = content_chars(text) / stats.speech_s if stats.speech_s else 0.0
    if stats.speech_s >= t.rate_min_speech_s and rate < t.min_chars_per_second:
        return Verdict(
            "unclear",
            "low_confidence",
            f"{content_chars(text)} characters for {stats.speech_s:.0f} s of speech",
        )
    if t.max_chars_per_second is not None and stats.speech_s > 0 and rate > t.max_chars_per_second:
        return Verdict("unclear", "low_confidence", f"{rate:.0f} characters per second of speech")
    return OK


# SenseVoice events that are speech (with or without a laugh or cough in it).
_SPEECH_EVENTS = {"Speech", "Laughter", "Cough", "Sneeze", "Breath", ""}
