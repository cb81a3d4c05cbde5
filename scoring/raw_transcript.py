"""What a speech backend returns before the quality gate: segments with Whisper's figures.

Its own module so that :mod:`scoring.quality` (which judges it) and
:mod:`scoring.transcribe` (whose backends produce it) both import it without
importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Alternative:
    """Another hypothesis the decoder had for a segment (N-best), with its score.

    ``score`` is the hypothesis' mean log-probability per token (higher is likelier).
    """

    text: str
    score: float


@dataclass(frozen=True)
class Segment:
    """One recognised stretch of speech, with Whisper's confidence figures."""

    start: float
    end: float
    text: str
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 1.0
    # Other hypotheses for this stretch, best first (``[speech] nbest``); never the text itself.
    alternatives: tuple[Alternative, ...] = ()


@dataclass(frozen=True)
class RawTranscript:
    """What a backend returns before the quality gate."""

    segments: list[Segment]
    language: str
    model: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The segments joined (no spaces between Chinese segments)."""
        joiner = "" if self.language == "zh" else " "
        return joiner.join(s.text.strip() for s in self.segments if s.text.strip())
