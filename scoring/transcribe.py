"""Speech to text: the ``Transcriber`` protocol, its backends and ``transcribe_answer``.

* :class:`FasterWhisperTranscriber` (default): CTranslate2 Whisper, int8 on CPU,
  float16 on a GPU when one is present. Build it once per worker process
  (:func:`get_transcriber` caches it) - loading costs about half a second and
  150-600 MB.
* :class:`scoring.openai_whisper.OpenAIWhisperTranscriber` (optional, extra
  ``openai-whisper``): the reference PyTorch implementation;
* :class:`scoring.sensevoice.SenseVoiceTranscriber`: SenseVoice-Small through
  sherpa-onnx, the Mandarin-strong backend; :mod:`scoring.speech_router` picks a
  backend per language (``[speech] zh`` / ``en``).

The interview's language is passed explicitly (``zh`` or ``en``); when unknown,
detection is limited to those two. Chinese output is Simplified: the decoder
is primed with a Simplified prompt and the text is converted with ``zhconv``.

:func:`transcribe_answer` is the pure function the background job calls: bytes
or a path in, a :class:`TranscriptResult` out, no database.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from core.errors import InterviewerError, ModelNotInstalledError
from core.settings import Settings
from scoring import quality
from scoring.audio import SAMPLE_RATE, decode_audio
from scoring.raw_transcript import Alternative, RawTranscript, Segment
from scoring.whisper_install import check_installed

if TYPE_CHECKING:
    from scoring.hypothesis_choice import HypothesisChooser

Language = Literal["zh", "en"]
Samples = npt.NDArray[np.float32]

# Primes the decoder towards Mandarin in Simplified characters; without it
# ``base`` printed Traditional characters and fell into loops (MODELS.md).
ZH_PROMPT = "以下是普通话的句子。"
LANGUAGES: tuple[Language, ...] = ("zh", "en")


class Transcriber(Protocol):
    """Turns 16 kHz mono samples into text."""

    @property
    def model_name(self) -> str:
        """Backend and model, as stored beside each transcript."""
        ...

    def transcribe(
        self, samples: Samples, *, language: Language | None, vocabulary: Sequence[str] = ()
    ) -> RawTranscript:
        """Recognise speech.

        Args:
            samples: float32, 16 kHz, mono.
            language: the interview's language, or ``None`` to detect zh/en.
            vocabulary: words the answer likely holds (the question's, the job's),
                to bias decoding where the backend can; never added to the text.
        """
        ...


class AlternativeOut(BaseModel):
    """Another hypothesis for a segment (N-best), kept for HR."""

    text: str
    score: float


class SegmentOut(BaseModel):
    """A segment as stored and printed."""

    start: float
    end: float
    text: str
    # Other hypotheses, best first (``[speech] nbest``); when the language model chose
    # one of them (``hypothesis_choice``), the decoder's own best is among these.
    alternatives: list[AlternativeOut] = []


class TranscriptResult(BaseModel):
    """The outcome of transcribing one answer (the ``transcribe --json`` shape)."""

    text: str
    language: str
    duration_s: float
    speech_s: float
    quality: quality.Quality
    reason: str | None
    segments: list[SegmentOut]
    model: str
    rtf: float
    backend: str = ""
    punctuated: bool = False


# Sentence punctuation in a transcript (SenseVoice writes it; Whisper sometimes does).
_PUNCTUATION = re.compile(r"[。！？；，,.!?;]")


@functools.cache
def _zhconv() -> Any:
    import zhconv

    # Load the dictionary by path: zhconv's default loader leaves the file open
    # (a ResourceWarning, which the test suite treats as an error).
    zhconv.loaddict(str(Path(zhconv.__file__).parent / "zhcdict.json"))
    return zhconv


def to_simplified(text: str) -> str:
    """Convert Chinese text to Simplified characters (mainland usage)."""
    converted: str = _zhconv().convert(text, "zh-cn")
    return converted


def simplified(raw: RawTranscript) -> RawTranscript:
    """A Chinese transcript with every segment and alternative in Simplified characters.

    Each backend converts its own output already; this is the guarantee at the one
    place every backend's output passes (``transcribe_answer``), so a new backend or
    a missed path (N-best alternatives) cannot hand Traditional text to scoring.
    """
    if raw.language != "zh":
        return raw
    segments = [
        dataclasses.replace(
            s,
            text=to_simplified(s.text),
            alternatives=tuple(
                Alternative(text=to_simplified(a.text), score=a.score) for a in s.alternatives
            ),
        )
        for s in raw.segments
    ]
    return dataclasses.replace(raw, segments=segments)


def decoder_prompt(language: str, vocabulary: Sequence[str] = ()) -> str | None:
    """Whisper's ``initial_prompt``: Simplified Mandarin priming for zh, then the vocabulary.

    The prompt only biases decoding towards these words; nothing of it is added
    to the transcript (an echoed prompt is a known hallucination the gate removes).
    """
    terms = [" ".join(v.split())[:60] for v in vocabulary if v.strip()][:20]
    if language == "zh":
        return ZH_PROMPT + ("关键词：" + "、".join(terms) + "。" if terms else "")
    return "Keywords: " + ", ".join(terms) + "." if terms else None


def _resolve_device(device: str, compute_type: str) -> tuple[str, str]:
    if device == "auto":
        try:
            import ctranslate2

            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        except (ImportError, RuntimeError):
            device = "cpu"
    if compute_type == "auto":
        compute_type = "float16" if device == "cuda" else "int8"
    return device, compute_type


class FasterWhisperTranscriber:
    """faster-whisper (CTranslate2) backend; thread-safe, load once per process.

    Args:
        model_dir: a CTranslate2 Whisper folder (``models install`` makes one).
        device: ``auto``, ``cpu`` or ``cuda``.
        compute_type: ``auto`` (int8 on CPU, float16 on GPU) or any CTranslate2 type.
        cpu_threads: threads per transcription.
        beam_size: 1 is greedy (fastest); 5 is Whisper's default.
        num_workers: parallel transcriptions the model may serve.
        batch_size: VAD chunks decoded together on a GPU (batched pipeline).
        nbest: hypotheses kept per segment (0: none); each segment is decoded a
            second time on its own audio (:mod:`scoring.whisper_nbest`) and the other
            hypotheses become its ``alternatives``.

    Raises:
        ModelNotInstalledError: the folder is incomplete or CTranslate2 cannot load it.
    """

    def __init__(
        self,
        model_dir: Path,
        *,
        device: str = "auto",
        compute_type: str = "auto",
        cpu_threads: int = 2,
        beam_size: int = 5,
        num_workers: int = 1,
        batch_size: int = 16,
        nbest: int = 0,
    ) -> None:
        check_installed(model_dir)
        from faster_whisper import WhisperModel

        self.device, self.compute_type = _resolve_device(device, compute_type)
        self.beam_size = beam_size
        self._name = f"faster-whisper:{model_dir.name}:{self.compute_type}"
        try:
            self._model = WhisperModel(
                str(model_dir),
                device=self.device,
                compute_type=self.compute_type,
                cpu_threads=cpu_threads,
                num_workers=num_workers,
                local_files_only=True,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelNotInstalledError(
                f"could not load the Whisper model in {model_dir}: {exc}; "
                "reinstall it with `python main.py models install`"
            ) from exc
        self.batch_size = batch_size
        self.nbest = nbest
        self._batched: Any = None
        if self.device == "cuda":
            from faster_whisper import BatchedInferencePipeline

            self._batched = BatchedInferencePipeline(model=self._model)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, beam_size: int | None = None
    ) -> FasterWhisperTranscriber:
        """Build from the ``[speech]`` settings."""
        speech = settings.speech
        return cls(
            speech.model_dir,
            device=speech.device,
            compute_type=speech.compute_type,
            cpu_threads=speech.cpu_threads,
            beam_size=beam_size or speech.beam_size,
            num_workers=settings.workers.count,
            nbest=speech.nbest,
        )

    @property
    def model_name(self) -> str:
        """E.g. ``faster-whisper:whisper-base:int8``."""
        return self._name

    def detect_language(self, samples: Samples) -> Language:
        """The likelier of zh and en for this audio."""
        _, _, probs = self._model.detect_language(samples, vad_filter=True)
        scores = dict(probs)
        return max(LANGUAGES, key=lambda lang: scores.get(lang, 0.0))

    def transcribe(
        self, samples: Samples, *, language: Language | None, vocabulary: Sequence[str] = ()
    ) -> RawTranscript:
        """Recognise speech with VAD filtering and no cross-window conditioning.

        On a GPU the VAD chunks are decoded in batches (faster-whisper's
        ``BatchedInferencePipeline``); ``vocabulary`` goes into the decoder prompt.
        """
        lang = language or self.detect_language(samples)
        options: dict[str, Any] = {
            "language": lang,
            "beam_size": self.beam_size,
            "initial_prompt": decoder_prompt(lang, vocabulary),
            "vad_parameters": {"min_silence_duration_ms": 500},
            "condition_on_previous_text": False,
            # Re-decode at higher temperature only when a window is very
            # unsure or loops; the quality gate flags the merely unsure.
            "log_prob_threshold": -1.5,
        }
        try:
            if self._batched is not None:
                segments, _info = self._batched.transcribe(
                    samples, batch_size=self.batch_size, without_timestamps=False, **options
                )
            else:
                segments, _info = self._model.transcribe(samples, vad_filter=True, **options)
            out = [
                Segment(
                    start=round(s.start, 2),
                    end=round(s.end, 2),
                    text=to_simplified(s.text.strip()) if lang == "zh" else s.text.strip(),
                    avg_logprob=s.avg_logprob,
                    no_speech_prob=s.no_speech_prob,
                    compression_ratio=s.compression_ratio,
                )
                for s in segments
            ]
            if self.nbest > 0:
                out = [self._with_alternatives(samples, s, lang, options) for s in out]
        except RuntimeError as exc:
            # Not a MediaError: the file decoded fine, so the job should fail
            # (and keep the media for a retry) rather than blame the candidate.
            raise InterviewerError(f"speech recognition failed: {exc}") from exc
        return RawTranscript(
            segments=out, language=lang, model=self._name, extra={"backend": "whisper"}
        )

    def _with_alternatives(
        self, samples: Samples, segment: Segment, lang: str, options: dict[str, Any]
    ) -> Segment:
        from scoring.whisper_nbest import segment_hypotheses

        found = segment_hypotheses(
            self._model,
            samples,
            segment,
            language=lang,
            k=self.nbest,
            beam_size=self.beam_size,
            prompt=options["initial_prompt"],
        )
        alternatives: list[Alternative] = []
        for hyp in found:
            text = to_simplified(hyp.text) if lang == "zh" else hyp.text
            if text != segment.text and text not in {a.text for a in alternatives}:
                alternatives.append(Alternative(text=text, score=hyp.score))
        return dataclasses.replace(segment, alternatives=tuple(alternatives))


@functools.cache
def _cached(
    model_dir: Path,
    device: str,
    compute_type: str,
    threads: int,
    beam: int,
    workers: int,
    nbest: int = 0,
) -> FasterWhisperTranscriber:
    return FasterWhisperTranscriber(
        model_dir,
        device=device,
        compute_type=compute_type,
        cpu_threads=threads,
        beam_size=beam,
        num_workers=workers,
        nbest=nbest,
    )


def get_transcriber(
    settings: Settings, *, beam_size: int | None = None
) -> FasterWhisperTranscriber:
    """The process-wide transcriber for these settings (loaded on first call)."""
    speech = settings.speech
    return _cached(
        speech.model_dir,
        speech.device,
        speech.compute_type,
        speech.cpu_threads,
        beam_size or speech.beam_size,
        settings.workers.count,
        speech.nbest,
    )


def transcribe_answer(
    transcriber: Transcriber,
    path_or_bytes: str | os.PathLike[str] | bytes,
    *,
    language: Language | None,
    max_seconds: float,
    max_bytes: int = 50_000_000,
    decode_timeout_s: float = 60.0,
    thresholds: quality.Thresholds | None = None,
    vocabulary: Sequence[str] = (),
    chooser: HypothesisChooser | None = None,
    context: Sequence[str] = (),
    clock: Callable[[], float] = time.perf_counter,
) -> TranscriptResult:
    """Decode, gate and transcribe one answer.

    Unusable audio (silence, noise, too little speech, loops, low confidence)
    is not an error: the result has ``quality="unclear"`` and a ``reason``
    from :data:`scoring.quality.REASONS`, and its text must not be scored.

    Args:
        transcriber: a loaded backend (see :func:`get_transcriber`).
        path_or_bytes: the media file, or its bytes (e.g. decrypted from the store).
        language: the interview's language; ``None`` detects zh/en.
        max_seconds: longest answer accepted (``interview.max_answer_seconds``).
        max_bytes: largest file accepted (``interview.max_media_bytes``).
        decode_timeout_s: time limit for decoding (``speech.decode_timeout_seconds``).
        thresholds: the quality gate's lines (default: those of the backend that
            ran, :func:`scoring.quality.thresholds_for`).
        vocabulary: words to bias decoding towards (the question's and job's terms).
        chooser: picks among each segment's N-best hypotheses (``[speech] nbest``),
            before the quality gate; ``None`` keeps the decoder's best.
        context: what the chooser is told: the question first, then the job's words.
        clock: monotonic seconds, for the real-time factor.

    Returns:
        The transcript with its quality verdict and real-time factor
        (processing time over audio duration, decoding included).

    Raises:
        MediaError: the file is empty, corrupt, truncated, of the wrong type,
            too large, too long or took too long to decode (``reason`` says which).
        ConfigError: ffmpeg is not installed (a server problem: retry the job later).
        InterviewerError: the recogniser itself failed (also a server problem).
    """
    started = clock()
    audio = decode_audio(
        path_or_bytes, max_seconds=max_seconds, max_bytes=max_bytes, timeout_s=decode_timeout_s
    )
    stats = quality.measure_signal(audio.samples)
    verdict = quality.pre_gate(stats, thresholds or quality.DEFAULT_THRESHOLDS)
    segments: list[Segment] = []
    text = ""
    used_language: str = language or "unknown"
    model = transcriber.model_name
    backend = ""
    if verdict.quality == "ok":
        raw = transcriber.transcribe(audio.samples, language=language, vocabulary=vocabulary)
        backend = str(raw.extra.get("backend", ""))
        raw = simplified(raw)
        if chooser is not None:
            from scoring.hypothesis_choice import choose

            question, *words = list(context) or [""]
            raw = choose(raw, chooser, question=question, vocabulary=words)
        verdict = quality.assess(raw, stats, thresholds or quality.thresholds_for(backend))
        segments, text, used_language, model = raw.segments, raw.text, raw.language, raw.model
    elapsed = clock() - started
    duration = len(audio.samples) / SAMPLE_RATE
    return TranscriptResult(
        text=text,
        language=used_language,
        duration_s=round(duration, 2),
        speech_s=round(stats.speech_s, 2),
        quality=verdict.quality,
        reason=verdict.reason,
        segments=[
            SegmentOut(
                start=s.start,
                end=s.end,
                text=s.text,
                alternatives=[AlternativeOut(text=a.text, score=a.score) for a in s.alternatives],
            )
            for s in segments
        ],
        model=model,
        rtf=round(elapsed / duration, 4) if duration else 0.0,
        backend=backend or model.split(":", 1)[0],
        punctuated=bool(_PUNCTUATION.search(text)),
    )
