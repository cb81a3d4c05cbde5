"""Per-run control groups: a pids group (the process count binds even for root, unlike
RLIMIT_NPROC) and a memory group (what every process of the run holds, tmpfs included).

cgroup v1 (one hierarchy per controller, as in this project's containers) and cgroup v2
(one unified hierarchy, where the service's own group must have the controllers
delegated). Each run gets its own group under the service's, removed after the run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from coding.sandbox import SandboxUnavailable

PARENT = "coding-sandbox"


def _mounts(mounts_file: Path = Path("/proc/self/mounts")) -> list[tuple[str, str, set[str]]]:
    """(mount point, file system type, options) of every cgroup mount."""
    found = []
    for line in mounts_file.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2] in {"cgroup", "cgroup2"}:
            found.append((parts[1], parts[2], set(parts[3].split(","))))
    return found


def _own_paths(cgroup_file: Path = Path("/proc/self/cgroup")) -> dict[str, str]:
    """Controller (or '' for v2) -> this process's group path in that hierarchy."""
    paths: dict[str, str] = {}
    for line in cgroup_file.read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            paths[name] = path
    return paths


@dataclass(frozen=True)
class Layout:
    """Where the per-run groups go: the parent folder for pids and for memory, and
    whether that is cgroup v2 (one folder for both)."""

    pids: Path
    memory: Path
    v2: bool
    # v1 only: the cpuacct parent, for the CPU time of every process of a run
    cpuacct: Path | None = None

    @classmethod
    def detect(cls) -> Layout:
        mounts = _mounts()
        own = _own_paths()
        v1: dict[str, Path] = {}
        for point, kind, options in mounts:
            if kind == "cgroup":
                for controller in ("pids", "memory", "cpuacct"):
                    if controller in options:
                        v1[controller] = Path(point) / own.get(controller, "/").lstrip("/")
        if "pids" in v1 and "memory" in v1:
            cpuacct = v1["cpuacct"] / PARENT if "cpuacct" in v1 else None
            layout = cls(v1["pids"] / PARENT, v1["memory"] / PARENT, False, cpuacct)
            layout._prepare()
            return layout
        for point, kind, _ in mounts:
            if kind == "cgroup2":
                base = Path(point) / own.get("", "/").lstrip("/")
                controllers = (base / "cgroup.controllers").read_text().split()
                if {"pids", "memory"} <= set(controllers):
                    layout = cls(base / PARENT, base / PARENT, v2=True)
                    layout._prepare()
                    return layout
        raise SandboxUnavailable(
            "no pids and memory cgroup controllers this process may use "
            "(cgroup v1 mounts, or a delegated cgroup v2 group)"
        )

    def _prepare(self) -> None:
        try:
            for folder in {self.pids, self.memory, self.cpuacct} - {None}:
                assert folder is not None
                folder.mkdir(exist_ok=True)
            if self.v2:
                (self.pids / "cgroup.subtree_control").write_text("+pids +memory")
            else:
                with contextlib.suppress(OSError):  # on by default in newer kernels
                    (self.memory / "memory.use_hierarchy").write_text("1")
        except OSError as exc:
            raise SandboxUnavailable(f"cannot create control groups: {exc}") from exc


class RunGroup:
    """One run's groups: limits set, the processes it holds killed, then removed."""

    def __init__(self, layout: Layout, *, processes: int, memory_bytes: int) -> None:
        self.layout = layout
        name = f"run-{uuid.uuid4().hex[:12]}"
        self.pids = layout.pids / name
        self.memory = layout.memory / name
        self.cpuacct = layout.cpuacct / name if layout.cpuacct else None
        self.folders = [self.pids] if layout.v2 else [self.pids, self.memory]
        if self.cpuacct is not None:
            self.folders.append(self.cpuacct)
        try:
            for folder in self.folders:
                folder.mkdir()
            if layout.v2:
                (self.pids / "pids.max").write_text(str(processes))
                (self.pids / "memory.max").write_text(str(memory_bytes))
                with contextlib.suppress(OSError):
                    (self.pids / "memory.swap.max").write_text("0")
            else:
                (self.pids / "pids.max").write_text(str(processes))
                (self.memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
                with contextlib.suppress(OSError):  # no swap accounting on this kernel
                    (self.memory / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
        except OSError as exc:
            self.remove()
            raise SandboxUnavailable(f"cannot set up the run's control group: {exc}") from exc

    def procs_files(self) -> list[str]:
        """The ``cgroup.procs`` files a new process writes its pid to, to join."""
        return [str(folder / "cgroup.procs") for folder in self.folders]

    def pids_now(self) -> list[int]:
        text = (self.pids / "cgroup.procs").read_text()
        return [int(p) for p in text.split()]

    def kill_all(self, deadline_s: float = 2.0, *, spare: int | None = None) -> int:
        """SIGKILL every process in the group until none is left (but ``spare``: the
        caller's own child, which must be left to reap its child and be reaped, or the
        host's init inherits zombies); how many there were."""
        if self.layout.v2 and spare is None:
            with contextlib.suppress(OSError):
                (self.pids / "cgroup.kill").write_text("1")
        seen: set[int] = set()
        end = time.monotonic() + deadline_s
        while True:
            pids = [pid for pid in self.pids_now() if pid != spare]
            if not pids:
                return len(seen)
            for pid in pids:
                seen.add(pid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > end:
                raise RuntimeError(f"processes {pids} survive SIGKILL in {self.pids}")
            time.sleep(0.002)

    def oom_killed(self) -> bool:
        try:
            if self.layout.v2:
                text = (self.pids / "memory.events").read_text()
            else:
                text = (self.memory / "memory.oom_control").read_text()
        except OSError:
            return False
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and int(value) > 0:
                return True
        return False

    def cpu_seconds(self) -> float | None:
        """CPU time of every process that was in the group (None: not accounted)."""
        try:
            if self.layout.v2:
                for line in (self.pids / "cpu.stat").read_text().splitlines():
                    if line.startswith("usage_usec "):
                        return int(line.split()[1]) / 1e6
            elif self.cpuacct is not None:
                return int((self.cpuacct / "cpuacct.usage").read_text()) / 1e9
        except (OSError, ValueError):
            pass
        return None

    def peak_memory_bytes(self) -> int:
        name = "memory.peak" if self.layout.v2 else "memory.max_usage_in_bytes"
        folder = self.pids if self.layout.v2 else self.memory
        try:
            return int((folder / name).read_text().strip())
        except (OSError, ValueError):
            return 0

    def remove(self) -> None:
        for folder in self.folders:
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # busy for a moment after the last process is reaped
                    time.sleep(0.01)
