"""Decoding answer media: formats, limits and every kind of broken file."""

from __future__ import annotations

import io
import struct
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from core.errors import ConfigError, MediaError
from scoring.audio import SAMPLE_RATE, check_structure, decode_audio, sniff
from tests.fixtures.speech.clips import Clips, session_clips


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Clips:
    return session_clips(tmp_path_factory)


def reason_of(
    source: Path | bytes,
    *,
    max_seconds: float = 180,
    max_bytes: int = 50_000_000,
    timeout_s: float = 60,
) -> str:
    with pytest.raises(MediaError) as info:
        decode_audio(source, max_seconds=max_seconds, max_bytes=max_bytes, timeout_s=timeout_s)
    return info.value.reason


def ogg_page(payload: bytes, *, flags: int = 0) -> bytes:
    """A minimal OGG page (CRC not checked by our walker)."""
    segments = [255] * (len(payload) // 255) + [len(payload) % 255]
    header = b"OggS" + bytes([0, flags]) + b"\0" * 8 + b"\1\0\0\0" + b"\0" * 8
    return header + bytes([len(segments)]) + bytes(segments) + payload


def box(name: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body) + 8) + name + body


def wav_bytes(samples: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


# --- first bytes and container structure (no decoder needed) ---------------


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"OggS\0\2", "ogg"),
        (b"\0\0\0\x1cftypisom", "mp4"),
        (b"\0\0\0\x1cftypM4A ", "mp4"),
        (b"#!AMR\n\x3c", "amr"),
        (b"RIFF\0\0\0\0WAVEfmt ", "wav"),
        (b"ID3\4\0", "mp3"),
        (b"\xff\xfb\x90\x64", "mp3"),
        (b"\xff\xf1\x50\x80", "aac"),
        (b"\x1a\x45\xdf\xa3", "webm"),
        (b"something else entirely", None),
    ],
)
def test_sniff_recognises_audio_containers(head: bytes, kind: str | None) -> None:
    assert sniff(head) == kind


@pytest.mark.parametrize(
    "head",
    [
        b"\x89PNG\r\n\x1a\n\0\0",
        b"\xff\xd8\xff\xe0\0\x10JFIF",
        b"GIF89a",
        b"%PDF-1.7",
        b"PK\x03\x04",
        b"#!SILK_V3",
    ],
)
def test_sniff_rejects_images_documents_and_silk(head: bytes) -> None:
    with pytest.raises(MediaError) as info:
        sniff(head)
    assert info.value.reason == "wrong_type"


def test_ogg_with_end_of_stream_page_passes() -> None:
    check_structure(ogg_page(b"OpusHead" + b"\0" * 11) + ogg_page(b"x" * 600, flags=4), "ogg")


def test_ogg_cut_inside_a_page_is_truncated() -> None:
    data = ogg_page(b"OpusHead" + b"\0" * 11) + ogg_page(b"x" * 600, flags=4)
    with pytest.raises(MediaError) as info:
        check_structure(data[:-100], "ogg")
    assert info.value.reason == "truncated"


def test_ogg_cut_between_pages_is_truncated_without_end_of_stream() -> None:
    data = ogg_page(b"OpusHead" + b"\0" * 11) + ogg_page(b"x" * 600)
    with pytest.raises(MediaError) as info:
        check_structure(data, "ogg")
    assert info.value.reason == "truncated"


def test_ogg_with_garbage_between_pages_is_corrupt() -> None:
    data = (
        ogg_page(b"a" * 40) + b"garbage here and there and more garbage" + ogg_page(b"b", flags=4)
    )
    with pytest.raises(MediaError) as info:
        check_structure(data, "ogg")
    assert info.value.reason == "corrupt"


def test_mp4_boxes_checked_for_truncation_and_index() -> None:
    whole = box(b"ftyp", b"isom\0\0\2\0") + box(b"moov", b"\0" * 40) + box(b"mdat", b"\1" * 500)
    check_structure(whole, "mp4")
    with pytest.raises(MediaError) as cut:
        check_structure(whole[:-10], "mp4")
    assert cut.value.reason == "truncated"
    no_index = box(b"ftyp", b"isom\0\0\2\0") + box(b"mdat", b"\1" * 500)
    with pytest.raises(MediaError) as missing:
        check_structure(no_index, "mp4")
    assert missing.value.reason == "truncated"


def test_amr_cut_inside_a_frame_is_truncated() -> None:
    frame = bytes([0x3C]) + b"\0" * 31  # mode 7 (12.2 kbit/s): 32 bytes with header
    data = b"#!AMR\n" + frame * 5
    check_structure(data, "amr")
    with pytest.raises(MediaError) as info:
        check_structure(data[:-7], "amr")
    assert info.value.reason == "truncated"


def test_wav_with_fewer_samples_than_header_is_truncated() -> None:
    data = wav_bytes(np.zeros(1600, dtype=np.float32))
    check_structure(data, "wav")
    with pytest.raises(MediaError) as info:
        check_structure(data[:-200], "wav")
    assert info.value.reason == "truncated"


def test_empty_and_tiny_inputs_fail_before_any_decoder(tmp_path: Path) -> None:
    assert reason_of(b"") == "empty"
    assert reason_of(b"x") == "corrupt"
    (tmp_path / "zero.ogg").write_bytes(b"")
    assert reason_of(tmp_path / "zero.ogg") == "empty"
    assert reason_of(tmp_path / "missing.ogg") == "empty"


def test_size_limit_is_checked_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.ogg"
    big.write_bytes(b"OggS" + b"\0" * 5000)
    assert reason_of(big, max_bytes=1000) == "too_large"
    assert reason_of(big.read_bytes(), max_bytes=1000) == "too_large"


def test_missing_ffmpeg_is_a_server_problem_not_the_candidates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ConfigError, match="ffmpeg"):
        decode_audio(wav_bytes(np.zeros(8000, dtype=np.float32)), max_seconds=180)


# --- real decoding with ffmpeg --------------------------------------------


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return float(w.getnframes() / w.getframerate())


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "kind"),
    [("en_voice", "ogg"), ("zh_amr", "amr"), ("en_video", "mp4"), ("zh_wav", "wav")],
)
def test_chat_formats_decode_to_16k_mono(clips: Clips, name: str, kind: str) -> None:
    lang = name[:2]
    audio = decode_audio(clips[name], max_seconds=180)
    assert audio.kind == kind
    assert audio.samples.dtype == np.float32
    assert audio.samples.ndim == 1
    assert abs(audio.duration_s - wav_seconds(clips[f"{lang}_wav"])) < 0.8
    assert 0.01 < float(np.abs(audio.samples).max()) <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("suffix", "codec"), [(".mp3", "libmp3lame"), (".m4a", "aac"), (".spx", "libspeex")]
)
def test_other_audio_files_decode(clips: Clips, tmp_path: Path, suffix: str, codec: str) -> None:
    out = tmp_path / f"answer{suffix}"
    args = ["-ar", "16000"] if codec == "libspeex" else []
    proc = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-i",
            str(clips["en_wav"]),
            *args,
            "-c:a",
            codec,
            str(out),
        ],
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.skip(f"this ffmpeg cannot encode {codec}")
    audio = decode_audio(out, max_seconds=180)
    assert abs(audio.duration_s - wav_seconds(clips["en_wav"])) < 0.8


@pytest.mark.slow
def test_bytes_and_path_give_the_same_samples(clips: Clips) -> None:
    for name in ("en_voice", "en_video", "zh_amr"):
        from_path = decode_audio(clips[name], max_seconds=180)
        from_bytes = decode_audio(clips[name].read_bytes(), max_seconds=180)
        assert np.array_equal(from_path.samples, from_bytes.samples), name


@pytest.mark.slow
def test_failure_files_each_get_their_reason(clips: Clips) -> None:
    assert reason_of(clips["one_byte"]) == "corrupt"
    assert reason_of(clips["empty"]) == "empty"
    assert reason_of(clips["truncated_ogg"]) == "truncated"
    assert reason_of(clips["png"]) == "wrong_type"


@pytest.mark.slow
def test_truncated_video_note_is_truncated(clips: Clips) -> None:
    data = clips["en_video"].read_bytes()
    assert reason_of(data[: len(data) * 2 // 3]) == "truncated"


@pytest.mark.slow
def test_random_bytes_with_audio_magic_are_corrupt() -> None:
    rng = np.random.default_rng(7)
    junk = b"RIFF\xff\xff\xff\xffWAVEjunk" + rng.bytes(3000)
    assert reason_of(junk) == "corrupt"


@pytest.mark.slow
def test_video_without_sound_has_no_audio(tmp_path: Path) -> None:
    out = tmp_path / "mute.mp4"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=96x96:rate=5",
         "-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(out)],
        check=True,
    )  # fmt: skip
    assert reason_of(out) == "no_audio"


@pytest.mark.slow
def test_wav_without_samples_is_empty() -> None:
    assert reason_of(wav_bytes(np.zeros(0, dtype=np.float32))) == "empty"


@pytest.mark.slow
def test_answers_over_the_limit_are_too_long(clips: Clips) -> None:
    assert reason_of(clips["en_voice"], max_seconds=3) == "too_long"
    assert decode_audio(clips["en_voice"], max_seconds=30).duration_s > 3


@pytest.mark.slow
def test_decoding_has_a_time_limit(clips: Clips) -> None:
    assert reason_of(clips["en_video"], timeout_s=0.001) == "decode_timeout"
