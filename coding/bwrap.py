"""The real sandbox: bubblewrap (namespaces: a fresh network with only a down-to-nothing
loopback, pid, ipc, uts, user and mount; a read-only ``/usr`` and a private ``/tmp``; a
seccomp filter, :mod:`coding.seccomp`),
run by ``setpriv`` as an unprivileged uid, under rlimits set by ``prlimit`` and inside
a per-run pids and memory cgroup that is emptied with SIGKILL when the run ends.

The start of the chain is a one-line ``sh`` that puts its own pid into the run's
cgroups while it is still root, then ``exec``\\ s the rest, so every process of the
run is counted from its first instruction.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import selectors
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from coding import seccomp
from coding.cgroups import Layout, RunGroup
from coding.sandbox import Limits, Outcome, Program, SandboxUnavailable, check_file_names

NOBODY = 65534
# Host folders the sandbox sees read-only (a symlink on the host is a symlink inside).
SYSTEM_PATHS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")
# Processes of the chain itself inside the pids group (bubblewrap's monitor; the
# program is pid 1 of its namespace), added to the run's own process limit.
CHAIN_PROCESSES = 1
STDERR_KEEP = 64_000
# after a limit killed the run: how long bubblewrap has to reap its child and exit
KILL_GRACE_S = 1.0
SANDBOX_TMP = "/tmp"  # noqa: S108 - the sandbox's own private tmpfs, not the host's
READ_CHUNK = 65_536


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise SandboxUnavailable(f"{tool} is not installed (scripts/sysdeps.sh installs it)")
    return path


class BwrapSandbox:
    """:class:`coding.sandbox.Sandbox` through bubblewrap; needs root (to put each run
    in its cgroups and then drop to ``uid``) and cgroup pids + memory controllers."""

    def __init__(self, *, uid: int = NOBODY, gid: int = NOBODY, layout: Layout | None = None):
        if os.geteuid() != 0:
            raise SandboxUnavailable(
                "the code sandbox runs as root so that it can drop each run to an "
                "unprivileged uid inside its own control group"
            )
        self.uid, self.gid = uid, gid
        self.sh = _need("sh")
        self.prlimit = _need("prlimit")
        self.setpriv = _need("setpriv")
        self.bwrap = _need("bwrap")
        self.layout = layout or Layout.detect()
        self.system_args = self._system_args()
        try:
            self.seccomp = seccomp.program()
        except ValueError as exc:
            raise SandboxUnavailable(f"no seccomp filter for this machine: {exc}") from exc

    @staticmethod
    def _system_args() -> list[str]:
        args: list[str] = []
        for path in SYSTEM_PATHS:
            host = Path(path)
            if host.is_symlink():
                args += ["--symlink", os.readlink(host), path]
            elif host.is_dir():
                args += ["--ro-bind", path, path]
        return args

    def argv(self, program: Program, limits: Limits, code_dir: str, group: RunGroup) -> list[str]:
        joins = " && ".join(f"echo $$ > {shlex.quote(f)}" for f in group.procs_files())
        cpu = max(1, math.ceil(limits.cpu_s))
        rlimits = [
            f"--cpu={cpu}:{cpu + 1}",
            f"--fsize={limits.tmp_mb * 1024 * 1024}",
            "--core=0",
            f"--nofile={limits.open_files}",
        ]
        if program.address_space_extra_mb is not None:
            rlimits.append(f"--as={(limits.memory_mb + program.address_space_extra_mb) << 20}")
        return [
            self.sh,
            "-c",
            f'{joins} && exec "$@"',
            "sh",
            self.prlimit,
            *rlimits,
            "--",
            self.setpriv,
            f"--reuid={self.uid}",
            f"--regid={self.gid}",
            "--clear-groups",
            "--no-new-privs",
            "--",
            self.bwrap,
            "--unshare-all",
            "--die-with-parent",
            "--as-pid-1",
            "--new-session",
            "--hostname",
            "sandbox",
            "--clearenv",
            "--setenv",
            "PATH",
            "/usr/local/bin:/usr/bin:/bin",
            "--setenv",
            "HOME",
            SANDBOX_TMP,
            "--setenv",
            "LANG",
            "C.UTF-8",
            *self.system_args,
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--size",
            str(limits.tmp_mb * 1024 * 1024),
            "--tmpfs",
            SANDBOX_TMP,
            "--ro-bind",
            code_dir,
            "/code",
            "--remount-ro",
            "/",
            "--chdir",
            SANDBOX_TMP,
            "--json-status-fd",
            "{status_fd}",
            "--seccomp",
            "{seccomp_fd}",
            "--",
            *program.argv,
        ]

    def run(self, program: Program, stdin: bytes, limits: Limits) -> Outcome:
        check_file_names(program.files)
        group = RunGroup(
            self.layout,
            processes=limits.processes + CHAIN_PROCESSES,
            memory_bytes=limits.memory_mb << 20,
        )
        code_dir = tempfile.mkdtemp(prefix="coding-")
        try:
            os.chmod(code_dir, 0o755)  # noqa: S103 - the sandbox's uid reads the sources
            for name, text in program.files.items():
                path = Path(code_dir) / name
                path.write_text(text, encoding="utf-8")
                path.chmod(0o644)
            return self._run(program, stdin, limits, code_dir, group)
        finally:
            group.kill_all()
            group.remove()
            shutil.rmtree(code_dir, ignore_errors=True)

    def _run(
        self, program: Program, stdin: bytes, limits: Limits, code_dir: str, group: RunGroup
    ) -> Outcome:
        status_r, status_w = os.pipe()
        filter_fd = os.memfd_create("seccomp")
        os.write(filter_fd, self.seccomp)
        os.lseek(filter_fd, 0, os.SEEK_SET)
        fds = {"{status_fd}": str(status_w), "{seccomp_fd}": str(filter_fd)}
        argv = [fds.get(a, a) for a in self.argv(program, limits, code_dir, group)]
        with tempfile.TemporaryFile() as stdin_file:
            stdin_file.write(stdin)
            stdin_file.seek(0)
            start = time.monotonic()
            proc = subprocess.Popen(
                argv,
                stdin=stdin_file,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(status_w, filter_fd),
                start_new_session=True,
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            )
        os.close(status_w)
        os.close(filter_fd)
        try:
            outcome = self._watch(proc, limits, group, start)
        finally:
            if proc.returncode is None:  # only when watching failed: end it all
                group.kill_all()
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(proc.pid, 0)
                proc.returncode = -9
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
            status = _read_all(status_r)
        if b'"child-pid"' not in status:
            raise SandboxUnavailable(
                "bubblewrap could not start the sandbox: "
                + outcome.stderr.decode("utf-8", "replace").strip()[-300:]
            )
        return outcome

    def _watch(
        self, proc: subprocess.Popen[bytes], limits: Limits, group: RunGroup, start: float
    ) -> Outcome:
        assert proc.stdout is not None
        assert proc.stderr is not None
        out = bytearray()
        err = bytearray()
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ, out)
        sel.register(proc.stderr, selectors.EVENT_READ, err)
        deadline = start + limits.wall_s
        wall_exceeded = output_exceeded = False
        status: tuple[int, int, float] | None = None  # (wait status, -, cpu seconds)
        leftovers = 0
        ended_at = 0.0
        killed_at: float | None = None
        err_total = 0
        while sel.get_map() or status is None:
            now = time.monotonic()
            if status is None and now >= deadline and not wall_exceeded:
                wall_exceeded = True
                killed_at = now
                group.kill_all(spare=proc.pid)
            if status is None and killed_at is not None and now - killed_at > KILL_GRACE_S:
                proc.kill()  # bubblewrap itself did not end once its child was killed
            if sel.get_map():
                for key, _ in sel.select(timeout=max(0.0, min(0.05, deadline - now))):
                    chunk = os.read(key.fd, READ_CHUNK)
                    if not chunk:
                        sel.unregister(key.fileobj)
                        continue
                    buffer: bytearray = key.data
                    if buffer is out:
                        out += chunk[: limits.output_bytes + 1 - len(out)]
                        over = len(out) > limits.output_bytes
                    else:
                        err_total += len(chunk)
                        err += chunk[: max(0, STDERR_KEEP - len(err))]
                        over = err_total > limits.output_bytes
                    if over and not output_exceeded:
                        output_exceeded = True
                        killed_at = time.monotonic()
                        group.kill_all(spare=proc.pid)
            elif status is None:
                time.sleep(0.001)
            if status is None:
                pid, wait_status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    ended_at = time.monotonic()
                    status = (wait_status, 0, usage.ru_utime + usage.ru_stime)
                    proc.returncode = os.waitstatus_to_exitcode(wait_status)
                    # whatever the program left running (its pid namespace is ending)
                    leftovers = group.kill_all()
        sel.close()
        assert status is not None
        code = os.waitstatus_to_exitcode(status[0])
        exit_code: int | None = code
        sig: int | None = None
        if code < 0:
            exit_code, sig = None, -code
        elif 128 < code < 128 + 65:  # bwrap passes a signal death on as 128 + signal
            exit_code, sig = None, code - 128
        return Outcome(
            exit_code=exit_code,
            signal=sig,
            stdout=bytes(out),
            stderr=bytes(err),
            wall_s=ended_at - start,
            cpu_s=max(status[2], group.cpu_seconds() or 0.0),
            wall_exceeded=wall_exceeded,
            output_exceeded=output_exceeded,
            oom_killed=group.oom_killed(),
            peak_memory_mb=group.peak_memory_bytes() / (1 << 20),
            leftovers_killed=leftovers,
        )


def _read_all(fd: int) -> bytes:
    """What bwrap wrote to its status pipe (every writer has exited by now)."""
    os.set_blocking(fd, False)
    data = bytearray()
    try:
        while True:
            try:
                chunk = os.read(fd, 4096)
            except BlockingIOError:
                break
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    with contextlib.suppress(ValueError):
        json.loads(b"[" + bytes(data).replace(b"}\n{", b"},{").strip() + b"]")
    return bytes(data)
