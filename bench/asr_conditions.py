"""``bench asr`` part two: accuracy per backend on clean, noisy and telephone-band speech.

The same clips go to every backend, each backend in its own subprocess (peak RSS):

* Mandarin (``ZH_LONG``, ~56 s) as a Telegram voice note: clean, pink noise at
  10 dB SNR, babble at 5 dB SNR, and WeChat-like 8 kHz AMR-NB;
  a code-switched answer (Mandarin with Python, SQL, KPI said in English);
* English (``EN_LONG``) clean.

Backends: Whisper base with plain decoding (the reference), Whisper base with the
question's and job's vocabulary in its prompt (the decoding-side gain), Whisper base
with N-best hypotheses per segment (``whisper_base_nbest``: its top beam, then each
hypothesis chooser - ``rules``, and ``llm`` when the ``[llm]`` model is installed -
as its own row ``whisper_base_nbest_<chooser>``, with ``*_gain_from_nbest_<chooser>``
against the same run's top beam), and
SenseVoice when ``speech.sensevoice_dir`` holds verified weights. Without them,
the SenseVoice pipeline (VAD, chunking, sherpa-onnx) is timed on the tiny test
model instead, and its lines say ``tiny_testmodel``: their accuracy is meaningless.

Lines: ``asr_<backend>_<lang>_<condition>_{cer,wer,keyword_recall,rtf,gate_ok}`` and
``asr_<backend>_peak_rss``; ``asr_zh_<condition>_cer_default_over_whisper_base`` is the
configured Mandarin default's CER over plain Whisper base's.

``python -m bench.asr_conditions --only whisper_base,whisper_base_nbest`` runs some rows.
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.asr_metrics import Line, _emit, error_rate
from core.settings import Settings

# Hypotheses per segment for the N-best row (``[speech] nbest`` when it is turned on).
NBEST = 4

QUESTION = {
    "zh": ["请举一个例子：你如何处理客户对项目发布延迟的不满？", "软件项目经理"],
    "en": ["Tell me about a time you won back an unhappy customer.", "Software project manager"],
}


def keyword_recall(text: str, keywords: tuple[str, ...]) -> float:
    """Share of the keywords found in the transcript (Simplified, case-insensitive), %."""
    from scoring.transcribe import to_simplified

    low = to_simplified(text).lower().replace(" ", "")
    return 100.0 * sum(k.lower().replace(" ", "") in low for k in keywords) / max(1, len(keywords))


def make_clips(folder: Path) -> list[dict[str, Any]]:
    """Generate every clip; each with its language, condition and script."""
    from testkit import degrade, synth

    clips: list[dict[str, Any]] = []

    def add(path: Path, lang: str, condition: str, script: synth.Script) -> None:
        clips.append(
            {
                "path": str(path),
                "language": lang,
                "condition": condition,
                "text": script.text,
                "keywords": list(script.keywords),
            }
        )

    zh = synth.speak(synth.ZH_LONG, folder / "zh.wav")
    add(synth.voice_note(zh, folder / "zh_clean.ogg"), "zh", "clean", synth.ZH_LONG)
    pink = degrade.add_noise(zh, folder / "zh_pink10.wav", snr_db=10, kind="pink")
    add(synth.voice_note(pink, folder / "zh_pink10.ogg"), "zh", "pink10db", synth.ZH_LONG)
    babble = degrade.add_noise(zh, folder / "zh_babble5.wav", snr_db=5, kind="babble")
    add(synth.voice_note(babble, folder / "zh_babble5.ogg"), "zh", "babble5db", synth.ZH_LONG)
    phone = degrade.telephone(zh, folder / "zh_8k.wav")
    add(synth.wechat_amr(phone, folder / "zh_8k.amr"), "zh", "amr8k", synth.ZH_LONG)
    mixed = degrade.speak_mixed(degrade.ZH_CODE_SWITCH, folder / "zh_mixed.wav")
    add(
        synth.voice_note(mixed, folder / "zh_mixed.ogg"), "zh", "codeswitch", degrade.ZH_CODE_SWITCH
    )
    en = synth.speak(synth.EN_LONG, folder / "en.wav")
    add(synth.voice_note(en, folder / "en_clean.ogg"), "en", "clean", synth.EN_LONG)
    return clips


def _load(spec: dict[str, Any]) -> Any:
    if spec["backend"] == "sensevoice":
        from scoring.sensevoice import SenseVoiceTranscriber

        return SenseVoiceTranscriber(Path(spec["model_dir"]), cpu_threads=spec["threads"])
    from scoring.transcribe import FasterWhisperTranscriber

    return FasterWhisperTranscriber(
        Path(spec["model_dir"]),
        device=spec["device"],
        compute_type=spec["compute_type"],
        cpu_threads=spec["threads"],
        beam_size=spec["beam"],
        nbest=spec.get("nbest", 0),
    )


def _choosers(spec: dict[str, Any]) -> dict[str, Any]:
    """The hypothesis choosers a ``nbest`` spec asks for: ``rules`` and/or ``llm``."""
    from scoring.hypothesis_choice import LLMChooser, RulesChooser

    found: dict[str, Any] = {}
    for name in spec.get("choosers", []):
        if name == "rules":
            found[name] = RulesChooser()
        else:
            from core.settings import LLMSettings, load_settings
            from scoring.evaluator import build_backend

            settings = load_settings(None)
            settings = settings.model_copy(update={"llm": LLMSettings(**spec["llm"])})
            found[name] = LLMChooser(build_backend(settings))
    return found


def _choose(raw: Any, choosers: dict[str, Any], language: str) -> dict[str, Any]:
    """Each chooser's transcript of ``raw`` (its text, what changed, seconds taken)."""
    from scoring.hypothesis_choice import choose
    from scoring.transcribe import simplified

    raw = simplified(raw)
    out: dict[str, Any] = {}
    for name, chooser in choosers.items():
        question, job = QUESTION[language]
        t0 = time.perf_counter()
        chosen = choose(raw, chooser, question=question, vocabulary=[job])
        counts = chosen.extra["hypothesis_choice"]
        out[name] = {
            "text": chosen.text,
            "seconds": time.perf_counter() - t0,
            "changed": counts["changed"],
            "corrected": counts["corrected"],
            "rejected": counts["rejected"],
            "segments": counts["segments"],
        }
    return out


def _worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Inside the subprocess: one backend, every clip once (after a short warm-up)."""
    from scoring import quality
    from scoring.audio import decode_audio

    started = time.perf_counter()
    transcriber = _load(spec)
    choosers = _choosers(spec)
    load_s = time.perf_counter() - started
    out = []
    for i, clip in enumerate(spec["clips"]):
        samples = decode_audio(clip["path"], max_seconds=600).samples
        if i == 0:
            transcriber.transcribe(samples[: 16000 * 5], language=clip["language"])
        vocabulary = QUESTION[clip["language"]] if spec["vocabulary"] else []
        t0 = time.perf_counter()
        raw = transcriber.transcribe(samples, language=clip["language"], vocabulary=vocabulary)
        elapsed = time.perf_counter() - t0
        stats = quality.measure_signal(samples)
        backend = str(raw.extra.get("backend", "whisper"))
        verdict = quality.assess(raw, stats, quality.thresholds_for(backend))
        out.append(
            {
                "text": raw.text,
                "rtf": elapsed / (len(samples) / 16000),
                "gate_ok": verdict.quality == "ok",
                "reason": verdict.reason,
                "chosen": _choose(raw, choosers, clip["language"]),
            }
        )
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"load_s": load_s, "rss_mb": rss_mb, "clips": out, "model": transcriber.model_name}


def _spawn(spec: dict[str, Any]) -> dict[str, Any]:
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-m", "bench.asr_conditions", "--worker", json.dumps(spec)],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark worker failed: {proc.stderr.strip()[-800:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _backends(settings: Settings, folder: Path) -> list[tuple[str, dict[str, Any]]]:
    from scoring.sensevoice_install import check_installed
    from testkit import tiny_sensevoice

    speech = settings.speech
    whisper = {
        "backend": "whisper",
        "model_dir": str(speech.model_dir),
        "device": "cpu" if speech.device == "auto" else speech.device,
        "compute_type": speech.compute_type,
        "beam": speech.beam_size,
    }
    found = [
        ("whisper_base", {**whisper, "vocabulary": False}),
        ("whisper_base_vocab", {**whisper, "vocabulary": True}),
        (
            "whisper_base_nbest",
            {
                **whisper,
                "vocabulary": False,
                "nbest": NBEST,
                "choosers": ["rules", *(["llm"] if _llm_available(settings) else [])],
                "llm": settings.llm.model_dump(mode="json", exclude={"api_key"}),
            },
        ),
    ]
    try:
        check_installed(speech.sensevoice_dir)
    except Exception as exc:  # noqa: BLE001 - any reason it is unusable is reported
        print(f"# sensevoice: no verified weights ({exc}); timing the tiny test model", flush=True)
        from scoring.sensevoice_install import install_from

        tiny = install_from(tiny_sensevoice.build(folder / "tiny-src"), folder / "tiny")
        found.append(
            (
                "sensevoice_tiny_testmodel",
                {"backend": "sensevoice", "model_dir": str(tiny), "vocabulary": False},
            )
        )
    else:
        found.append(
            (
                "sensevoice",
                {
                    "backend": "sensevoice",
                    "model_dir": str(speech.sensevoice_dir),
                    "vocabulary": True,
                },
            )
        )
    return found


def _llm_available(settings: Settings) -> bool:
    """Whether the ``[llm]`` model can choose (else only the rules chooser is measured)."""
    if settings.llm.provider == "fake":
        return False
    if settings.llm.provider == "local":
        from scoring.llm_install import require_model

        try:
            require_model(settings)
        except Exception as exc:  # noqa: BLE001 - any reason it is unusable is reported
            print(f"# nbest: no local model ({exc}); measuring the rules chooser only", flush=True)
            return False
    return True


def _emit_chosen(
    lines: list[Line],
    clip: dict[str, Any],
    res: dict[str, Any],
    cer: dict[tuple[str, str, str], float],
) -> None:
    """The N-best rows: each chooser's accuracy on this clip, and what it changed."""
    lang, cond = clip["language"], clip["condition"]
    metric = "wer" if lang == "en" else "cer"
    for name, chosen in res["chosen"].items():
        row = f"whisper_base_nbest_{name}"
        prefix = f"asr_{row}_{lang}_{cond}"
        rate = error_rate(lang, clip["text"], chosen["text"])
        cer[(row, lang, cond)] = rate
        _emit(lines, f"{prefix}_{metric}", rate, "%")
        recall = keyword_recall(chosen["text"], tuple(clip["keywords"]))
        _emit(lines, f"{prefix}_keyword_recall", recall, "%")
        _emit(lines, f"{prefix}_segments_changed", float(chosen["changed"]), "segments")
        _emit(lines, f"{prefix}_segments_corrected", float(chosen["corrected"]), "segments")
        _emit(lines, f"{prefix}_proposals_rejected", float(chosen["rejected"]), "segments")
        _emit(lines, f"{prefix}_choice_s", chosen["seconds"], "s")
        # Against the same run's top beam: plain decoding in another process is not the
        # same text (Whisper's temperature fallback samples), so only this isolates the choice.
        if ("whisper_base_nbest", lang, cond) in cer:
            gain = cer[("whisper_base_nbest", lang, cond)] - rate
            _emit(lines, f"asr_{lang}_{cond}_{metric}_gain_from_nbest_{name}", gain, "points")


def run(settings: Settings, lines: list[Line], *, only: set[str] | None = None) -> None:
    """Generate the clips, run each backend on all of them, print the lines.

    ``only``: the backend rows to run (e.g. ``{"whisper_base", "whisper_base_nbest"}``).
    """
    with tempfile.TemporaryDirectory(prefix="bench-asr-cond-") as tmp:
        folder = Path(tmp)
        clips = make_clips(folder)
        cer: dict[tuple[str, str, str], float] = {}
        for name, spec in _backends(settings, folder):
            if only and name not in only:
                continue
            out = _spawn({**spec, "threads": settings.speech.cpu_threads, "clips": clips})
            for clip, res in zip(clips, out["clips"], strict=True):
                lang, cond = clip["language"], clip["condition"]
                prefix = f"asr_{name}_{lang}_{cond}"
                metric = "wer" if lang == "en" else "cer"
                rate = error_rate(lang, clip["text"], res["text"])
                cer[(name, lang, cond)] = rate
                if not name.endswith("tiny_testmodel"):
                    _emit(lines, f"{prefix}_{metric}", rate, "%")
                    _emit(
                        lines,
                        f"{prefix}_keyword_recall",
                        keyword_recall(res["text"], tuple(clip["keywords"])),
                        "%",
                    )
                    _emit(lines, f"{prefix}_gate_ok", float(res["gate_ok"]), "bool")
                _emit(lines, f"{prefix}_rtf", res["rtf"], "x")
                if res["chosen"]:
                    _emit_chosen(lines, clip, res, cer)
            rtfs = [r["rtf"] for r in out["clips"]]
            _emit(lines, f"asr_{name}_median_rtf", statistics.median(rtfs), "x")
            _emit(lines, f"asr_{name}_peak_rss", out["rss_mb"], "MB")
        default = {"whisper": "whisper_base", "sensevoice": "sensevoice"}[settings.speech.zh]
        for clip in clips:
            cond = clip["condition"]
            base = cer.get(("whisper_base", "zh", cond))
            if clip["language"] == "zh" and (default, "zh", cond) in cer and base:
                ratio = cer[(default, "zh", cond)] / base
                _emit(lines, f"asr_zh_{cond}_cer_default_over_whisper_base", ratio, "x")
            if clip["language"] == "zh" and base and ("whisper_base_vocab", "zh", cond) in cer:
                gain = base - cer[("whisper_base_vocab", "zh", cond)]
                _emit(lines, f"asr_zh_{cond}_cer_gain_from_vocabulary", gain, "points")
        gpu_lines(settings, lines, [c for c in clips if c["language"] == "zh"])


def gpu_lines(settings: Settings, lines: list[Line], clips: list[dict[str, Any]]) -> None:
    """The CUDA batched path: measured when a GPU is present, else said so."""
    try:
        import ctranslate2

        count = ctranslate2.get_cuda_device_count()
    except (ImportError, RuntimeError):
        count = 0
    _emit(lines, "asr_gpu_count", float(count), "devices")
    if count == 0:
        print(
            "# no GPU present: the CUDA batched Whisper path ([speech] device = cuda) "
            "was not measured",
            flush=True,
        )
        return
    speech = settings.speech
    spec = {
        "backend": "whisper",
        "model_dir": str(speech.model_dir),
        "device": "cuda",
        "compute_type": "float16",
        "beam": speech.beam_size,
        "vocabulary": False,
        "threads": speech.cpu_threads,
        "clips": clips,
    }
    out = _spawn(spec)
    for clip, res in zip(clips, out["clips"], strict=True):
        prefix = f"asr_whisper_base_cuda_batched_zh_{clip['condition']}"
        _emit(lines, f"{prefix}_cer", error_rate("zh", clip["text"], res["text"]), "%")
        _emit(lines, f"{prefix}_rtf", res["rtf"], "x")
    _emit(lines, "asr_whisper_base_cuda_batched_peak_rss", out["rss_mb"], "MB")


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.asr_conditions --worker JSON`` (internal)."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--worker"]:
        print(json.dumps(_worker(json.loads(args[1]))), flush=True)
        return 0
    from core.settings import load_settings

    config = args[args.index("--config") + 1] if "--config" in args else None
    only = set(args[args.index("--only") + 1].split(",")) if "--only" in args else None
    run(load_settings(config), [], only=only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
