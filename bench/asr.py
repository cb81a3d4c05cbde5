"""``bench asr``: speed, accuracy and memory of speech recognition on this machine.

Generates an English and a Mandarin interview answer (about a minute each,
espeak-ng, as Telegram voice notes), then runs each backend in its own
subprocess so its peak RSS can be measured:

* faster-whisper, the configured model (``base`` int8 by default), with the
  configured beam size and with beam 1;
* openai-whisper on the *same* weights, converted from the CTranslate2 file
  (:mod:`scoring.whisper_convert`), when torch and openai-whisper are installed.

Printed as ``name value unit`` lines. The real-time factor (RTF) is the median
recognition time (decoded audio in, text out; model load excluded) over the
clip length; WER is for English, CER for Mandarin (synthetic speech: the
Mandarin figure says more about espeak-ng than about Whisper).

Run: ``python main.py bench asr`` (or ``python -m bench.asr``); the clip generator is
:mod:`testkit.synth`.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.asr_metrics import Line, _emit, error_rate
from core.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]


def _worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Runs inside the subprocess: load one backend, transcribe each clip ``runs`` times."""
    from scoring.audio import decode_audio
    from scoring.openai_whisper import OpenAIWhisperTranscriber
    from scoring.transcribe import FasterWhisperTranscriber, Transcriber

    started = time.perf_counter()
    transcriber: Transcriber
    if spec["backend"] == "faster":
        transcriber = FasterWhisperTranscriber(
            Path(spec["model_dir"]),
            device=spec["device"],
            compute_type=spec["compute_type"],
            cpu_threads=spec["threads"],
            beam_size=spec["beam"],
        )
    else:
        transcriber = OpenAIWhisperTranscriber(
            Path(spec["checkpoint"]), cpu_threads=spec["threads"], beam_size=spec["beam"]
        )
    load_s = time.perf_counter() - started
    results = []
    for clip in spec["clips"]:
        samples = decode_audio(clip["path"], max_seconds=600).samples
        transcriber.transcribe(samples[: 16000 * 5], language=clip["language"])  # warm-up
        times, cpu, text = [], [], ""
        for _ in range(spec["runs"]):
            t0, c0 = time.perf_counter(), time.process_time()
            raw = transcriber.transcribe(samples, language=clip["language"])
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            text = raw.text
        results.append(
            {"duration_s": len(samples) / 16000, "times": times, "cpu": cpu, "text": text}
        )
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"load_s": load_s, "rss_mb": rss_mb, "clips": results, "model": transcriber.model_name}


def _spawn(spec: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.asr", "--worker", json.dumps(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark worker failed: {proc.stderr.strip()[-800:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _emit_cpu(lines: list[Line], prefix: str, res: dict[str, Any], threads: int) -> None:
    # CPU seconds per audio second over the thread count: what the wall-clock RTF
    # would be with the cores to ourselves (the machine here is shared).
    value = statistics.median(res["cpu"]) / res["duration_s"] / threads
    _emit(lines, f"{prefix}_cpu_rtf_per_thread", value, "x")


def run(settings: Settings, *, runs: int = 1, openai_beams: list[int] | None = None) -> list[Line]:
    """Run the ASR benchmark and print ``name value unit`` lines.

    Args:
        settings: ``speech`` says which model, device, compute type, threads, beam.
        runs: timed runs per clip (the median is reported).
        openai_beams: beam sizes for the openai-whisper comparison (default: 1
            and ``speech.beam_size``; beam 5 takes minutes per clip there).

    Returns:
        The printed lines as ``(name, value, unit)``.
    """
    from scoring.whisper_install import check_installed
    from testkit import synth

    speech = settings.speech
    check_installed(speech.model_dir)
    lines: list[Line] = []
    _emit(lines, "asr_load_avg_1m_at_start", os.getloadavg()[0], "load")
    scripts = {"en": synth.EN_LONG, "zh": synth.ZH_LONG}
    with tempfile.TemporaryDirectory(prefix="bench-asr-") as tmp:
        clips = []
        for lang, script in scripts.items():
            wav = synth.speak(script, Path(tmp) / f"{lang}.wav")
            clips.append(
                {"path": str(synth.voice_note(wav, Path(tmp) / f"{lang}.ogg")), "language": lang}
            )
        base: dict[str, Any] = {
            "model_dir": str(speech.model_dir),
            "device": speech.device,
            "compute_type": speech.compute_type,
            "threads": speech.cpu_threads,
            "clips": clips,
        }
        rtf: dict[tuple[str, int, str], float] = {}
        beams = sorted({speech.beam_size, 1}, reverse=True)
        for beam in beams:
            out = _spawn({**base, "backend": "faster", "beam": beam, "runs": runs})
            tag = (
                out["model"]
                .replace("faster-whisper:", "faster_whisper_")
                .replace(":", "_")
                .replace("-", "_")
            )
            _emit(lines, f"asr_{tag}_load", out["load_s"], "s")
            for clip, res in zip(clips, out["clips"], strict=True):
                lang = clip["language"]
                value = statistics.median(res["times"]) / res["duration_s"]
                rtf[("faster", beam, lang)] = value
                metric = "wer" if lang == "en" else "cer"
                _emit(lines, f"asr_{tag}_beam{beam}_{lang}_rtf", value, "x")
                _emit_cpu(lines, f"asr_{tag}_beam{beam}_{lang}", res, base["threads"])
                _emit(
                    lines,
                    f"asr_{tag}_beam{beam}_{lang}_{metric}",
                    error_rate(lang, scripts[lang].text, res["text"]),
                    "%",
                )
            _emit(lines, f"asr_{tag}_beam{beam}_peak_rss", out["rss_mb"], "MB")
        try:
            import torch  # noqa: F401
            import whisper  # noqa: F401
        except ImportError as exc:
            print(
                f"# openai-whisper comparison skipped: {exc} (pip install '.[openai-whisper]')",
                flush=True,
            )
        else:
            _openai(lines, base, clips, scripts, rtf, settings, openai_beams)
    from bench import asr_conditions

    asr_conditions.run(settings, lines)
    _emit(lines, "asr_load_avg_1m_at_end", os.getloadavg()[0], "load")
    return lines


def _openai(
    lines: list[Line],
    base: dict[str, Any],
    clips: list[dict[str, str]],
    scripts: dict[str, Any],
    rtf: dict[tuple[str, int, str], float],
    settings: Settings,
    beams: list[int] | None,
) -> None:
    from scoring.whisper_convert import convert

    speech = settings.speech
    checkpoint = convert(
        speech.model_dir, speech.model_dir.parent / f"{speech.model_dir.name}-openai.pt"
    )
    # Both beam settings: openai-whisper's beam search copies its cross-attention
    # cache for every step, so its beam-5 figure is far worse than its greedy one.
    for beam in sorted(set(beams or [speech.beam_size, 1]), reverse=True):
        if ("faster", beam, "en") not in rtf:
            continue  # no faster-whisper figure to compare with
        out = _spawn(
            {**base, "backend": "openai", "checkpoint": str(checkpoint), "beam": beam, "runs": 1}
        )
        tag = "openai_whisper_" + checkpoint.stem.replace("-", "_") + "_fp32"
        _emit(lines, f"asr_{tag}_load", out["load_s"], "s")
        for clip, res in zip(clips, out["clips"], strict=True):
            lang = clip["language"]
            value = statistics.median(res["times"]) / res["duration_s"]
            metric = "wer" if lang == "en" else "cer"
            _emit(lines, f"asr_{tag}_beam{beam}_{lang}_rtf", value, "x")
            _emit_cpu(lines, f"asr_{tag}_beam{beam}_{lang}", res, base["threads"])
            _emit(
                lines,
                f"asr_{tag}_beam{beam}_{lang}_{metric}",
                error_rate(lang, scripts[lang].text, res["text"]),
                "%",
            )
            _emit(
                lines,
                f"asr_speedup_faster_vs_openai_beam{beam}_{lang}",
                value / rtf[("faster", beam, lang)],
                "x",
            )
        _emit(lines, f"asr_{tag}_beam{beam}_peak_rss", out["rss_mb"], "MB")


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.asr [--config FILE] [--openai-beams 1,5]``.

    ``--worker JSON`` is internal (one backend in a subprocess).
    """
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--worker"]:
        print(json.dumps(_worker(json.loads(args[1]))), flush=True)
        return 0
    config = args[args.index("--config") + 1] if "--config" in args else None
    beams = None
    if "--openai-beams" in args:
        beams = [int(b) for b in args[args.index("--openai-beams") + 1].split(",")]
    run(load_settings(config), openai_beams=beams)
    return 0


if __name__ == "__main__":
    sys.exit(main())
