"""Harder test speech: noise at a set SNR, telephone band, clipping, quiet, pauses, code-switching.

Phone voice notes are rarely clean studio speech. These generators turn a clean
espeak-ng clip (:mod:`testkit.synth`) into what candidates really send:

* :func:`add_noise` - pink noise or babble (other voices talking) at a given SNR;
* :func:`telephone` - the 300-3400 Hz band at 8 kHz (then :func:`testkit.synth.wechat_amr`
  for WeChat's AMR-NB);
* :func:`clipped` and :func:`quiet` - a shouted, overdriven recording and a whispered one;
* :func:`speak_with_pauses` - sentences apart by long pauses (someone thinking);
* :func:`speak_mixed` - a Mandarin answer with English terms (KPI, Python, SQL) spoken
  by the English voice, as people say them.

WAV in, WAV out (16-bit PCM), numpy for the arithmetic, sox for the band filter.
Noise is seeded: the same call gives the same clip.
"""

from __future__ import annotations

import re
import subprocess
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

from testkit import synth

Audio = npt.NDArray[np.float32]

ZH_CODE_SWITCH = synth.Script(
    "zh",
    "我每天用 Python 和 SQL 分析销售数据。我们团队的 KPI 是客户满意度，"
    "三个月以后提高了百分之二十。",
    ("python", "sql", "kpi", "客户", "数据"),
    3,
)
# Voices for babble: other people talking in the background.
_BABBLE = (
    ("en-us", "We should book the meeting room for Thursday and order lunch for everyone."),
    ("en-gb+m3", "The train was late again this morning so I missed the first call."),
    ("cmn-latn-pinyin", "zhe4 ge4 xiang4 mu4 wo3 men5 xia4 zhou1 zai4 tao3 lun4 yi2 xia4 ba5"),
    ("cmn-latn-pinyin+f2", "ni3 chi1 fan4 le5 ma5 , wo3 men5 yi4 qi3 qu4 ka1 fei1 dian4"),
)


def read_wav(path: Path) -> tuple[Audio, int]:
    """Mono float32 samples in [-1, 1] and the sample rate of a 16-bit PCM WAV."""
    with wave.open(str(path), "rb") as fh:
        rate, channels, frames = (
            fh.getframerate(),
            fh.getnchannels(),
            fh.readframes(fh.getnframes()),
        )
    pcm = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    return pcm.reshape(-1, channels).mean(axis=1).astype(np.float32), rate


def write_wav(path: Path, samples: Audio, rate: int) -> Path:
    """Write float samples as a 16-bit mono WAV (values beyond [-1, 1] clip)."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(rate)
        fh.writeframes(pcm.tobytes())
    return path


def _rms(x: Audio) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def _active_rms(x: Audio, rate: int) -> float:
    """RMS over the 20 ms frames that carry speech (above -40 dB of the loudest)."""
    frame = rate // 50
    n = len(x) // frame
    if n == 0:
        return _rms(x)
    energy = np.sqrt(np.mean(np.square(x[: n * frame].reshape(n, frame)), axis=1))
    active = energy[energy > energy.max() * 0.01]
    return float(np.sqrt(np.mean(np.square(active)))) if active.size else _rms(x)


def pink_noise(length: int, *, seed: int = 0) -> Audio:
    """Pink (1/f power) noise with unit RMS."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(length))
    freqs = np.arange(len(spectrum), dtype=np.float64)
    freqs[0] = 1.0
    noise = np.fft.irfft(spectrum / np.sqrt(freqs), n=length)
    return (noise / (_rms(noise.astype(np.float32)) or 1.0)).astype(np.float32)


def babble(length: int, rate: int, folder: Path, *, seed: int = 0) -> Audio:
    """Several voices talking at once (espeak-ng), looped to ``length``, unit RMS."""
    rng = np.random.default_rng(seed)
    mix = np.zeros(length, dtype=np.float32)
    for i, (voice, text) in enumerate(_BABBLE):
        wav = folder / f"babble{i}.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", "170", "-w", str(wav), text],
            capture_output=True,
            timeout=60,
            check=True,
        )
        talk, talk_rate = read_wav(wav)
        if talk_rate != rate:
            talk = np.interp(
                np.arange(int(len(talk) * rate / talk_rate)) * talk_rate / rate,
                np.arange(len(talk)),
                talk,
            ).astype(np.float32)
        reps = np.tile(talk, length // max(1, len(talk)) + 2)
        offset = int(rng.integers(0, len(talk)))
        mix += reps[offset : offset + length] / (_rms(talk) or 1.0)
    return (mix / (_rms(mix) or 1.0)).astype(np.float32)


def add_noise(wav: Path, out: Path, *, snr_db: float, kind: str = "pink", seed: int = 0) -> Path:
    """Mix noise into speech so that speech RMS over noise RMS is ``snr_db``.

    Args:
        kind: ``pink`` or ``babble``.
    """
    if kind not in ("pink", "babble"):
        raise ValueError(f"unknown noise {kind!r} (pink or babble)")
    speech, rate = read_wav(wav)
    if kind == "pink":
        noise = pink_noise(len(speech), seed=seed)
    else:
        noise = babble(len(speech), rate, out.parent, seed=seed)
    gain = _active_rms(speech, rate) / 10 ** (snr_db / 20)
    mixed = speech + noise * gain
    peak = float(np.max(np.abs(mixed))) or 1.0
    return write_wav(out, (mixed / max(1.0, peak / 0.99)).astype(np.float32), rate)


def snr_db(clean: Audio, noisy: Audio, rate: int) -> float:
    """The SNR of ``noisy`` against its clean source (speech-active RMS over noise RMS)."""
    n = min(len(clean), len(noisy))
    c, y = clean[:n].astype(np.float64), noisy[:n].astype(np.float64)
    scale = float(np.dot(c, y) / (np.dot(c, c) or 1.0))  # the mix may have been scaled down
    noise = (y - scale * c).astype(np.float32)
    clean = (c * scale).astype(np.float32)
    return 20 * float(np.log10(_active_rms(clean[:n], rate) / (_rms(noise) or 1e-12)))


def telephone(wav: Path, out: Path) -> Path:
    """The telephone band: 300-3400 Hz, 8 kHz mono (what AMR-NB carries)."""
    subprocess.run(
        ["sox", str(wav), "-r", "8000", "-c", "1", "-b", "16", str(out), "sinc", "300-3400"],
        capture_output=True,
        timeout=60,
        check=True,
    )
    return out


def clipped(wav: Path, out: Path, *, gain_db: float = 18.0) -> Path:
    """An overdriven recording: amplified by ``gain_db`` and hard-clipped at full scale."""
    speech, rate = read_wav(wav)
    return write_wav(out, np.clip(speech * 10 ** (gain_db / 20), -1.0, 1.0), rate)


def quiet(wav: Path, out: Path, *, gain_db: float = -30.0) -> Path:
    """A recording made far from the microphone: ``gain_db`` quieter."""
    speech, rate = read_wav(wav)
    return write_wav(out, speech * 10 ** (gain_db / 20), rate)


def _sentences(script: synth.Script) -> list[str]:
    parts = re.split(r"(?<=[。！？.!?])\s*", script.text)
    return [p for p in parts if p.strip()]


def speak_with_pauses(script: synth.Script, out: Path, *, pause_s: float = 3.0) -> Path:
    """Speak each sentence of a script separately, with ``pause_s`` of silence between."""
    pieces: list[Audio] = []
    rate = 22050
    for i, sentence in enumerate(_sentences(script)):
        one = synth.speak(
            synth.Script(script.language, sentence, (), 0), out.with_name(f"{out.stem}.{i}.wav")
        )
        samples, rate = read_wav(one)
        if pieces:
            pieces.append(np.zeros(int(pause_s * rate), dtype=np.float32))
        pieces.append(samples)
    return write_wav(out, np.concatenate(pieces), rate)


def speak_mixed(script: synth.Script, out: Path) -> Path:
    """Speak Chinese runs with the pinyin voice and Latin-letter runs with the English one."""
    pieces: list[Audio] = []
    rate = 22050
    runs = re.findall(r"[A-Za-z][A-Za-z0-9 .+#-]*|[^A-Za-z]+", script.text)
    for i, run in enumerate(r.strip() for r in runs):
        if not run or not re.search(r"\w", run):
            continue
        wav = out.with_name(f"{out.stem}.{i}.wav")
        if run.isascii():
            # Spelled as people say these terms: K-P-I and S-Q-L letter by letter.
            spoken = " ".join(" ".join(w) if w.isupper() else w for w in run.split())
            subprocess.run(
                ["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), spoken],
                capture_output=True,
                timeout=60,
                check=True,
            )
        else:
            synth.speak(synth.Script("zh", run, (), 0), wav)
        samples, rate = read_wav(wav)
        pieces.append(samples)
    return write_wav(out, np.concatenate(pieces), rate)
