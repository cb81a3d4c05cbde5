"""Install SenseVoice-Small weights an operator copied in: ``models install --from DIR``.

No package on PyPI or npm ships SenseVoice or Paraformer weights (checked
2026-12-03, see ``shared/docs/MODELS.md``), so the Mandarin backend's weights
come from a folder the operator brings: the sherpa-onnx export of SenseVoice
(``model.int8.onnx`` and/or ``model.onnx`` beside ``tokens.txt``).

:func:`install_from` checks that folder before anything is copied:

* the files are there and ``tokens.txt`` is a contiguous ``symbol id`` table;
* the ONNX file opens in onnxruntime, has SenseVoice's four inputs and the
  metadata sherpa-onnx reads (a file without them would make sherpa-onnx end
  the whole process), and its ``vocab_size`` matches ``tokens.txt``;
* checksums: every line of a ``SHA256SUMS`` file in the folder, and the
  ``speech.sensevoice_sha256`` pin when the operator set one;
* after copying, a subprocess loads the copy with sherpa-onnx and decodes a
  second of silence, so a model the runtime rejects never reaches a worker.

The copy gets a stamp with each file's size and sha256; :func:`check_installed`
compares sizes with it at load time (cheap), ``install_from`` re-hashes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from core.errors import ModelNotInstalledError

MODEL_FILES = ("model.int8.onnx", "model.onnx")
TOKENS = "tokens.txt"
SUMS = "SHA256SUMS"
STAMP = ".installed.json"
FIX_HINT = (
    "copy the sherpa-onnx SenseVoice folder in with `python main.py models install --from DIR`"
)
REQUIRED_METADATA = (
    "vocab_size",
    "lfr_window_size",
    "lfr_window_shift",
    "normalize_samples",
    "with_itn",
    "without_itn",
    "lang_auto",
    "lang_zh",
    "lang_en",
    "lang_ja",
    "lang_ko",
    "lang_yue",
    "neg_mean",
    "inv_stddev",
)
INPUTS = 4  # features, their length, language id, text-normalisation id


def model_file(model_dir: Path) -> Path | None:
    """The ONNX file to load: the int8 one when both are there (faster on CPU)."""
    for name in MODEL_FILES:
        if (model_dir / name).is_file():
            return model_dir / name
    return None


def sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def read_tokens(path: Path) -> list[str]:
    """The symbols of a sherpa-onnx ``tokens.txt``, by id.

    Raises:
        ModelNotInstalledError: a line is not ``symbol id`` or the ids are not 0..n-1.
    """
    symbols: dict[int, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.rsplit(maxsplit=1)
        if len(parts) != 2 or not parts[1].isdigit():
            raise ModelNotInstalledError(f"{path} line {number} is not 'symbol id': {line[:40]!r}")
        symbols[int(parts[1])] = parts[0]
    if not symbols or sorted(symbols) != list(range(len(symbols))):
        raise ModelNotInstalledError(
            f"{path}: token ids are not 0..{len(symbols) - 1} without gaps"
        )
    return [symbols[i] for i in range(len(symbols))]


def check_layout(model_dir: Path, *, pin: str | None = None) -> Path:
    """Check a SenseVoice folder without loading it into sherpa-onnx.

    Returns:
        The model file that would be loaded.

    Raises:
        ModelNotInstalledError: one line saying what is wrong.
    """
    if not model_dir.is_dir():
        raise ModelNotInstalledError(f"{model_dir} is not a folder")
    model = model_file(model_dir)
    if model is None:
        raise ModelNotInstalledError(
            f"{model_dir} has no {' or '.join(MODEL_FILES)} (expected the sherpa-onnx SenseVoice export)"
        )
    if not (model_dir / TOKENS).is_file():
        raise ModelNotInstalledError(f"{model_dir} has no {TOKENS}")
    tokens = read_tokens(model_dir / TOKENS)
    _check_sums(model_dir)
    if pin is not None and (digest := sha256(model)) != pin:
        raise ModelNotInstalledError(
            f"{model.name} has sha256 {digest}, but speech.sensevoice_sha256 pins {pin}"
        )
    _check_onnx(model, len(tokens))
    return model


def _check_sums(model_dir: Path) -> None:
    sums = model_dir / SUMS
    if not sums.is_file():
        return
    for line in sums.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 64:
            raise ModelNotInstalledError(f"{sums}: not 'sha256  file': {line[:60]!r}")
        expected, name = parts[0].lower(), parts[1].lstrip("*")
        target = model_dir / name
        if not target.is_file():
            raise ModelNotInstalledError(f"{sums} lists {name}, which is not in {model_dir}")
        if (digest := sha256(target)) != expected:
            raise ModelNotInstalledError(
                f"{name} has sha256 {digest}, {SUMS} says {expected}: the copy is damaged"
            )


def _check_onnx(model: Path, vocab: int) -> None:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    try:
        session = onnxruntime.InferenceSession(
            str(model), options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own, unexported exception types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelNotInstalledError(f"{model} is not a loadable ONNX model: {first}") from exc
    meta = session.get_modelmeta().custom_metadata_map
    missing = [key for key in REQUIRED_METADATA if key not in meta]
    if missing:
        raise ModelNotInstalledError(
            f"{model} lacks SenseVoice metadata ({', '.join(missing)}): not a sherpa-onnx SenseVoice export"
        )
    if len(session.get_inputs()) != INPUTS:
        raise ModelNotInstalledError(
            f"{model} has {len(session.get_inputs())} inputs, SenseVoice has {INPUTS}"
        )
    if meta["vocab_size"] != str(vocab):
        raise ModelNotInstalledError(
            f"{model} has vocab_size {meta['vocab_size']} but {TOKENS} has {vocab} tokens"
        )


def check_installed(model_dir: Path) -> Path:
    """The model file of an installed SenseVoice folder.

    Raises:
        ModelNotInstalledError: not installed, or changed since it was verified.
    """
    model = model_file(model_dir)
    if model is None or not (model_dir / TOKENS).is_file():
        raise ModelNotInstalledError(f"SenseVoice model not found in {model_dir}; {FIX_HINT}")
    try:
        stamp = json.loads((model_dir / STAMP).read_text(encoding="utf-8"))
        files: dict[str, dict[str, object]] = stamp["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelNotInstalledError(
            f"SenseVoice model in {model_dir} was not verified; {FIX_HINT}"
        ) from exc
    for name, info in files.items():
        path = model_dir / name
        if not path.is_file() or path.stat().st_size != info.get("size"):
            raise ModelNotInstalledError(f"{path} changed since it was verified; {FIX_HINT}")
    return model


def install_from(source: Path, target: Path, *, pin: str | None = None) -> Path:
    """Verify ``source`` and copy it to ``target`` (replacing what was there).

    Returns:
        ``target``.

    Raises:
        ModelNotInstalledError: the folder is not a usable SenseVoice model.
    """
    source, target = source.expanduser().resolve(), target.expanduser()
    model = check_layout(source, pin=pin)
    names = [model.name, TOKENS] + [
        n for n in MODEL_FILES if n != model.name and (source / n).is_file()
    ]
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".sensevoice.", dir=target.parent))
    try:
        files = {}
        for name in names:
            shutil.copyfile(source / name, staging / name)
            files[name] = {
                "sha256": sha256(staging / name),
                "size": (staging / name).stat().st_size,
            }
        (staging / STAMP).write_text(json.dumps({"files": files}), encoding="utf-8")
        smoke_test(staging)
        staging.chmod(0o755)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target


_SMOKE = """
import sys, numpy as np, sherpa_onnx
r = sherpa_onnx.OfflineRecognizer.from_sense_voice(model=sys.argv[1], tokens=sys.argv[2], num_threads=1)
s = r.create_stream(); s.accept_waveform(16000, np.zeros(16000, dtype=np.float32)); r.decode_stream(s)
print("ok")
"""


def smoke_test(model_dir: Path, *, timeout_s: float = 120.0) -> None:
    """Load the folder with sherpa-onnx in a subprocess and decode a second of silence.

    A subprocess, because sherpa-onnx ends the process on some malformed models.

    Raises:
        ModelNotInstalledError: sherpa-onnx could not load or run it.
    """
    model = model_file(model_dir)
    assert model is not None
    cmd = [sys.executable, "-c", _SMOKE, str(model), str(model_dir / TOKENS)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ModelNotInstalledError(
            f"sherpa-onnx took over {timeout_s:g} s to load {model}"
        ) from exc
    if proc.returncode != 0 or "ok" not in proc.stdout:
        tail = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise ModelNotInstalledError(f"sherpa-onnx could not run {model}: {tail}")
