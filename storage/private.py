"""Owner-only files and folders: the data folder holds personal data and keys.

Folders are 0700 and files 0600 whatever the process umask: modes are set explicitly
after creating, since a umask can only take bits away. :func:`tighten_tree` brings an
existing install (0755 folders, 0644 SQLite files from older versions) to that at start.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
SQLITE_SIDECARS = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents owner-only; an existing folder is kept as is.

    Only folders made here are set to 0700: a parent that already exists (``/tmp``,
    a home directory) is not ours to change.
    """
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by another process
            folder.mkdir(mode=PRIVATE_DIR)
            os.chmod(folder, PRIVATE_DIR)
    return path


def private_file(path: Path) -> Path:
    """Make sure ``path`` exists (empty if new) and is 0600, its folder made owner-only."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != PRIVATE_FILE:
            os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)
    return path


def tighten(path: Path) -> bool:
    """Take group and other permissions off one file or folder; True if it changed.

    Symbolic links and missing paths are left alone.
    """
    try:
        st = path.lstat()
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(st.st_mode) or not stat.S_IMODE(st.st_mode) & 0o077:
        return False
    os.chmod(path, PRIVATE_DIR if stat.S_ISDIR(st.st_mode) else PRIVATE_FILE)
    return True


def tighten_sqlite(database: Path) -> None:
    """The database file and the journal files SQLite keeps beside it."""
    tighten(database)
    for suffix in SQLITE_SIDECARS:
        tighten(database.with_name(database.name + suffix))


def tighten_tree(root: Path, *, skip: Iterable[Path] = ()) -> int:
    """Make ``root`` and everything under it owner-only; returns how many entries changed.

    ``root`` itself may be a link (a data folder on a mounted volume); links under it
    are not followed. ``skip`` names files to leave to their own checks (the key file:
    one that others could read is refused at start, not silently fixed).
    """
    root = private_dir(root).resolve()
    left_alone = {p.resolve() for p in skip}
    changed = int(tighten(root))
    for folder, dirs, files in os.walk(root):
        base = Path(folder)
        for name in (*dirs, *files):
            path = base / name
            if path not in left_alone:
                changed += tighten(path)
    return changed
