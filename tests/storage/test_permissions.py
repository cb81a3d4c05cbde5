"""The data folder is owner-only: folders 0700, files 0600, whatever the umask.

Covers the SQLite database and the ``-wal``/``-shm`` files SQLite creates later, the
media store, the contract folder and the key file, on a new install and on an existing
one whose files were written world-readable by older versions.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.wiring import App, build_app
from contracts.files import ContractFiles
from storage.models import Job
from tests.conftest import make_settings


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The most permissive umask: nothing is masked off what the code asks for."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def _loose(modes: dict[str, int], root: Path) -> dict[str, str]:
    """Entries that are not owner-only: folders other than 0700, files other than 0600."""
    return {
        name: oct(mode)
        for name, mode in modes.items()
        if mode != (0o700 if (root / name).is_dir() else 0o600)
    }


def _write_something(app: App, code: str) -> None:
    with app.db.transaction() as session:
        session.add(Job(code=code, title_zh="岗位", title_en="Job"))


def _open(tmp_path: Path) -> App:
    return build_app(make_settings(tmp_path))


@pytest.mark.usefixtures("loose_umask")
def test_a_new_install_is_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    app = _open(tmp_path)
    data = app.settings.app.data_dir
    _write_something(app, "J1")
    app.db.media.put(b"voice", ".ogg")
    ContractFiles.in_data_dir(data, app.db.keyring).write("HT-1", "unsigned", b"%PDF-1.7")
    modes = _modes(data)
    assert {"test.sqlite3", "test.sqlite3-wal", "test.sqlite3-shm"} <= modes.keys()
    assert "keys/data.key" in modes and "media" in modes and "contracts/HT-1" in modes
    assert _loose(modes, data) == {}

    # SQLite removes the WAL when the last connection closes (the background
    # checkpointer's included) and makes it again later.
    app.db.close()
    assert not (data / "test.sqlite3-wal").exists()
    _write_something(app, "J2")
    assert stat.S_IMODE((data / "test.sqlite3-wal").stat().st_mode) == 0o600
    assert stat.S_IMODE((data / "test.sqlite3-shm").stat().st_mode) == 0o600
    app.db.engine.dispose()


@pytest.mark.usefixtures("loose_umask")
def test_an_existing_world_readable_install_is_tightened_at_start(tmp_path: Path) -> None:
    app = _open(tmp_path)
    data = app.settings.app.data_dir
    _write_something(app, "J1")
    rel, _ = app.db.media.put(b"voice", ".ogg")
    # What older versions left behind: 0755 folders and 0644 files (the key file was
    # always written 0600; a readable one is refused, not silently fixed).
    for path in [data, *data.rglob("*")]:
        if path.name != "data.key":
            path.chmod(0o755 if path.is_dir() else 0o644)
    app.db.engine.dispose()

    again = _open(tmp_path)
    _write_something(again, "J2")
    assert again.db.media.get(rel) == b"voice"
    assert _loose(_modes(data), data) == {}
    again.db.engine.dispose()


@pytest.mark.usefixtures("loose_umask")
def test_a_database_outside_the_data_folder_is_owner_only_too(tmp_path: Path) -> None:
    elsewhere = tmp_path / "db" / "interviews.sqlite3"
    app = build_app(make_settings(tmp_path, f"sqlite:///{elsewhere}"))
    _write_something(app, "J1")
    assert stat.S_IMODE(elsewhere.parent.stat().st_mode) == 0o700
    for suffix in ("", "-wal", "-shm"):
        path = elsewhere.with_name(elsewhere.name + suffix)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    app.db.engine.dispose()


@pytest.mark.usefixtures("loose_umask")
def test_a_data_folder_that_is_a_link_to_a_volume_is_tightened_there(tmp_path: Path) -> None:
    volume = tmp_path / "volume"
    volume.mkdir(mode=0o755)
    os.symlink(volume, tmp_path / "data")
    app = _open(tmp_path)
    _write_something(app, "J1")
    assert _loose(_modes(volume), volume) == {}
    app.db.engine.dispose()
