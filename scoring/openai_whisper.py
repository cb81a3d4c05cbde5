"""openai-whisper (PyTorch) backend: the reference implementation, optional extra.

Imported lazily (torch is never needed otherwise); see :mod:`scoring.transcribe`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from core.errors import ModelNotInstalledError
from scoring.raw_transcript import RawTranscript, Segment
from scoring.transcribe import LANGUAGES, Language, Samples, decoder_prompt, to_simplified


class OpenAIWhisperTranscriber:
    """openai-whisper (PyTorch) backend; needs ``pip install '.[openai-whisper]'``.

    Args:
        checkpoint: an openai-whisper ``.pt`` checkpoint (or a model name the
            operator has in openai-whisper's cache).
        device: ``cpu`` or ``cuda``.
        cpu_threads: torch intra-op threads.
        beam_size: 1 is greedy.

    Raises:
        ModelNotInstalledError: openai-whisper or the checkpoint is missing.
    """

    def __init__(
        self, checkpoint: Path, *, device: str = "cpu", cpu_threads: int = 2, beam_size: int = 5
    ) -> None:
        try:
            import torch
            import whisper
        except ImportError as exc:
            raise ModelNotInstalledError(
                "openai-whisper is not installed; install the extra: pip install '.[openai-whisper]'"
            ) from exc
        if not checkpoint.is_file():
            raise ModelNotInstalledError(f"openai-whisper checkpoint {checkpoint} not found")
        torch.set_num_threads(cpu_threads)
        self._whisper = whisper
        self._model = whisper.load_model(str(checkpoint), device=device)
        self._fp16 = device == "cuda"
        self.beam_size = beam_size
        self._name = f"openai-whisper:{checkpoint.stem}:{'float16' if self._fp16 else 'float32'}"
        self._lock = threading.Lock()  # torch modules are not safe to share between threads

    @property
    def model_name(self) -> str:
        """E.g. ``openai-whisper:base:float32``."""
        return self._name

    def _detect(self, samples: Samples) -> Language:
        audio = self._whisper.pad_or_trim(samples)
        mel = self._whisper.log_mel_spectrogram(audio, self._model.dims.n_mels).to(
            self._model.device
        )
        _, probs = self._model.detect_language(mel)
        return max(LANGUAGES, key=lambda code: float(probs.get(code, 0.0)))

    def transcribe(
        self, samples: Samples, *, language: Language | None, vocabulary: Sequence[str] = ()
    ) -> RawTranscript:
        """Recognise speech (no VAD inside; the quality gate runs one)."""
        with self._lock:
            lang: Language = language if language is not None else self._detect(samples)
            result = self._model.transcribe(
                samples,
                language=lang,
                beam_size=self.beam_size if self.beam_size > 1 else None,
                initial_prompt=decoder_prompt(lang, vocabulary),
                condition_on_previous_text=False,
                logprob_threshold=-1.5,
                fp16=self._fp16,
                verbose=None,
            )
        out = [
            Segment(
                start=round(float(s["start"]), 2),
                end=round(float(s["end"]), 2),
                text=to_simplified(str(s["text"]).strip())
                if lang == "zh"
                else str(s["text"]).strip(),
                avg_logprob=float(s["avg_logprob"]),
                no_speech_prob=float(s["no_speech_prob"]),
                compression_ratio=float(s["compression_ratio"]),
            )
            for s in result["segments"]
        ]
        return RawTranscript(segments=out, language=lang, model=self._name)
