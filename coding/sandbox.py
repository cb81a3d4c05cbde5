"""The protocol of a sandbox: run one program with its stdin under limits, report what
happened. :mod:`coding.bwrap` is the real one."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from core.errors import ConfigError


class SandboxUnavailable(ConfigError):
    """The machine cannot enforce the limits (no bubblewrap, no writable cgroup, not
    root): nothing runs, rather than running unconfined."""


@dataclass(frozen=True)
class Limits:
    """What one run may use. ``cpu_s`` is CPU time per process (RLIMIT_CPU) and the
    verdict's time limit; ``wall_s`` kills everything when it passes."""

    cpu_s: float = 2.0
    wall_s: float = 5.0
    memory_mb: int = 256
    processes: int = 16
    output_bytes: int = 1_000_000
    tmp_mb: int = 16
    open_files: int = 64

    @classmethod
    def for_time_limit(cls, time_limit_s: float, memory_mb: int = 256) -> Limits:
        """The usual limits for a problem's time limit: wall time twice the CPU time
        plus a second for the interpreter to start on a busy machine."""
        return cls(cpu_s=time_limit_s, wall_s=2 * time_limit_s + 1.0, memory_mb=memory_mb)


@dataclass(frozen=True)
class Program:
    """Source files (name -> text) and the command line that runs them, with paths
    inside the sandbox (the files are at ``/code``, read-only)."""

    files: dict[str, str]
    argv: list[str]
    # Extra address-space room above the memory limit (RLIMIT_AS); None: no RLIMIT_AS
    # (runtimes such as V8 reserve far more address space than they use).
    address_space_extra_mb: int | None = 64


@dataclass
class Outcome:
    """What one run did. ``exit_code`` is None when a signal ended it (``signal``)."""

    exit_code: int | None
    signal: int | None
    stdout: bytes
    stderr: bytes
    wall_s: float
    cpu_s: float
    wall_exceeded: bool = False
    output_exceeded: bool = False
    oom_killed: bool = False
    peak_memory_mb: float = 0.0
    # processes still in the run's cgroup when its main process ended, killed then
    leftovers_killed: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not (
            self.wall_exceeded or self.output_exceeded or self.oom_killed
        )


class Sandbox(Protocol):
    """Runs a program confined: no network, a read-only minimal file system with a
    private writable ``/tmp``, an unprivileged uid and the given limits; every process
    it started is gone when :meth:`run` returns."""

    def run(self, program: Program, stdin: bytes, limits: Limits) -> Outcome: ...


def check_file_names(files: dict[str, str]) -> None:
    """Source file names are plain names: no folders, no dot files."""
    for name in files:
        if not name or "/" in name or name.startswith(".") or Path(name).name != name:
            raise ValueError(f"bad source file name {name!r}")
