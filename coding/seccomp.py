"""A seccomp filter for the sandbox, as classic BPF that bubblewrap loads (``--seccomp``):
system calls no solution needs and that widen the kernel's attack surface fail with
EPERM (tracing other processes, kernel keyrings, eBPF, perf, io_uring, userfaultfd,
new namespaces, mounts, modules, clocks, reboot ...), as do the x32 ABI and any
architecture but the one the numbers are for. Written out by hand (no libseccomp):
the program is a dozen instructions per blocked call at most.
"""

from __future__ import annotations

import errno
import platform
import struct

# linux/audit.h
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
X32_SYSCALL_BIT = 0x40000000
# struct seccomp_data: nr at 0, arch at 4
OFFSET_NR, OFFSET_ARCH = 0, 4
# classic BPF opcodes
LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
RET_K = 0x06  # BPF_RET | BPF_K
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_KILL_PROCESS = 0x80000000

# name -> number, per architecture (asm/unistd_64.h; asm-generic/unistd.h for arm64)
BLOCKED: dict[str, dict[str, int]] = {
    "x86_64": {
        "ptrace": 101,
        "syslog": 103,
        "personality": 135,
        "vhangup": 153,
        "pivot_root": 155,
        "adjtimex": 159,
        "chroot": 161,
        "acct": 163,
        "settimeofday": 164,
        "mount": 165,
        "umount2": 166,
        "swapon": 167,
        "swapoff": 168,
        "reboot": 169,
        "init_module": 175,
        "delete_module": 176,
        "quotactl": 179,
        "clock_settime": 227,
        "kexec_load": 246,
        "add_key": 248,
        "request_key": 249,
        "keyctl": 250,
        "unshare": 272,
        "perf_event_open": 298,
        "name_to_handle_at": 303,
        "open_by_handle_at": 304,
        "setns": 308,
        "process_vm_readv": 310,
        "process_vm_writev": 311,
        "kcmp": 312,
        "finit_module": 313,
        "bpf": 321,
        "userfaultfd": 323,
        "io_uring_setup": 425,
        "io_uring_enter": 426,
        "io_uring_register": 427,
        "open_tree": 428,
        "move_mount": 429,
        "fsopen": 430,
        "fsconfig": 431,
        "fsmount": 432,
        "fspick": 433,
    },
    "aarch64": {
        "ptrace": 117,
        "syslog": 116,
        "personality": 92,
        "vhangup": 58,
        "pivot_root": 41,
        "adjtimex": 171,
        "chroot": 51,
        "acct": 89,
        "settimeofday": 170,
        "mount": 40,
        "umount2": 39,
        "swapon": 224,
        "swapoff": 225,
        "reboot": 142,
        "init_module": 105,
        "delete_module": 106,
        "quotactl": 60,
        "clock_settime": 112,
        "kexec_load": 104,
        "add_key": 217,
        "request_key": 218,
        "keyctl": 219,
        "unshare": 97,
        "perf_event_open": 241,
        "name_to_handle_at": 264,
        "open_by_handle_at": 265,
        "setns": 268,
        "process_vm_readv": 270,
        "process_vm_writev": 271,
        "kcmp": 272,
        "finit_module": 273,
        "bpf": 280,
        "userfaultfd": 282,
        "io_uring_setup": 425,
        "io_uring_enter": 426,
        "io_uring_register": 427,
        "open_tree": 428,
        "move_mount": 429,
        "fsopen": 430,
        "fsconfig": 431,
        "fsmount": 432,
        "fspick": 433,
    },
}


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def program(machine: str | None = None) -> bytes:
    """The filter for ``machine`` (this one by default).

    Raises:
        ValueError: an architecture this table has no numbers for.
    """
    machine = machine or platform.machine()
    if machine not in BLOCKED:
        raise ValueError(f"no seccomp table for {machine}")
    numbers = sorted(set(BLOCKED[machine].values()))
    deny = SECCOMP_RET_ERRNO | errno.EPERM
    out = [
        _insn(LD_W_ABS, 0, 0, OFFSET_ARCH),
        _insn(JEQ_K, 1, 0, AUDIT_ARCH[machine]),  # the expected architecture: go on
        _insn(RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
        _insn(LD_W_ABS, 0, 0, OFFSET_NR),
    ]
    if machine == "x86_64":  # the x32 ABI: other numbers, not filtered here
        out.append(_insn(JGE_K, len(numbers) + 1, 0, X32_SYSCALL_BIT))
    for index, number in enumerate(numbers):
        # equal: jump over the remaining comparisons and the ALLOW, to the deny
        out.append(_insn(JEQ_K, len(numbers) - index, 0, number))
    out.append(_insn(RET_K, 0, 0, SECCOMP_RET_ALLOW))
    out.append(_insn(RET_K, 0, 0, deny))
    return b"".join(out)
