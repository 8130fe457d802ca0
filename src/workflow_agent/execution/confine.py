"""Fallback isolation where bubblewrap cannot run: Landlock + seccomp, then exec.

Usage (normally built by :func:`confine_argv`)::

    python -I -m workflow_agent.execution.confine [--ro P]... [--rw P]... [--hide P]... \
        [--no-network] [--unix-sockets] -- ARGV...

Before exec'ing ARGV the launcher, irreversibly for ARGV and all its descendants:

1. sets ``PR_SET_NO_NEW_PRIVS`` (no setuid or file-capability gains, and a precondition of 2 and 4);
2. drops every capability (bounding, ambient, inheritable, permitted), which matters when the
   tool runs as root, as ``bwrap --cap-drop ALL`` does;
3. applies a Landlock ruleset handling every filesystem right the kernel's ABI knows:
   read/execute beneath the ``--ro`` paths (default: everything but ``/dev``, of which only a
   few harmless nodes stay usable), full access beneath the ``--rw`` paths, nothing beneath
   ``--hide`` paths; with ``--no-network`` also no TCP bind/connect (ABI >= 4) and no abstract
   unix sockets outside the sandbox (ABI >= 6); signals only inside the sandbox (ABI >= 6);
4. installs a seccomp filter that refuses (EPERM) ptrace, mounts, module loading, kexec, bpf,
   perf, keyrings, namespace creation, open_by_handle_at, userfaultfd, TIOCSTI/TIOCLINUX,
   creating unix sockets unless ``--unix-sockets`` (socketpair() still works) and, with
   ``--no-network``, every socket family but AF_UNIX and NETLINK_ROUTE.

Any failure to set up exits 126 with a message on stderr: ARGV never runs unconfined.
A program that cannot be found exits 127, like a shell.

Landlock rules only ever add access, so "hiding" a path means granting its siblings instead of
its parent; entries created later next to a hidden path are therefore not readable.
Unix sockets are refused at creation because Landlock (ABI <= 7) does not mediate connecting
to one by path: /run/docker.sock or a D-Bus socket would otherwise reach a daemon that acts
outside the sandbox. The same filter runs under bubblewrap (see sandbox.py).

The module imports only the standard library and its sibling confine_seccomp, and keeps work out
of import time: it is the first thing each confined run executes, so its start-up adds to every run.
"""

from __future__ import annotations

import ctypes
import os
import signal
import stat
import struct
import sys

from workflow_agent.execution.confine_seccomp import ARCHES, ConfineError, errno_error, install_seccomp, libc

# Not typing.TYPE_CHECKING: importing typing alone costs ~5 ms of every confined run's start-up.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

__all__ = [
    "DEVICE_NODES",
    "EXIT_NOT_FOUND",
    "EXIT_SETUP",
    "ConfineError",
    "Policy",
    "apply_landlock",
    "carve",
    "confine",
    "confine_argv",
    "drop_capabilities",
    "fs_rights",
    "landlock_abi",
    "main",
    "seccomp_available",
]

MODULE = "workflow_agent.execution.confine"
EXIT_SETUP = 126
EXIT_NOT_FOUND = 127

_PR_SET_NO_NEW_PRIVS = 38
_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_CAP_SETPCAP = 8

# Landlock: syscall numbers are the same on every architecture (allocated after the tables merged).
_SYS_LANDLOCK_CREATE_RULESET = 444
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1

FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1

# Only these rights may be granted on a rule whose target is not a directory.
_FS_FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
_FS_READ = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
_FS_DEVICE = FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE | FS_IOCTL_DEV

# Device nodes a script may open even though /dev as a whole is withheld (raw disks, /dev/mem...).
# /dev/pts and /dev/ptmx let tools such as `script` or `ssh -t` allocate a terminal; TIOCSTI is
# refused by seccomp so a terminal cannot be used to type into another session.
DEVICE_NODES = (
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
    "/dev/ptmx",
    "/dev/pts",
)


def landlock_abi() -> int:
    """The Landlock ABI version the running kernel offers; 0 when Landlock is unavailable."""
    lib = libc()
    abi = lib.syscall(
        ctypes.c_long(_SYS_LANDLOCK_CREATE_RULESET),
        None,
        ctypes.c_size_t(0),
        ctypes.c_uint32(_LANDLOCK_CREATE_RULESET_VERSION),
    )
    return max(int(abi), 0)


def seccomp_available() -> bool:
    """True when this launcher can install its seccomp filter here (kernel support + known arch)."""
    if os.uname().machine not in ARCHES:
        return False
    lib = libc()
    # A NULL filter is rejected with EFAULT by kernels that support filter mode, EINVAL otherwise;
    # nothing is installed either way.
    rc = lib.prctl(_PR_SET_SECCOMP, ctypes.c_ulong(_SECCOMP_MODE_FILTER), None, 0, 0)
    return rc == -1 and ctypes.get_errno() in (14, 13)  # EFAULT, or EACCES without no_new_privs


def confine_argv(
    ro: Sequence[Path],
    rw: Sequence[Path],
    network: bool,
    *,
    hide: Sequence[Path] = (),
    unix_sockets: bool = False,
) -> list[str]:
    """The argv prefix that runs a command under this launcher; append the command itself.

    ``ro`` empty means "read everything but /dev"; ``hide`` withholds paths from reading.
    ``-I`` keeps the working directory (which the script may write) and PYTHON* variables from
    deciding what the launcher imports.
    """
    argv = [sys.executable, "-I", "-m", MODULE]
    argv += [arg for path in ro for arg in ("--ro", os.fspath(path))]
    argv += [arg for path in rw for arg in ("--rw", os.fspath(path))]
    argv += [arg for path in hide for arg in ("--hide", os.fspath(path))]
    if not network:
        argv.append("--no-network")
    if unix_sockets:
        argv.append("--unix-sockets")
    argv.append("--")
    return argv


# ---------------------------------------------------------------------------------------------
# Landlock


def fs_rights(abi: int) -> int:
    """Every filesystem access right Landlock ABI ``abi`` can handle."""
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= FS_REFER
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def carve(roots: Iterable[str], hidden: Iterable[str]) -> tuple[list[str], list[str]]:
    """Split ``roots`` minus the ``hidden`` subtrees into subtrees Landlock rules can grant.

    Landlock can only add access, so a root that contains a hidden path is replaced by its
    children (recursively, only along the way to the hidden path). Returns the subtrees to
    grant and the directories that were split (to be granted listing only, so `ls ~` still works
    when ~/.ssh is hidden; the hidden names stay visible, their contents do not). Symlinks are
    resolved, and a link that leads into a hidden subtree is dropped rather than followed.
    """
    hidden_real = [os.path.realpath(h) for h in hidden]
    granted: list[str] = []
    split: list[str] = []
    seen: set[str] = set()

    def visit(path: str) -> None:
        real = os.path.realpath(path)
        if real in seen or not os.path.lexists(real):
            return
        seen.add(real)
        if any(_within(real, h) for h in hidden_real):
            return
        if not any(_within(h, real) for h in hidden_real):
            granted.append(real)
            return
        try:
            children = sorted(os.listdir(real))
        except OSError:
            return  # cannot list it, so nothing inside can be granted piecemeal
        split.append(real)
        for name in children:
            visit(os.path.join(real, name))

    for root in roots:
        visit(root)
    return granted, split


class Policy:
    """What the sandbox may touch, as computed from the command line."""

    def __init__(
        self,
        ro: Sequence[str],
        rw: Sequence[str],
        hide: Sequence[str],
        network: bool,
        unix_sockets: bool = False,
    ):
        for path in (*ro, *rw):
            if not os.path.exists(path):
                raise ConfineError(f"path to allow does not exist: {path}")
        hidden = ["/dev", *hide]
        self.read, read_split = carve(ro or ["/"], hidden)
        self.write, write_split = carve(rw, hide)
        self.list_only = [*read_split, *write_split]
        self.devices = [d for d in DEVICE_NODES if os.path.exists(d) and not _hidden_by(d, hide)]
        # Listing /dev itself is harmless and some programs stat it; its contents stay withheld.
        self.dev_dir = not _hidden_by("/dev", hide)
        self.network = network
        self.unix_sockets = unix_sockets


def _hidden_by(path: str, hide: Sequence[str]) -> bool:
    real = os.path.realpath(path)
    return any(_within(real, os.path.realpath(h)) for h in hide)


def _add_path_rule(lib: ctypes.CDLL, ruleset: int, path: str, access: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfineError(f"cannot open {path} for a Landlock rule: {exc.strerror}") from exc
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            access &= _FS_FILE_RIGHTS
        attr = ctypes.create_string_buffer(struct.pack("=Qi", access, fd), 12)
        rc = lib.syscall(
            ctypes.c_long(_SYS_LANDLOCK_ADD_RULE),
            ctypes.c_int(ruleset),
            ctypes.c_int(_LANDLOCK_RULE_PATH_BENEATH),
            attr,
            ctypes.c_uint32(0),
        )
        if rc != 0:
            raise errno_error(f"landlock_add_rule({path})")
    finally:
        os.close(fd)


def apply_landlock(policy: Policy, abi: int) -> None:
    """Restrict this process (and what it execs) to ``policy``; needs no_new_privs first."""
    if abi < 1:
        raise ConfineError("Landlock is not available on this kernel (needs Linux >= 5.13 with lsm=landlock)")
    handled = fs_rights(abi)
    net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 and not policy.network else 0
    scoped = 0
    if abi >= 6:
        scoped = SCOPE_SIGNAL | (0 if policy.network else SCOPE_ABSTRACT_UNIX_SOCKET)
    # The struct grew with the ABI; older kernels reject a size they do not know.
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    attr = ctypes.create_string_buffer(struct.pack("=QQQ", handled, net, scoped)[:size], size)
    lib = libc()
    ruleset = lib.syscall(
        ctypes.c_long(_SYS_LANDLOCK_CREATE_RULESET), attr, ctypes.c_size_t(size), ctypes.c_uint32(0)
    )
    if ruleset < 0:
        raise errno_error("landlock_create_ruleset")
    try:
        for path in policy.read:
            _add_path_rule(lib, ruleset, path, _FS_READ & handled)
        if policy.dev_dir:
            _add_path_rule(lib, ruleset, "/dev", FS_READ_DIR)
        for path in policy.list_only:
            _add_path_rule(lib, ruleset, path, FS_READ_DIR)
        for path in policy.devices:
            _add_path_rule(lib, ruleset, path, (_FS_DEVICE | FS_READ_DIR) & handled)
        for path in policy.write:
            _add_path_rule(lib, ruleset, path, handled)
        # With no network rule added, every TCP bind and connect is refused.
        if lib.syscall(ctypes.c_long(_SYS_LANDLOCK_RESTRICT_SELF), ctypes.c_int(ruleset), ctypes.c_uint32(0)):
            raise errno_error("landlock_restrict_self")
    finally:
        os.close(ruleset)


# ---------------------------------------------------------------------------------------------
# privileges


def _cap_sets() -> dict[str, int]:
    sets: dict[str, int] = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("Cap"):
                key, value = line.split(":", 1)
                sets[key] = int(value, 16)
    return sets


def drop_capabilities() -> None:
    """Empty every capability set, so root inside the sandbox is root only by uid."""
    lib = libc()
    if lib.prctl(_PR_CAP_AMBIENT, ctypes.c_ulong(_PR_CAP_AMBIENT_CLEAR_ALL), 0, 0, 0):
        raise errno_error("clearing ambient capabilities")
    if _cap_sets().get("CapEff", 0) >> _CAP_SETPCAP & 1:
        with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as f:
            last = int(f.read())
        for cap in range(last + 1):
            if lib.prctl(_PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0):
                raise errno_error(f"dropping capability {cap} from the bounding set")
    # Root regains its bounding set at exec; an empty bounding set and empty inheritable set
    # leave it nothing. Without CAP_SETPCAP we cannot shrink the bounding set, but then
    # no_new_privs stops exec from adding to what we hold, which the capset below empties.
    header = struct.pack("=Ii", _LINUX_CAPABILITY_VERSION_3, 0)
    data = bytes(24)
    if lib.capset(ctypes.create_string_buffer(header, 8), ctypes.create_string_buffer(data, 24)):
        raise errno_error("clearing capabilities")


# ---------------------------------------------------------------------------------------------
# entry point


def _parse(argv: Sequence[str]) -> tuple[Policy, list[str]]:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m " + MODULE,
        description="Run a command under Landlock and seccomp (fallback sandbox).",
    )
    parser.add_argument("--ro", action="append", default=[], help="readable path (default: all but /dev)")
    parser.add_argument("--rw", action="append", default=[], help="path with full access beneath it")
    parser.add_argument("--hide", action="append", default=[], help="path that stays unreadable")
    parser.add_argument("--no-network", action="store_true", help="no TCP/UDP/raw sockets")
    parser.add_argument("--unix-sockets", action="store_true", help="allow creating unix sockets")
    parser.add_argument("command", nargs="+", help="command to run, after --")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        if exc.code in (0, None):
            raise  # --help
        # Our own code builds this command line, so a usage error is a setup failure, not exit 2.
        raise ConfineError("invalid launcher arguments (see usage above)") from None
    policy = Policy(args.ro, args.rw, args.hide, network=not args.no_network, unix_sockets=args.unix_sockets)
    return policy, list(args.command)


def confine(policy: Policy) -> None:
    """Apply everything to the current process, in the order the kernel requires."""
    lib = libc()
    if lib.prctl(_PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), 0, 0, 0):
        raise errno_error("prctl(PR_SET_NO_NEW_PRIVS)")
    drop_capabilities()
    apply_landlock(policy, landlock_abi())
    install_seccomp(policy.network, policy.unix_sockets)


def main(argv: Sequence[str] | None = None) -> int:
    """Confine this process and exec the command; returns only on failure (126 or 127).

    Nothing may be imported once confine() ran: the interpreter's own files may be unreadable
    (a --hide or --ro that excludes them), so every module is loaded before.
    """
    try:
        policy, command = _parse(sys.argv[1:] if argv is None else argv)
        confine(policy)
    except (ConfineError, OSError) as exc:
        print(f"workflow-confine: refusing to run unconfined: {exc}", file=sys.stderr)
        return EXIT_SETUP
    # Output buffered so far must not be lost when exec replaces the process image.
    sys.stdout.flush()
    sys.stderr.flush()
    # The interpreter ignores these at start-up and an ignored signal stays ignored across exec:
    # without this, `yes | head -1` complains of a broken pipe and a file-size limit turns into
    # EFBIG errors instead of stopping the writer.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    try:
        os.execvp(command[0], command)  # noqa: S606 - no shell on purpose: argv is passed through as is
    except FileNotFoundError:
        print(f"workflow-confine: {command[0]}: command not found", file=sys.stderr)
        return EXIT_NOT_FOUND
    except OSError as exc:
        print(f"workflow-confine: cannot execute {command[0]}: {exc.strerror}", file=sys.stderr)
        return EXIT_SETUP


if __name__ == "__main__":
    sys.exit(main())
