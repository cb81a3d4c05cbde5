"""Speech fakes: a scripted transcriber and generated speech audio."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

from scoring.raw_transcript import Alternative, RawTranscript, Segment


class ScriptedTranscriber:
    """Returns the next scripted text for each clip (the audio itself is really decoded)."""

    model_name = "fake-whisper"

    def __init__(self, texts: list[str] | None = None, *, avg_logprob: float = -0.2) -> None:
        self.texts = list(texts or [])
        # N-best: other hypotheses given to each segment (``[speech] nbest``)
        self.alternatives: list[str] = []
        self.avg_logprob = avg_logprob
        self.calls = 0
        self.vocabulary: list[str] = []

    def transcribe(self, samples: Any, *, language: Any, vocabulary: Any = ()) -> RawTranscript:
        self.calls += 1
        self.vocabulary = list(vocabulary)
        text = self.texts.pop(0) if self.texts else "I solved the problem and the result was good."
        duration = len(samples) / 16000
        return RawTranscript(
            segments=[
                Segment(
                    start=0.0,
                    end=duration,
                    text=text,
                    avg_logprob=self.avg_logprob,
                    no_speech_prob=0.01,
                    compression_ratio=1.3,
                    alternatives=tuple(Alternative(a, -0.5) for a in self.alternatives),
                )
            ],
            language=language or "en",
            model=self.model_name,
        )


def spoken_ogg(text: str, voice: str = "en-us") -> bytes:
    """Real speech (espeak-ng) encoded as a Telegram-style OGG/Opus voice note."""
    from bot.demo import make_voice

    with tempfile.TemporaryDirectory() as tmp:
        ogg = make_voice(text, Path(tmp), voice=voice)
        assert ogg is not None, "espeak-ng and ffmpeg are installed by make"
        return ogg.read_bytes()


def silent_ogg(seconds: float = 4.0) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        ogg = Path(tmp) / "s.ogg"
        subprocess.run(
            [
                "ffmpeg",
                "-y",
                "-loglevel",
                "error",
                "-f",
                "lavfi",
                "-i",
                "anullsrc=r=16000:cl=mono",
                "-t",
                str(seconds),
                "-c:a",
                "libopus",
                str(ogg),
            ],
            check=True,
        )
        return ogg.read_bytes()
