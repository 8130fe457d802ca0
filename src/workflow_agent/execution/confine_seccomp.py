"""The seccomp half of the fallback sandbox (see confine.py): syscall tables and the BPF filter.

Stdlib only, and nothing done at import time: the launcher imports this on every confined run.
"""

from __future__ import annotations

import ctypes
import os
import struct

_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2

_BPF_LD_W_ABS = 0x20
_BPF_JMP_JEQ_K = 0x15
_BPF_JMP_JGE_K = 0x35
_BPF_JMP_JSET_K = 0x45
_BPF_RET_K = 0x06
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000
_EPERM = 1
_ENOSYS = 38
_OFF_NR = 0
_OFF_ARCH = 4
_X32_SYSCALL_BIT = 0x40000000


def _arg_low(index: int) -> int:
    # Offset of the low 32 bits of seccomp_data.args[index]; both supported arches are little-endian.
    return 16 + 8 * index


_AF_UNIX = 1
_AF_NETLINK = 16
_NETLINK_ROUTE = 0
_TIOCSTI = 0x5412
_TIOCLINUX = 0x541C
# clone()'s low byte is the exit signal, so CLONE_NEWTIME (0x80) is only meaningful for unshare().
_CLONE_NS_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
_UNSHARE_NS_FLAGS = _CLONE_NS_FLAGS | 0x00000080


class _Arch:
    def __init__(self, audit: int, x32: bool, nrs: dict[str, int]):
        self.audit = audit
        self.x32 = x32
        self.nrs = nrs


# Shared by both tables: numbers allocated after the per-arch tables were unified.
_COMMON = {
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "clone3": 435,
    "mount_setattr": 442,
    "open_tree_attr": 467,
}
ARCHES = {
    "x86_64": _Arch(
        0xC000003E,
        True,
        {
            "ptrace": 101,
            "process_vm_readv": 310,
            "process_vm_writev": 311,
            "mount": 165,
            "umount2": 166,
            "pivot_root": 155,
            "swapon": 167,
            "swapoff": 168,
            "reboot": 169,
            "init_module": 175,
            "finit_module": 313,
            "delete_module": 176,
            "kexec_load": 246,
            "kexec_file_load": 320,
            "bpf": 321,
            "perf_event_open": 298,
            "keyctl": 250,
            "add_key": 248,
            "request_key": 249,
            "setns": 308,
            "open_by_handle_at": 304,
            "userfaultfd": 323,
            "iopl": 172,
            "ioperm": 173,
            "socket": 41,
            "ioctl": 16,
            "unshare": 272,
            "clone": 56,
            **_COMMON,
        },
    ),
    # From asm-generic/unistd.h, which arm64 uses (each number checked against the kernel header);
    # not exercised on an arm64 kernel by our tests.
    "aarch64": _Arch(
        0xC00000B7,
        False,
        {
            "ptrace": 117,
            "process_vm_readv": 270,
            "process_vm_writev": 271,
            "mount": 40,
            "umount2": 39,
            "pivot_root": 41,
            "swapon": 224,
            "swapoff": 225,
            "reboot": 142,
            "init_module": 105,
            "finit_module": 273,
            "delete_module": 106,
            "kexec_load": 104,
            "kexec_file_load": 294,
            "bpf": 280,
            "perf_event_open": 241,
            "keyctl": 219,
            "add_key": 217,
            "request_key": 218,
            "setns": 268,
            "open_by_handle_at": 265,
            "userfaultfd": 282,
            "socket": 198,
            "ioctl": 29,
            "unshare": 97,
            "clone": 220,
            **_COMMON,
        },
    ),
}
ARCHES["arm64"] = ARCHES["aarch64"]

# Refused outright, whatever their arguments.
DENIED_SYSCALLS = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "mount",
    "umount2",
    "pivot_root",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "open_tree_attr",
    "swapon",
    "swapoff",
    "reboot",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "bpf",
    "perf_event_open",
    "keyctl",
    "add_key",
    "request_key",
    "setns",
    "open_by_handle_at",
    "userfaultfd",
    "iopl",
    "ioperm",
)


class ConfineError(Exception):
    """Setting up the confinement failed; the target must not run."""


def libc() -> ctypes.CDLL:
    """The C library, with errno captured for ctypes.get_errno()."""
    lib = ctypes.CDLL(None, use_errno=True)
    lib.syscall.restype = ctypes.c_long
    lib.prctl.restype = ctypes.c_int
    return lib


def errno_error(what: str) -> ConfineError:
    """A ConfineError for a failed libc call, with the errno it left."""
    err = ctypes.get_errno()
    return ConfineError(f"{what}: {os.strerror(err)}" if err else what)


def build_filter(
    arch_name: str, network: bool, unix_sockets: bool = False
) -> list[tuple[int, int, int, int]]:
    """The seccomp-BPF program as (code, jt, jf, k) tuples, for ``arch_name`` (os.uname().machine).

    Without ``network`` only unix and routing-netlink sockets may be created; without
    ``unix_sockets`` no unix socket may be (socketpair() still works): connecting to one by path
    reaches whatever daemon listens there (docker, D-Bus, a database), outside any sandbox.
    """
    arch = ARCHES.get(arch_name)
    if arch is None:
        raise ConfineError(f"no seccomp syscall table for architecture {arch_name}")
    nr = arch.nrs
    # Instructions with symbolic jump targets, resolved to relative offsets once laid out.
    prog: list[tuple[int, str | int, str | int, int] | str] = [
        (_BPF_LD_W_ABS, 0, 0, _OFF_ARCH),
        (_BPF_JMP_JEQ_K, 0, "kill", arch.audit),
        (_BPF_LD_W_ABS, 0, 0, _OFF_NR),
    ]
    if arch.x32:
        # x32 numbers alias the x86_64 ones with this bit set; refuse them all rather than list twice.
        prog.append((_BPF_JMP_JGE_K, "eperm", 0, _X32_SYSCALL_BIT))
    prog += [(_BPF_JMP_JEQ_K, "eperm", 0, nr[name]) for name in DENIED_SYSCALLS if name in nr]
    # Returning ENOSYS makes libc fall back to clone(), whose flags we can inspect (clone3's
    # live in memory that seccomp cannot read).
    prog.append((_BPF_JMP_JEQ_K, "enosys", 0, nr["clone3"]))
    filter_sockets = not (network and unix_sockets)
    if filter_sockets:
        prog.append((_BPF_JMP_JEQ_K, "socket", 0, nr["socket"]))
    prog += [
        (_BPF_JMP_JEQ_K, "ioctl", 0, nr["ioctl"]),
        (_BPF_JMP_JEQ_K, "unshare", 0, nr["unshare"]),
        (_BPF_JMP_JEQ_K, "clone", 0, nr["clone"]),
        (_BPF_RET_K, 0, 0, _RET_ALLOW),
    ]
    if filter_sockets:
        prog += [
            "socket",
            (_BPF_LD_W_ABS, 0, 0, _arg_low(0)),
            (_BPF_JMP_JEQ_K, "allow" if unix_sockets else "eperm", 0, _AF_UNIX),
        ]
        if network:
            prog.append((_BPF_RET_K, 0, 0, _RET_ALLOW))  # every other family
        else:
            prog += [
                (_BPF_JMP_JEQ_K, 0, "eperm", _AF_NETLINK),
                # Routing netlink only reads interface state (getaddrinfo uses it); others can
                # reach audit, netfilter or socket diagnostics.
                (_BPF_LD_W_ABS, 0, 0, _arg_low(2)),
                (_BPF_JMP_JEQ_K, "allow", "eperm", _NETLINK_ROUTE),
            ]
    prog += [
        "ioctl",
        (_BPF_LD_W_ABS, 0, 0, _arg_low(1)),
        (_BPF_JMP_JEQ_K, "eperm", 0, _TIOCSTI),
        (_BPF_JMP_JEQ_K, "eperm", "allow", _TIOCLINUX),
        "unshare",
        (_BPF_LD_W_ABS, 0, 0, _arg_low(0)),
        (_BPF_JMP_JSET_K, "eperm", "allow", _UNSHARE_NS_FLAGS),
        "clone",
        (_BPF_LD_W_ABS, 0, 0, _arg_low(0)),
        (_BPF_JMP_JSET_K, "eperm", "allow", _CLONE_NS_FLAGS),
        "allow",
        (_BPF_RET_K, 0, 0, _RET_ALLOW),
        "eperm",
        (_BPF_RET_K, 0, 0, _RET_ERRNO | _EPERM),
        "enosys",
        (_BPF_RET_K, 0, 0, _RET_ERRNO | _ENOSYS),
        "kill",
        (_BPF_RET_K, 0, 0, _RET_KILL_PROCESS),
    ]
    labels: dict[str, int] = {}
    pos = 0
    for item in prog:
        if isinstance(item, str):
            labels[item] = pos
        else:
            pos += 1
    out: list[tuple[int, int, int, int]] = []
    for item in prog:
        if isinstance(item, str):
            continue
        code, jt, jf, k = item
        here = len(out) + 1
        out.append(
            (
                code,
                labels[jt] - here if isinstance(jt, str) else jt,
                labels[jf] - here if isinstance(jf, str) else jf,
                k,
            )
        )
    return out


def filter_bytes(network: bool, unix_sockets: bool) -> bytes:
    """The filter for this machine as the kernel's ``struct sock_filter`` array (what
    ``bwrap --seccomp FD`` reads)."""
    prog = build_filter(os.uname().machine, network, unix_sockets)
    return b"".join(struct.pack("=HBBI", *insn) for insn in prog)


def install_seccomp(network: bool, unix_sockets: bool = False) -> None:
    """Install the filter on this thread; with no_new_privs set it needs no privilege."""
    raw = filter_bytes(network, unix_sockets)
    buf = ctypes.create_string_buffer(raw, len(raw))

    class SockFprog(ctypes.Structure):
        _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))

    fprog = SockFprog(len(raw) // 8, ctypes.addressof(buf))
    lib = libc()
    if lib.prctl(_PR_SET_SECCOMP, ctypes.c_ulong(_SECCOMP_MODE_FILTER), ctypes.byref(fprog), 0, 0):
        raise errno_error("installing the seccomp filter")
