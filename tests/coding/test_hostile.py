"""Hostile solutions in the real sandbox: each is contained, gets the verdict the issue
asks for, and leaves the host as it was (no process left, no file written or read)."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from coding.bwrap import BwrapSandbox
from coding.judge import Report, Spec, judge
from coding.languages import language
from tests.coding.conftest import sandbox_processes

SECRET = "s3cr3t-d4ta-k3y-do-not-leak"


def run(
    sandbox: BwrapSandbox, source: str, stdin: str = "", expected: str = "ok\n", **spec: object
) -> Report:
    data = {
        "time_limit_s": 1,
        "tests": [{"name": "t", "stdin": stdin, "expected_stdout": expected}],
    }
    data.update(spec)
    return judge(sandbox, source, Spec.model_validate(data))


def leaked(report: Report) -> bool:
    return any(SECRET in (t.detail or "") for t in report.tests)


@pytest.fixture(autouse=True)
def host_unchanged() -> Iterator[None]:
    """No process of the sandbox's uid before or after; nothing new in /usr or /."""
    assert sandbox_processes() == []
    top = set(os.listdir("/"))
    yield
    assert sandbox_processes() == []
    assert set(os.listdir("/")) == top
    assert not Path("/usr/pwned").exists()


def test_a_correct_solution_is_accepted(sandbox: BwrapSandbox) -> None:
    report = run(sandbox, "print(sum(map(int, input().split())))", "2 3\n", "5\n")
    assert (report.verdict, report.passed, report.total) == ("accepted", 1, 1)
    wrong = run(sandbox, "print(7)", "2 3\n", "5\n")
    assert wrong.verdict == "wrong_answer"


def test_an_infinite_loop_is_a_time_limit(sandbox: BwrapSandbox) -> None:
    start = time.monotonic()
    report = run(sandbox, "while True:\n    pass\n")
    assert report.verdict == "time_limit"
    assert time.monotonic() - start < 5


def test_sleeping_past_the_wall_limit_is_a_time_limit(sandbox: BwrapSandbox) -> None:
    start = time.monotonic()
    report = run(sandbox, "import time\ntime.sleep(60)\nprint('ok')\n", time_limit_s=0.3)
    assert report.verdict == "time_limit"
    assert time.monotonic() - start < 5


def test_allocating_4_gb_is_a_memory_limit(sandbox: BwrapSandbox) -> None:
    report = run(sandbox, "x = bytearray(4 * 2**30)\nprint('ok')\n")
    assert report.verdict == "memory_limit"
    # touched page by page, so the memory cgroup (not the address-space rlimit) stops it
    touched = "x = []\nwhile True:\n    x.append(bytearray(2**20))\n"
    assert run(sandbox, touched, memory_mb=64).verdict == "memory_limit"


def test_a_gigabyte_of_output_is_an_output_limit(sandbox: BwrapSandbox) -> None:
    start = time.monotonic()
    source = "import sys\nfor _ in range(2**14):\n    sys.stdout.write('x' * 2**16)\n"
    assert run(sandbox, source).verdict == "output_limit"
    flood = "import sys\nfor _ in range(2**14):\n    sys.stderr.write('x' * 2**16)\n"
    assert run(sandbox, flood).verdict == "output_limit"
    assert time.monotonic() - start < 5


def test_a_fork_bomb_is_stopped_and_no_process_of_it_is_left(sandbox: BwrapSandbox) -> None:
    source = (
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    )
    report = run(sandbox, source)
    assert report.verdict in {"time_limit", "runtime_error", "memory_limit"}
    # the process limit bound even though the service runs as root
    counting = (
        "import os, time\n"
        "n = 0\n"
        "for _ in range(100):\n"
        "    try:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(5)\n"
        "            os._exit(0)\n"
        "        n += 1\n"
        "    except OSError:\n"
        "        break\n"
        "print(n)\n"
    )
    counted = run(sandbox, counting, expected="15\n")
    assert counted.verdict == "accepted", counted.tests[0].detail


@pytest.mark.parametrize("port", [5432, 6379, "own"])
def test_no_network_not_even_loopback(sandbox: BwrapSandbox, port: int | str) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        target = listener.getsockname()[1] if port == "own" else port
        if port == "own":  # the host reaches it: only the sandbox must not
            socket.create_connection(("127.0.0.1", target), timeout=1).close()
        source = (
            "import socket\n"
            f"socket.create_connection(('127.0.0.1', {target}), timeout=1)\n"
            "print('ok')\n"
        )
        report = run(sandbox, source)
    assert report.verdict == "runtime_error"
    assert (
        "ConnectionRefusedError" in report.tests[0].detail
        or "unreachable" in report.tests[0].detail
    )


def test_no_name_resolution_or_outside_address(sandbox: BwrapSandbox) -> None:
    source = "import socket\nsocket.create_connection(('10.0.0.1', 80), timeout=1)\nprint('ok')\n"
    assert run(sandbox, source).verdict == "runtime_error"


@pytest.fixture
def data_folder(tmp_path: Path) -> Path:
    """A data folder like the service's: a key file and a database holding the secret."""
    keys = tmp_path / "data" / "keys"
    keys.mkdir(parents=True)
    (keys / "data.key").write_text(SECRET)
    (keys / "data.key").chmod(0o600)
    (tmp_path / "data" / "interviewer.sqlite3").write_text(SECRET)
    (tmp_path / "data" / "world-readable.txt").write_text(SECRET)
    (tmp_path / "data" / "world-readable.txt").chmod(0o644)
    os.chmod(tmp_path, 0o755)
    os.chmod(tmp_path / "data", 0o755)
    return tmp_path / "data"


@pytest.mark.parametrize(
    "target",
    [
        "keys/data.key",
        "interviewer.sqlite3",
        "world-readable.txt",
        "/etc/shadow",
        "/proc/1/environ",
    ],
)
def test_host_files_cannot_be_read(sandbox: BwrapSandbox, data_folder: Path, target: str) -> None:
    path = target if target.startswith("/") else str(data_folder / target)
    source = f"print(open({path!r}).read())\n"
    report = run(sandbox, source, expected=SECRET + "\n")  # accepted = leaked
    assert report.verdict in {"runtime_error", "wrong_answer"}
    assert not leaked(report)


def test_the_project_folder_and_environment_secrets_are_not_visible(
    sandbox: BwrapSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", SECRET)
    here = str(Path(__file__).resolve())
    source = (
        "import os\n"
        f"print(os.path.exists({here!r}), os.path.exists('/work'), os.path.exists('/root'))\n"
        "print(sorted(os.environ))\n"
        "print(os.getuid(), os.getgid(), sorted(os.listdir('/')))\n"
    )
    python = language("python")
    spec = Spec.model_validate({"tests": [{"name": "t", "expected_stdout": ""}]})
    outcome = sandbox.run(python.program(source, python.run), b"", spec.limits())
    lines = outcome.stdout.decode().splitlines()
    assert lines[0] == "False False False"
    assert SECRET not in outcome.stdout.decode()
    assert "TELEGRAM_BOT_TOKEN" not in lines[1]
    uid, gid, *_ = lines[2].split()
    assert (uid, gid) == ("65534", "65534")


@pytest.mark.parametrize(
    "target", ["/usr/pwned", "/pwned", "/code/main.py", "/proc/sys/kernel/hostname"]
)
def test_writing_outside_tmp_fails(sandbox: BwrapSandbox, target: str) -> None:
    source = f"open({target!r}, 'w').write('x')\nprint('ok')\n"
    assert run(sandbox, source).verdict == "runtime_error"


def test_tmp_is_private_and_writable(sandbox: BwrapSandbox) -> None:
    marker = f"coding-marker-{os.getpid()}"
    source = (
        f"open('/tmp/{marker}', 'w').write('x')\nprint(open('/tmp/{marker}').read() and 'ok')\n"
    )
    assert run(sandbox, source).verdict == "accepted"
    assert not Path("/tmp", marker).exists()
    # nor does a second run see the first one's files
    assert (
        run(
            sandbox, f"import os\nprint('ok' if not os.path.exists('/tmp/{marker}') else 'seen')\n"
        ).verdict
        == "accepted"
    )


def test_signalling_the_parent_or_the_host_fails(sandbox: BwrapSandbox) -> None:
    me = os.getpid()
    source = "import os, signal\nos.kill(int(input()), signal.SIGKILL)\nprint('ok')\n"
    report = run(sandbox, source, stdin=f"{me}\n")
    assert report.verdict == "runtime_error"
    assert "ProcessLookupError" in report.tests[0].detail
    # its own parent inside the sandbox is bubblewrap's reaper; killing everything it can
    # see ends only the sandbox
    everything = (
        "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos.kill(-1, signal.SIGKILL)\n"
    )
    assert run(sandbox, everything).verdict == "runtime_error"
    os.kill(me, 0)


def test_background_processes_are_killed_when_the_run_ends(sandbox: BwrapSandbox) -> None:
    source = (
        "import os, subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],\n"
        "                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    os.close(1); os.close(2)\n"
        "    time.sleep(60)\n"
        "    os._exit(0)\n"
        "print('ok')\n"
    )
    start = time.monotonic()
    report = run(sandbox, source)
    assert report.verdict == "accepted"
    assert time.monotonic() - start < 3
    # host_unchanged checks that no process of the sandbox's uid is left


def test_dangerous_system_calls_fail_with_eperm(sandbox: BwrapSandbox) -> None:
    """The seccomp filter: each of these would succeed without it."""
    source = (
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "params = ctypes.create_string_buffer(120)\n"
        "calls = [\n"
        "    ('ptrace-traceme', lambda: libc.ptrace(0, 0, 0, 0)),\n"
        "    ('unshare-user', lambda: libc.unshare(0x10000000)),\n"
        "    ('keyctl', lambda: libc.syscall(250, 0, -3, 0)),\n"
        "    ('io_uring_setup', lambda: libc.syscall(425, 1, params)),\n"
        "    ('userfaultfd', lambda: libc.syscall(323, 0)),\n"
        "]\n"
        "for name, call in calls:\n"
        "    ctypes.set_errno(0)\n"
        "    print(name, call(), ctypes.get_errno())\n"
    )
    expected = "".join(
        f"{name} -1 1\n"
        for name in ("ptrace-traceme", "unshare-user", "keyctl", "io_uring_setup", "userfaultfd")
    )
    report = run(sandbox, source, expected=expected)
    assert report.verdict == "accepted", report.as_json(full=True)


def test_the_seccomp_program_is_well_formed() -> None:
    from coding.seccomp import BLOCKED, program

    for machine, table in BLOCKED.items():
        code = program(machine)
        assert len(code) % 8 == 0
        assert len(code) // 8 == len(set(table.values())) + 6 + (machine == "x86_64")
    with pytest.raises(ValueError, match="no seccomp table"):
        program("mips")


def test_a_syntax_error_is_a_compile_error(sandbox: BwrapSandbox) -> None:
    report = run(sandbox, "def f(:\n    pass\n")
    assert report.verdict == "compile_error"
    assert "SyntaxError" in report.compile_output
    assert report.as_json() == {
        "verdict": "compile_error",
        "passed": 0,
        "total": 1,
        "tests": [{"name": "t", "verdict": "compile_error", "seconds": 0.0}],
    }


def test_the_report_json_is_the_issue_s_shape(sandbox: BwrapSandbox) -> None:
    spec = {
        "language": "python",
        "time_limit_s": 1,
        "memory_mb": 128,
        "tests": [
            {"name": "a", "stdin": "1\n", "expected_stdout": "1\n"},
            {"name": "b", "stdin": "2\n", "expected_stdout": "3\n"},
            {"name": "c", "stdin": "3\n", "expected_stdout": "3\n"},
        ],
    }
    data = judge(sandbox, "print(input())", Spec.model_validate(spec)).as_json()
    assert json.loads(json.dumps(data))["verdict"] == "wrong_answer"
    assert (data["passed"], data["total"]) == (2, 3)
    assert [t["verdict"] for t in data["tests"]] == ["accepted", "wrong_answer", "accepted"]
    assert all(set(t) == {"name", "verdict", "seconds"} for t in data["tests"])
