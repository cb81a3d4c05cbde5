"""One recogniser per interview language, behind the ``Transcriber`` protocol.

``[speech] zh`` and ``[speech] en`` name the backend for each language
(``whisper`` or ``sensevoice``). When the language is unknown, Whisper's language
identification picks zh or en first (or, without Whisper, SenseVoice's own
language tag decides). A configured backend that is not installed is replaced by
Whisper, with an error in the log and ``backend`` in the result saying which one
ran - never a transcript from nowhere.

Backends load on first use and are kept for the process (:func:`get_recogniser`).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Mapping, Sequence

from core.errors import ModelNotInstalledError
from core.settings import Settings
from scoring.raw_transcript import RawTranscript
from scoring.transcribe import LANGUAGES, Language, Samples, Transcriber

log = logging.getLogger(__name__)
FALLBACK = "whisper"


class SpeechRouter:
    """Sends each answer to the backend configured for its language.

    Args:
        choice: backend name per language, e.g. ``{"zh": "sensevoice", "en": "whisper"}``.
        loaders: how to build each backend by name (called once, on first use).
    """

    def __init__(
        self, choice: Mapping[Language, str], loaders: Mapping[str, Callable[[], Transcriber]]
    ) -> None:
        unknown = sorted(set(choice.values()) - set(loaders))
        if unknown:
            raise ValueError(f"no loader for backend(s) {', '.join(unknown)}")
        self.choice = dict(choice)
        self._loaders = dict(loaders)
        self._loaded: dict[str, Transcriber] = {}
        self._broken: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def model_name(self) -> str:
        """E.g. ``router:zh=sensevoice,en=whisper``."""
        return "router:" + ",".join(f"{lang}={name}" for lang, name in self.choice.items())

    def load(self, name: str) -> Transcriber:
        """The backend ``name``, loaded once.

        Raises:
            ModelNotInstalledError: its weights are missing (remembered, not retried).
        """
        with self._lock:
            if name in self._broken:
                raise ModelNotInstalledError(self._broken[name])
            if name not in self._loaded:
                try:
                    self._loaded[name] = self._loaders[name]()
                except ModelNotInstalledError as exc:
                    self._broken[name] = str(exc)
                    raise
            return self._loaded[name]

    def backend_for(self, language: Language) -> tuple[str, Transcriber]:
        """The configured backend for a language, or Whisper when it is not installed."""
        name = self.choice.get(language, FALLBACK)
        try:
            return name, self.load(name)
        except ModelNotInstalledError as exc:
            if name == FALLBACK or FALLBACK not in self._loaders:
                raise
            log.error("speech backend %s unavailable, using %s: %s", name, FALLBACK, exc)
            return FALLBACK, self.load(FALLBACK)

    def identify(self, samples: Samples) -> Language | None:
        """zh or en by Whisper's language identification; ``None`` without Whisper."""
        try:
            whisper = self.load(FALLBACK) if FALLBACK in self._loaders else None
        except ModelNotInstalledError:
            whisper = None
        detect = getattr(whisper, "detect_language", None)
        if detect is None:
            return None
        found: Language = detect(samples)
        return found

    def transcribe(
        self, samples: Samples, *, language: Language | None, vocabulary: Sequence[str] = ()
    ) -> RawTranscript:
        """Identify the language if needed, then recognise with its backend."""
        lang = language or self.identify(samples)
        if lang is None:
            # No Whisper to identify the language: a backend that identifies it
            # itself (SenseVoice does) hears the audio with no language forced.
            others = [n for n in self.choice.values() if n != FALLBACK]
            if not others:
                raise ModelNotInstalledError(
                    self._broken.get(FALLBACK, "no speech backend can identify the language")
                )
            name = others[0]
            raw = self.load(name).transcribe(samples, language=None, vocabulary=vocabulary)
        else:
            name, backend = self.backend_for(lang)
            raw = backend.transcribe(samples, language=lang, vocabulary=vocabulary)
        return dataclasses.replace(raw, extra={**raw.extra, "backend": name})


def _loaders(settings: Settings, beam_size: int | None) -> dict[str, Callable[[], Transcriber]]:
    from scoring.sensevoice import SenseVoiceTranscriber
    from scoring.transcribe import get_transcriber

    speech = settings.speech

    def whisper() -> Transcriber:
        return get_transcriber(settings, beam_size=beam_size)

    def sensevoice() -> Transcriber:
        provider = "cuda" if speech.device == "cuda" else "cpu"
        return SenseVoiceTranscriber(
            speech.sensevoice_dir, cpu_threads=speech.cpu_threads, provider=provider
        )

    return {"whisper": whisper, "sensevoice": sensevoice}


_routers: dict[tuple[str, int, int | None], SpeechRouter] = {}
_routers_lock = threading.Lock()


def get_recogniser(settings: Settings, *, beam_size: int | None = None) -> SpeechRouter:
    """The process-wide router for these speech settings (backends load on first use)."""
    key = (settings.speech.model_dump_json(), settings.workers.count, beam_size)
    with _routers_lock:
        if key not in _routers:
            choice: dict[Language, str] = {
                lang: getattr(settings.speech, lang) for lang in LANGUAGES
            }
            _routers[key] = SpeechRouter(choice, _loaders(settings, beam_size))
        return _routers[key]
