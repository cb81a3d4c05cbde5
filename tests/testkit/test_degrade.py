"""The degraded-speech generators make what they say: SNR, band, level, pauses, voices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from testkit import degrade, synth


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth.speak(synth.ZH_SHORT, tmp_path_factory.mktemp("degrade") / "zh.wav")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["pink", "babble"])
@pytest.mark.parametrize("snr", [10.0, 5.0])
def test_noise_at_the_asked_snr(clean: Path, tmp_path: Path, kind: str, snr: float) -> None:
    out = degrade.add_noise(clean, tmp_path / f"{kind}{snr}.wav", snr_db=snr, kind=kind, seed=1)
    speech, rate = degrade.read_wav(clean)
    noisy, noisy_rate = degrade.read_wav(out)
    assert noisy_rate == rate and len(noisy) == len(speech)
    # 16-bit rounding and the peak guard move it a little, never by much.
    assert degrade.snr_db(speech, noisy, rate) == pytest.approx(snr, abs=0.7)
    again = degrade.add_noise(clean, tmp_path / "again.wav", snr_db=snr, kind=kind, seed=1)
    assert again.read_bytes() == out.read_bytes()


def test_pink_noise_falls_with_frequency() -> None:
    noise = degrade.pink_noise(1 << 16, seed=3)
    power = np.abs(np.fft.rfft(noise)) ** 2
    low, high = power[100:1000].mean(), power[10000:30000].mean()
    assert 15 < low / high < 60  # about 1/f: x10 to x300 in frequency
    with pytest.raises(ValueError, match="unknown noise"):
        degrade.add_noise(Path("x.wav"), Path("y.wav"), snr_db=5, kind="brown")


@pytest.mark.slow
def test_telephone_band_and_amr(clean: Path, tmp_path: Path) -> None:
    phone = degrade.telephone(clean, tmp_path / "phone.wav")
    samples, rate = degrade.read_wav(phone)
    assert rate == 8000
    power = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    assert power[freqs < 150].sum() < 0.01 * power[(freqs > 300) & (freqs < 3400)].sum()
    amr = synth.wechat_amr(phone, tmp_path / "phone.amr")
    assert amr.read_bytes().startswith(b"#!AMR\n")


@pytest.mark.slow
def test_clipped_and_quiet(clean: Path, tmp_path: Path) -> None:
    speech, _ = degrade.read_wav(clean)
    loud, _ = degrade.read_wav(degrade.clipped(clean, tmp_path / "clip.wav"))
    soft, _ = degrade.read_wav(degrade.quiet(clean, tmp_path / "quiet.wav", gain_db=-30))
    assert np.mean(np.abs(loud) > 0.99) > 0.02  # a good share of samples at full scale
    ratio = np.sqrt(np.mean(soft**2) / np.mean(speech**2))
    assert ratio == pytest.approx(10 ** (-30 / 20), rel=0.1)


@pytest.mark.slow
def test_pauses_and_code_switching(tmp_path: Path) -> None:
    paused = degrade.speak_with_pauses(synth.ZH_SHORT, tmp_path / "paused.wav", pause_s=3.0)
    samples, rate = degrade.read_wav(paused)
    silent = np.abs(samples) < 1e-4
    longest = run = 0
    for s in silent:
        run = run + 1 if s else 0
        longest = max(longest, run)
    assert longest >= 2.9 * rate
    mixed = degrade.speak_mixed(degrade.ZH_CODE_SWITCH, tmp_path / "mixed.wav")
    plain = synth.speak(degrade.ZH_CODE_SWITCH, tmp_path / "plain.wav")
    assert degrade.read_wav(mixed)[0].size > 0.5 * degrade.read_wav(plain)[0].size
