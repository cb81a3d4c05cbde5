"""Decoding of answer media (voice notes, video notes, audio files) to 16 kHz mono.

Every input goes through the same steps:

1. size checks (empty, too large) and a look at the first bytes, which rejects
   images, documents and other wrong types before any decoder sees them;
2. a structural check for the containers chat apps send (OGG pages and the
   end-of-stream flag, MP4 boxes, AMR frames, the WAV data chunk), which
   catches truncated uploads that a decoder would otherwise read half of
   without complaint;
3. the Debian ``ffmpeg`` binary, run with a time limit, turns the first audio
   stream into 16 kHz mono float32 samples; it never decodes more than the
   allowed answer length plus a second.

Bytes (for example decrypted media from the store) are piped to ffmpeg; only
MP4-family files, which need a seekable input, go through a private temporary
file that is deleted at once.

Every failure caused by the file is a :class:`core.errors.MediaError` whose
``reason`` is one of :data:`REASONS`; a missing ffmpeg is a server problem
(:class:`core.errors.ConfigError`).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from core.errors import ConfigError, MediaError

SAMPLE_RATE = 16_000
# Smallest decodable audio we accept; anything shorter is treated as empty.
MIN_SECONDS = 0.1

REASONS = {
    "empty": "the file has no bytes or no audio samples",
    "too_large": "the file is larger than the size limit",
    "too_long": "the recording is longer than the answer limit",
    "wrong_type": "the file is not audio or video (an image, a document ...)",
    "corrupt": "the file cannot be decoded",
    "truncated": "the file ends before the recording does (an interrupted upload)",
    "no_audio": "the file has no audio track",
    "decode_timeout": "decoding took longer than the time limit",
}

Samples = npt.NDArray[np.float32]


@dataclass(frozen=True)
class DecodedAudio:
    """Audio ready for speech recognition.

    Attributes:
        samples: float32 samples in [-1, 1], 16 kHz, mono.
        kind: what the first bytes said the file is (``ogg``, ``mp4``, ``amr`` ...).
        size_bytes: size of the original file.
    """

    samples: Samples
    kind: str
    size_bytes: int

    @property
    def duration_s(self) -> float:
        """Length of the decoded audio in seconds."""
        return len(self.samples) / SAMPLE_RATE


# (offset, magic, kind) for the media we accept.
_AUDIO_MAGIC: list[tuple[int, bytes, str]] = [
    (0, b"OggS", "ogg"),
    (4, b"ftyp", "mp4"),
    (0, b"#!AMR-WB\n", "amr-wb"),
    (0, b"#!AMR\n", "amr"),
    (0, b"RIFF", "wav"),
    (0, b"ID3", "mp3"),
    (0, b"fLaC", "flac"),
    (0, b"\x1a\x45\xdf\xa3", "webm"),
    (0, b"Speex   ", "speex"),
    (0, b"FORM", "aiff"),
    (0, b"caff", "caf"),
]
# First bytes of common files that are certainly not answers.
_OTHER_MAGIC: list[tuple[bytes, str]] = [
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF8", "GIF image"),
    (b"%PDF", "PDF document"),
    (b"PK\x03\x04", "ZIP archive or Office document"),
    (b"\x7fELF", "program"),
    (b"#!SILK_V3", "SILK voice (unsupported codec)"),
    (b"\x02#!SILK_V3", "SILK voice (unsupported codec)"),
    (b"<", "text/HTML"),
    (b"{", "JSON text"),
]
# Bytes of a real voice note are never this few; a clearer reason than "corrupt".
_TINY = 32


def sniff(head: bytes) -> str | None:
    """Guess the media kind from the first bytes.

    Returns:
        ``ogg``, ``mp4``, ``amr``, ``wav``, ``mp3`` ... or ``None`` when unknown.

    Raises:
        MediaError: ``wrong_type`` when the bytes are a known non-audio format.
    """
    for offset, magic, kind in _AUDIO_MAGIC:
        if head[offset : offset + len(magic)] == magic:
            if kind == "wav" and head[8:12] != b"WAVE":
                continue
            return kind
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        # MPEG audio frame sync (MP3) or ADTS AAC.
        return "aac" if head[1] & 0x06 == 0 else "mp3"
    for magic, what in _OTHER_MAGIC:
        if head.startswith(magic):
            raise MediaError("wrong_type", f"the file is a {what}, not audio or video")
    return None


def check_structure(data: bytes, kind: str | None) -> None:
    """Reject containers that are cut short.

    Raises:
        MediaError: ``truncated`` or ``corrupt``.
    """
    if kind == "ogg":
        _check_ogg(data)
    elif kind == "mp4":
        _check_mp4(data)
    elif kind == "amr":
        _check_amr(data)
    elif kind == "wav":
        _check_wav(data)


def _check_ogg(data: bytes) -> None:
    pos = 0
    last_flags = 0
    pages = 0
    while pos < len(data):
        if data[pos : pos + 4] != b"OggS":
            if pages and len(data) - pos < 27:
                raise MediaError("truncated", "the OGG file ends inside a page header")
            raise MediaError("corrupt", f"no OGG page at byte {pos}")
        if len(data) - pos < 27:
            raise MediaError("truncated", "the OGG file ends inside a page header")
        last_flags = data[pos + 5]
        nsegs = data[pos + 26]
        table = data[pos + 27 : pos + 27 + nsegs]
        if len(table) < nsegs:
            raise MediaError("truncated", "the OGG file ends inside a page header")
        end = pos + 27 + nsegs + sum(table)
        if end > len(data):
            raise MediaError("truncated", "the OGG file ends in the middle of a page")
        pos = end
        pages += 1
    if not last_flags & 0x04:
        raise MediaError("truncated", "the OGG stream has no end-of-stream page")


def _check_mp4(data: bytes) -> None:
    pos = 0
    names: list[bytes] = []
    while pos + 8 <= len(data):
        size, name = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            if pos + 16 > len(data):
                raise MediaError("truncated", "the MP4 file ends inside a box header")
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
            header = 16
        elif size == 0:  # the box runs to the end of the file
            size = len(data) - pos
        if size < header:
            raise MediaError("corrupt", f"MP4 box {name!r} has an impossible size")
        if pos + size > len(data):
            raise MediaError(
                "truncated", f"the MP4 file ends inside its {name.decode(errors='replace')!r} box"
            )
        names.append(name)
        pos += size
    if pos != len(data):
        raise MediaError("truncated", "the MP4 file ends inside a box header")
    if b"moov" not in names:
        raise MediaError("truncated", "the MP4 file has no index (moov box)")


# AMR-NB frame sizes in bytes, header byte included, by frame type 0..15.
_AMR_SIZES = (13, 14, 16, 18, 20, 21, 27, 32, 6, 1, 1, 1, 1, 1, 1, 1)


def _check_amr(data: bytes) -> None:
    pos = len(b"#!AMR\n")
    while pos < len(data):
        frame_type = (data[pos] >> 3) & 0x0F
        pos += _AMR_SIZES[frame_type]
    if pos > len(data):
        raise MediaError("truncated", "the AMR file ends in the middle of a frame")


def _check_wav(data: bytes) -> None:
    pos = 12
    while pos + 8 <= len(data):
        name = data[pos : pos + 4]
        size = struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if name == b"data":
            # 0 and 0xFFFFFFFF mean "unknown" (streamed WAV): nothing to compare.
            if size not in (0, 0xFFFFFFFF) and pos + 8 + size > len(data):
                raise MediaError("truncated", "the WAV file has fewer samples than its header says")
            return
        pos += 8 + size + (size & 1)
    raise MediaError("corrupt", "the WAV file has no data chunk")


def _ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        # A server problem, not the candidate's: not a MediaError, so the job
        # fails and keeps the media for a retry once ffmpeg is installed.
        raise ConfigError(
            "ffmpeg is not installed on this server; install it (apt-get install ffmpeg)"
        )
    return exe


def decode_audio(
    source: str | os.PathLike[str] | bytes,
    *,
    max_seconds: float,
    max_bytes: int = 50_000_000,
    timeout_s: float = 60.0,
) -> DecodedAudio:
    """Decode a media file or its bytes to 16 kHz mono float32 samples.

    Args:
        source: a path, or the file's bytes (e.g. decrypted from the media store).
        max_seconds: the longest recording accepted.
        max_bytes: the largest file accepted.
        timeout_s: time limit for the decoder process.

    Returns:
        The decoded audio.

    Raises:
        MediaError: with ``reason`` in :data:`REASONS`.
        ConfigError: ffmpeg is not installed.
    """
    path: Path | None = None
    if isinstance(source, bytes):
        data = source
    else:
        path = Path(source)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise MediaError("empty", f"cannot read {path}: {exc.strerror}") from exc
        _check_size(size, max_bytes)
        data = path.read_bytes()
    _check_size(len(data), max_bytes)
    kind = sniff(data[:64])
    if kind is None and len(data) < _TINY:
        raise MediaError("corrupt", f"{len(data)} byte(s) is too small to hold audio")
    check_structure(data, kind)
    samples = _run_ffmpeg(data, path, kind, max_seconds=max_seconds, timeout_s=timeout_s)
    if len(samples) < MIN_SECONDS * SAMPLE_RATE:
        raise MediaError("empty", "the file holds no audio samples")
    if len(samples) > (max_seconds + 0.5) * SAMPLE_RATE:
        raise MediaError("too_long", f"the recording is longer than {max_seconds:g} s")
    return DecodedAudio(samples=samples, kind=kind or "unknown", size_bytes=len(data))


def _check_size(size: int, max_bytes: int) -> None:
    if size == 0:
        raise MediaError("empty", "the file is empty (0 bytes)")
    if size > max_bytes:
        raise MediaError("too_large", f"the file has {size} bytes, more than {max_bytes}")


def _run_ffmpeg(
    data: bytes, path: Path | None, kind: str | None, *, max_seconds: float, timeout_s: float
) -> Samples:
    exe = _ffmpeg()
    tmp_path: Path | None = None
    stdin: bytes | None = None
    if path is not None:
        src = str(path)
    elif kind == "mp4":
        # MP4 indexes may sit at the end: ffmpeg needs a seekable file.
        fd, name = tempfile.mkstemp(suffix=".mp4")
        tmp_path = Path(name)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        src = name
    else:
        src, stdin = "pipe:0", data
    cmd = [
        exe, "-nostdin", "-hide_banner", "-loglevel", "error",
        "-i", src,
        "-map", "0:a:0", "-vn", "-sn", "-dn",
        "-t", f"{max_seconds + 1:.3f}",
        "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le", "-acodec", "pcm_f32le",
        "pipe:1",
    ]  # fmt: skip
    try:
        proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise MediaError("decode_timeout", f"decoding took longer than {timeout_s:g} s") from exc
    finally:
        if tmp_path is not None:
            tmp_path.unlink(missing_ok=True)
    err = proc.stderr.decode("utf-8", errors="replace").strip()
    if proc.returncode != 0:
        raise _classify(err)
    if "partial file" in err:
        raise MediaError("truncated", "the file ends before the recording does")
    usable = len(proc.stdout) - len(proc.stdout) % 4
    samples = np.frombuffer(proc.stdout[:usable], dtype=np.float32)
    # Resampling a clipped recording overshoots slightly; Whisper expects [-1, 1].
    return np.clip(samples, -1.0, 1.0)


def _classify(stderr: str) -> MediaError:
    low = stderr.lower()
    last = stderr.splitlines()[-1] if stderr else "unknown error"
    if "matches no streams" in low:
        return MediaError("no_audio", "the file has no audio track")
    if "partial file" in low or "moov atom not found" in low:
        return MediaError("truncated", f"the file is cut short ({last})")
    if "end of file" in low:
        return MediaError("empty", "the file holds no audio")
    return MediaError("corrupt", f"ffmpeg could not decode the file ({last})")
