"""One real sandbox for the coding tests (root and cgroups, as in CI)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from coding.bwrap import NOBODY, BwrapSandbox
from coding.sandbox import SandboxUnavailable


@pytest.fixture(scope="session")
def sandbox() -> BwrapSandbox:
    try:
        return BwrapSandbox()
    except SandboxUnavailable as exc:
        if os.geteuid() != 0:  # a developer's own account: CI runs these as root
            pytest.skip(f"the sandbox needs root: {exc}")
        raise


def sandbox_processes() -> list[int]:
    """Pids of every process on the host that runs as the sandbox's uid."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("Uid:") and int(line.split()[1]) == NOBODY:
                found.append(int(entry.name))
    return found
