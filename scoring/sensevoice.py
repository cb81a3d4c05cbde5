"""SenseVoice-Small through sherpa-onnx: the Mandarin-strong CPU backend.

SenseVoice is a non-autoregressive CTC model (zh, en, yue, ja, ko, code-switching
included) that writes punctuation and inverse-normalised numbers itself
(``use_itn``), so its Chinese transcripts come punctuated. It cannot loop the way
an autoregressive decoder does, and it reports an audio event per decoded stretch
(``<|Speech|>``, ``<|BGM|>``, ``<|Laughter|>`` ...), which the quality gate uses.

The audio is cut at the pauses the Silero VAD finds into chunks of at most
``max_chunk_s`` seconds; the chunks are decoded as one batch and each becomes a
:class:`~scoring.raw_transcript.Segment` with its start and end time, so the
pauses survive for the sentence splitter. sherpa-onnx gives no token
probabilities for this model: the segments carry no confidence figures
(``extra["confidence"] = "none"``) and the gate judges the text rate, events and
loops instead (:data:`scoring.quality.SENSEVOICE_THRESHOLDS`).

Weights: ``models install --from DIR`` (:mod:`scoring.sensevoice_install`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from core.errors import InterviewerError
from scoring.raw_transcript import RawTranscript, Segment
from scoring.sensevoice_install import TOKENS, check_installed

Samples = npt.NDArray[np.float32]
SAMPLE_RATE = 16_000
_TAG = re.compile(r"<\|([^|]*)\|>")


def chunk_spans(
    spans: list[tuple[int, int]],
    total: int,
    *,
    max_chunk_s: float = 25.0,
    join_gap_s: float = 0.6,
    pad_s: float = 0.15,
) -> list[tuple[int, int]]:
    """Group VAD speech spans (sample offsets) into decoding chunks.

    Spans closer than ``join_gap_s`` are joined while the chunk stays under
    ``max_chunk_s``; a longer pause always ends a chunk (a segment boundary the
    sentence splitter sees). Each chunk is padded by ``pad_s`` within the audio.
    No spans at all gives one chunk over the whole audio.
    """
    if not spans:
        return [(0, total)] if total else []
    gap, limit, pad = (int(v * SAMPLE_RATE) for v in (join_gap_s, max_chunk_s, pad_s))
    chunks: list[list[int]] = []
    for start, end in spans:
        while end - start > limit:  # one very long stretch without a pause
            chunks.append([start, start + limit])
            start += limit
        last = chunks[-1] if chunks else None
        if last is not None and start - last[1] < gap and end - last[0] <= limit:
            last[1] = end
        else:
            chunks.append([start, end])
    return [(max(0, s - pad), min(total, e + pad)) for s, e in chunks]


def _tag(value: str) -> str:
    match = _TAG.fullmatch(value.strip())
    return match.group(1) if match else value.strip()


class SenseVoiceTranscriber:
    """sherpa-onnx SenseVoice backend; thread-safe, load once per process.

    Args:
        model_dir: a folder installed by ``models install --from DIR``.
        cpu_threads: onnxruntime threads per decode.
        use_itn: punctuation and numerals in the output (SenseVoice's own).
        provider: ``cpu`` or ``cuda`` (a sherpa-onnx build with CUDA).
        max_chunk_s: longest stretch decoded at once.

    Raises:
        ModelNotInstalledError: the folder is missing, incomplete or changed.
    """

    def __init__(
        self,
        model_dir: Path,
        *,
        cpu_threads: int = 2,
        use_itn: bool = True,
        provider: str = "cpu",
        max_chunk_s: float = 25.0,
    ) -> None:
        self._model = check_installed(model_dir)
        self._tokens = model_dir / TOKENS
        self._threads = cpu_threads
        self._use_itn = use_itn
        self._provider = provider
        self.max_chunk_s = max_chunk_s
        self._name = f"sherpa-onnx:sensevoice:{self._model.stem}"
        self._recognisers: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._recogniser("")  # load now: a broken model fails at start, not mid-interview

    @property
    def model_name(self) -> str:
        """E.g. ``sherpa-onnx:sensevoice:model.int8``."""
        return self._name

    def _recogniser(self, language: str) -> Any:
        with self._lock:
            if language not in self._recognisers:
                import sherpa_onnx

                self._recognisers[language] = sherpa_onnx.OfflineRecognizer.from_sense_voice(
                    model=str(self._model),
                    tokens=str(self._tokens),
                    num_threads=self._threads,
                    provider=self._provider,
                    language=language,
                    use_itn=self._use_itn,
                )
            return self._recognisers[language]

    def transcribe(
        self, samples: Samples, *, language: str | None, vocabulary: Sequence[str] = ()
    ) -> RawTranscript:
        """Recognise speech chunk by chunk (cut at pauses), decoded as one batch.

        ``vocabulary`` is accepted and unused: sherpa-onnx applies hotwords only to
        transducer models, and SenseVoice is a CTC model.
        """
        from scoring.quality import speech_spans

        chunks = chunk_spans(speech_spans(samples), len(samples), max_chunk_s=self.max_chunk_s)
        recogniser = self._recogniser(language or "")
        streams = []
        for start, end in chunks:
            stream = recogniser.create_stream()
            stream.accept_waveform(SAMPLE_RATE, samples[start:end])
            streams.append(stream)
        try:
            if streams:
                recogniser.decode_streams(streams)
        except RuntimeError as exc:
            raise InterviewerError(f"speech recognition failed: {exc}") from exc
        results = [stream.result for stream in streams]
        lang = language or _majority([_tag(r.lang) for r in results], default="zh")
        segments, events = [], []
        for (start, end), result in zip(chunks, results, strict=True):
            text = result.text.strip()
            if lang == "zh":
                from scoring.transcribe import to_simplified

                text = to_simplified(text)
            seg = Segment(
                start=round(start / SAMPLE_RATE, 2), end=round(end / SAMPLE_RATE, 2), text=text
            )
            events.append((_tag(result.event) or "Speech", seg.end - seg.start))
            if text:
                segments.append(seg)
        return RawTranscript(
            segments=segments,
            language=lang,
            model=self._name,
            extra={"backend": "sensevoice", "events": events, "confidence": "none"},
        )


def _majority(values: list[str], *, default: str) -> str:
    known = [v for v in values if v in ("zh", "en")]
    return max(set(known), key=known.count) if known else default
