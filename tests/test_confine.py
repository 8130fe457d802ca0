"""The Landlock + seccomp launcher, exercised through real processes on this kernel.

Each confined probe is a small stdlib-only Python program run with ``-I -S`` (so it does not pick
up coverage's start-up hook and try to write outside the sandbox) that prints what it observed.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from workflow_agent.execution import confine
from workflow_agent.execution.confine import (
    ConfineError,
    Policy,
    carve,
    confine_argv,
    fs_rights,
    landlock_abi,
    seccomp_available,
)
from workflow_agent.execution.confine_seccomp import ARCHES, DENIED_SYSCALLS, build_filter

ABI = landlock_abi()
needs_landlock = pytest.mark.skipif(
    ABI < 1, reason="kernel lacks Landlock (needs Linux >= 5.13, lsm=landlock)"
)
needs_seccomp = pytest.mark.skipif(not seccomp_available(), reason="kernel lacks seccomp filter mode")
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}


def _coverage_dirs() -> list[Path]:
    """Where coverage saves a launcher's data: it must stay writable when the launcher exits itself.

    Only matters for runs whose launcher exits instead of exec'ing (127 / 126 after confinement).
    """
    if "COVERAGE_PROCESS_CONFIG" not in os.environ:
        return []
    import coverage

    cov = coverage.Coverage.current()
    if cov is None:  # pragma: no cover - set together with the variable
        return []
    return [Path(str(cov.config.data_file)).resolve().parent]


def run_confined(
    command: Sequence[str],
    *,
    rw: Sequence[Path] = (),
    ro: Sequence[Path] = (),
    hide: Sequence[Path] = (),
    network: bool = False,
    unix_sockets: bool = False,
    **kw: object,
) -> subprocess.CompletedProcess[str]:
    argv = confine_argv(list(ro), list(rw), network, hide=list(hide), unix_sockets=unix_sockets) + list(
        command
    )
    base = kw.pop("env", ENV)
    assert isinstance(base, dict)
    env = {**base, **{k: v for k, v in os.environ.items() if k.startswith("COVERAGE_")}}
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, check=False, **kw)  # type: ignore[call-overload, no-any-return]


def snippet(body: str) -> str:
    return TRY + textwrap.dedent(body)


def py(code: str) -> list[str]:
    return [sys.executable, "-I", "-S", "-c", textwrap.dedent(code)]


def probe(code: str, **kw: object) -> str:
    """Run ``code`` confined; return its stdout, failing the test if it crashed."""
    result = run_confined(py(code), **kw)  # type: ignore[arg-type]
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def probe_unconfined(code: str, **kw: object) -> str:
    result = subprocess.run(py(code), capture_output=True, text=True, timeout=60, env=ENV, check=False, **kw)  # type: ignore[call-overload]
    assert result.returncode == 0, result.stderr
    return str(result.stdout).strip()


@pytest.fixture
def sibling() -> Iterator[subprocess.Popen[bytes]]:
    """A process outside the sandbox, for probes that try to reach it."""
    proc = subprocess.Popen(["sleep", "60"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP listener on 127.0.0.1; connects complete through the backlog without accept()."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as srv:
        yield srv


TRY = """
import errno, os, socket
def attempt(fn):
    try:
        fn()
    except OSError as exc:
        return errno.errorcode[exc.errno]
    return "ok"
"""


# --- filesystem -------------------------------------------------------------------------------


@needs_landlock
@needs_seccomp
def test_writes_only_beneath_rw_paths_and_reads_everywhere(tmp_path: Path) -> None:
    work, outside = tmp_path / "work", tmp_path / "outside"
    work.mkdir()
    outside.mkdir()
    (outside / "data.txt").write_text("readable\n")
    out = probe(
        snippet(
            f"""
        print(attempt(lambda: open({str(work / "new.txt")!r}, "w").write("x")))
        print(attempt(lambda: os.mkdir({str(work / "sub")!r})))
        print(attempt(lambda: os.rename({str(work / "new.txt")!r}, {str(work / "sub" / "moved.txt")!r})))
        print(attempt(lambda: open({str(outside / "new.txt")!r}, "w")))
        print(attempt(lambda: open({str(outside / "data.txt")!r}, "a")))
        print(attempt(lambda: os.truncate({str(outside / "data.txt")!r}, 0)))
        print(attempt(lambda: os.unlink({str(outside / "data.txt")!r})))
        print(open({str(outside / "data.txt")!r}).read().strip())
        print(open("/etc/passwd").readline().split(":")[0])
        print(attempt(lambda: open("/dev/null", "w").write("x")))
        print(len(os.urandom(8)))
        """
        ),
        rw=[work],
    )
    assert out.splitlines() == [
        "ok",
        "ok",
        "ok",
        "EACCES",
        "EACCES",
        "EACCES",
        "EACCES",
        "readable",
        "root",
        "ok",
        "8",
    ]
    assert (work / "sub" / "moved.txt").read_text() == "x"
    assert not (outside / "new.txt").exists()
    assert (outside / "data.txt").read_text() == "readable\n"


@needs_landlock
@needs_seccomp
def test_shell_redirection_outside_rw_is_refused(tmp_path: Path) -> None:
    result = run_confined(["bash", "-c", f"echo hi > {tmp_path}/x; echo rc=$?; echo ok > /dev/null"], rw=[])
    assert "Permission denied" in result.stderr
    assert result.stdout.strip() == "rc=1"
    assert not (tmp_path / "x").exists()


@needs_landlock
@needs_seccomp
def test_hidden_paths_cannot_be_read_but_their_neighbours_can(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("secret")
    (home / "notes.txt").write_text("notes")
    os.symlink(home / ".ssh" / "id_ed25519", home / "link-to-key")
    out = probe(
        snippet(
            f"""
        print(attempt(lambda: open({str(home / ".ssh" / "id_ed25519")!r}).read()))
        print(attempt(lambda: open({str(home / "link-to-key")!r}).read()))
        print(open({str(home / "notes.txt")!r}).read())
        print(sorted(os.listdir({str(home)!r})))
        """
        ),
        hide=[home / ".ssh"],
    )
    assert out.splitlines() == ["EACCES", "EACCES", "notes", "['.ssh', 'link-to-key', 'notes.txt']"]


@needs_landlock
@needs_seccomp
def test_explicit_read_roots_limit_reading(tmp_path: Path) -> None:
    readable, other = tmp_path / "readable", tmp_path / "other"
    readable.mkdir()
    other.mkdir()
    (readable / "a").write_text("A")
    (other / "b").write_text("B")
    python_roots = {Path(p) for p in ("/usr", "/lib", "/lib64", "/etc", "/proc")} | {
        Path(sys.executable).resolve().parents[1],
        Path(sys.base_prefix).resolve(),
    }
    out = probe(
        snippet(
            f"""
        print(open({str(readable / "a")!r}).read())
        print(attempt(lambda: open({str(other / "b")!r}).read()))
        """
        ),
        ro=[readable, *sorted(p for p in python_roots if p.exists())],
    )
    assert out.splitlines() == ["A", "EACCES"]


@needs_landlock
@needs_seccomp
def test_raw_devices_are_withheld_but_harmless_nodes_work(tmp_path: Path) -> None:
    assert Path("/dev/kmsg").exists()
    code = snippet(
        """
        print(attempt(lambda: open("/dev/kmsg", "rb").close()))
        print(attempt(lambda: open("/dev/zero", "rb").read(4)))
        print(attempt(lambda: open("/dev/full", "wb", buffering=0).write(b"x")))
        print(len(os.listdir("/dev")) > 0)
        """
    )
    # Control: the probe can open /dev/kmsg without the sandbox (we run as root).
    assert probe_unconfined(code).splitlines()[0] == "ok"
    assert probe(code).splitlines() == ["EACCES", "ok", "ENOSPC", "True"]


# --- network ----------------------------------------------------------------------------------

NET_PROBE = snippet(
    """
import sys
port = int(sys.argv[1])
def tcp():
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
def udp():
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()
def inet6():
    socket.socket(socket.AF_INET6, socket.SOCK_STREAM).close()
def packet():
    socket.socket(socket.AF_PACKET, socket.SOCK_RAW).close()
def netlink_route():
    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0).close()
def netlink_diag():
    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 4).close()
def unix():
    socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()
def pair():
    for end in socket.socketpair():
        end.close()
for fn in (tcp, udp, inet6, packet, netlink_route, netlink_diag, unix, pair):
    print(fn.__name__, attempt(fn))
"""
)


@needs_landlock
@needs_seccomp
def test_no_network_refuses_inet_sockets(listener: socket.socket) -> None:
    port = str(listener.getsockname()[1])
    result = run_confined([*py(NET_PROBE), port], network=False)
    assert result.returncode == 0, result.stderr
    assert dict(line.split() for line in result.stdout.splitlines()) == {
        "tcp": "EPERM",
        "udp": "EPERM",
        "inet6": "EPERM",
        "packet": "EPERM",
        "netlink_route": "ok",
        "netlink_diag": "EPERM",
        "unix": "EPERM",
        "pair": "ok",
    }


@needs_landlock
@needs_seccomp
def test_network_allowed_when_asked(listener: socket.socket) -> None:
    port = str(listener.getsockname()[1])
    result = run_confined([*py(NET_PROBE), port], network=True)
    assert result.returncode == 0, result.stderr
    seen = dict(line.split() for line in result.stdout.splitlines())
    assert seen["tcp"] == "ok"
    assert seen["udp"] == "ok"
    assert seen["netlink_diag"] == "ok"
    assert seen["unix"] == "EPERM", "network does not grant local daemons"
    assert seen["pair"] == "ok"


@pytest.mark.skipif(ABI < 4, reason="Landlock ABI < 4 has no network rules")
@needs_seccomp
def test_landlock_refuses_tcp_connect_on_an_inherited_socket(listener: socket.socket) -> None:
    # seccomp only sees socket(); a socket handed in from outside is stopped by Landlock instead.
    port = listener.getsockname()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as inherited:
        code = (
            TRY
            + f"s = socket.socket(fileno={inherited.fileno()})\nprint(attempt(lambda: s.connect(('127.0.0.1', {port}))))"
        )
        result = run_confined(py(code), network=False, pass_fds=[inherited.fileno()])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "EACCES"


UNIX_PROBE = """
path = {path!r}
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen()
cli = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
cli.connect(path)
conn, _ = srv.accept()
cli.sendall(b"pong")
print(conn.recv(4).decode())
"""


@needs_landlock
@needs_seccomp
@pytest.mark.parametrize("network", [False, True])
def test_unix_sockets_only_when_declared(tmp_path: Path, network: bool) -> None:
    # Landlock does not mediate connect() by path, so the filter refuses creating the socket.
    code = TRY + f"print(attempt(lambda: exec({UNIX_PROBE.format(path=str(tmp_path / 's.sock'))!r})))"
    assert probe(code, rw=[tmp_path], network=network) == "EPERM"
    (tmp_path / "s.sock").unlink(missing_ok=True)
    out = probe(code, rw=[tmp_path], network=network, unix_sockets=True)
    assert out.splitlines() == ["pong", "ok"]


@pytest.mark.skipif(ABI < 6, reason="Landlock ABI < 6 cannot scope abstract unix sockets")
@needs_seccomp
def test_abstract_unix_sockets_outside_are_unreachable_without_network() -> None:
    name = f"\0workflow-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as srv:
        srv.bind(name)
        srv.listen()
        code = TRY + f"print(attempt(lambda: socket.socket(socket.AF_UNIX).connect({name!r})))"
        assert probe(code, network=False, unix_sockets=True) == "EPERM"
        assert probe(code, network=True, unix_sockets=True) == "ok"
        assert probe(code, network=True) == "EPERM"


# --- process isolation ------------------------------------------------------------------------

PTRACE_PROBE = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
pid = int(sys.argv[1])
rc = libc.ptrace(16, pid, None, None)  # PTRACE_ATTACH
err = ctypes.get_errno()
if rc == 0:
    os.waitpid(pid, 0)
    libc.ptrace(17, pid, None, None)  # PTRACE_DETACH
print("ok" if rc == 0 else os.strerror(err))
"""


@needs_landlock
@needs_seccomp
def test_ptrace_of_a_sibling_is_refused(sibling: subprocess.Popen[bytes]) -> None:
    control = subprocess.run(
        [*py(PTRACE_PROBE), str(sibling.pid)], capture_output=True, text=True, check=True
    )
    assert control.stdout.strip() == "ok", "without the sandbox the probe can attach"
    result = run_confined([*py(PTRACE_PROBE), str(sibling.pid)])
    assert result.stdout.strip() == "Operation not permitted", result.stderr


@needs_landlock
@needs_seccomp
def test_outside_processes_environment_and_memory_are_unreadable(sibling: subprocess.Popen[bytes]) -> None:
    # The `workflow` process holds API keys in its environment; /proc must not leak them.
    code = snippet(
        f"""
        print(attempt(lambda: open("/proc/{sibling.pid}/environ", "rb").read()))
        print(attempt(lambda: open("/proc/{os.getpid()}/environ", "rb").read()))
        print(attempt(lambda: open("/proc/{sibling.pid}/mem", "rb").close()))
        print(attempt(lambda: open("/proc/self/environ", "rb").read()))
        """
    )
    assert probe_unconfined(code).splitlines() == ["ok", "ok", "ok", "ok"]
    assert probe(code).splitlines() == ["EACCES", "EACCES", "EACCES", "ok"]


@needs_landlock
@needs_seccomp
@pytest.mark.skipif(not Path("/usr/bin/strace").exists(), reason="strace not installed")
def test_strace_cannot_trace() -> None:
    result = run_confined(["strace", "-f", "true"])
    assert result.returncode != 0
    assert "PTRACE_TRACEME" in result.stderr
    assert "Operation not permitted" in result.stderr


@pytest.mark.skipif(ABI < 6, reason="Landlock ABI < 6 cannot scope signals")
@needs_seccomp
def test_signals_cannot_reach_processes_outside(sibling: subprocess.Popen[bytes]) -> None:
    code = (
        TRY
        + f"print(attempt(lambda: os.kill({sibling.pid}, 15)))\nprint(attempt(lambda: os.kill(os.getpid(), 0)))"
    )
    assert probe(code).splitlines() == ["EPERM", "ok"]
    assert sibling.poll() is None


PRIV_PROBE = """
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def call(name, fn):
    rc = fn()
    print(name, "ok" if rc >= 0 else errno.errorcode[ctypes.get_errno()])
call("mount", lambda: libc.mount(b"none", b"{target}", b"tmpfs", 0, None))
call("unshare_user", lambda: libc.unshare(0x10000000))
call("unshare_net", lambda: libc.unshare(0x40000000))
call("unshare_files", lambda: libc.unshare(0x00000400))
call("clone_newpid", lambda: libc.syscall(56, 0x20000000 | 17, 0, 0, 0, 0))
call("clone3", lambda: libc.syscall(435, 0, 0))
call("bpf", lambda: libc.syscall(321, 0, 0, 0))
call("keyctl", lambda: libc.syscall(250, 0, 0, 0, 0, 0))
call("perf_event_open", lambda: libc.syscall(298, 0, 0, 0, 0, 0))
call("userfaultfd", lambda: libc.syscall(323, 0))
call("x32_getpid", lambda: libc.syscall(0x40000000 | 39))
pid = os.fork()
if pid == 0:
    os._exit(7)
print("fork", os.waitpid(pid, 0)[1] >> 8)
for line in open("/proc/self/status"):
    if line.startswith(("CapEff", "CapBnd", "NoNewPrivs", "Seccomp:")):
        print(line.split()[0].rstrip(":"), line.split()[1])
"""


@needs_landlock
@needs_seccomp
@pytest.mark.skipif(os.uname().machine != "x86_64", reason="probe uses x86_64 syscall numbers")
def test_privileged_and_namespace_syscalls_are_refused(tmp_path: Path) -> None:
    result = run_confined(py(PRIV_PROBE.replace("{target}", str(tmp_path))), rw=[tmp_path])
    assert result.returncode == 0, result.stderr
    seen = dict(line.split() for line in result.stdout.splitlines())
    assert seen == {
        "mount": "EPERM",
        "unshare_user": "EPERM",
        "unshare_net": "EPERM",
        "unshare_files": "ok",
        "clone_newpid": "EPERM",
        "clone3": "ENOSYS",
        "bpf": "EPERM",
        "keyctl": "EPERM",
        "perf_event_open": "EPERM",
        "userfaultfd": "EPERM",
        "x32_getpid": "EPERM",
        "fork": "7",
        "CapEff": "0000000000000000",
        "CapBnd": "0000000000000000",
        "NoNewPrivs": "1",
        "Seccomp": "2",
    }


def _drop_setpcap() -> None:
    # Root execs the launcher with a bounding set lacking CAP_SETPCAP, so it cannot empty it.
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(24, 8, 0, 0, 0) == 0  # PR_CAPBSET_DROP, CAP_SETPCAP


@needs_landlock
@needs_seccomp
@pytest.mark.skipif(os.getuid() != 0, reason="checks how root regains capabilities at exec")
def test_root_without_setpcap_still_ends_with_no_capabilities() -> None:
    code = "print([l.split()[1] for l in open('/proc/self/status') if l.startswith(('CapEff', 'CapPrm', 'CapBnd'))])"
    result = run_confined(py(code), preexec_fn=_drop_setpcap)
    assert result.returncode == 0, result.stderr
    eff, prm, bnd = eval(result.stdout)  # a printed list of hex strings
    assert (eff, prm) == ("0000000000000000", "0000000000000000")
    # The bounding set kept everything but CAP_SETPCAP, yet root's exec gained nothing: no_new_privs.
    assert int(bnd, 16) & (1 << 21), "CAP_SYS_ADMIN still in the bounding set"
    assert not int(bnd, 16) & (1 << 8)


TIOCSTI_PROBE = """
import fcntl, os, termios
pid = os.fork()
if pid == 0:
    os.setsid()
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    try:
        fcntl.ioctl(slave, termios.TIOCSTI, b"x")
        print("ok", flush=True)
    except OSError as exc:
        print(os.strerror(exc.errno), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
"""


@needs_landlock
@needs_seccomp
def test_terminal_injection_is_refused() -> None:
    legacy = Path("/proc/sys/dev/tty/legacy_tiocsti")
    if legacy.exists() and legacy.read_text().strip() == "1":
        assert probe_unconfined(TIOCSTI_PROBE) == "ok", "control: TIOCSTI works on our own terminal"
    assert probe(TIOCSTI_PROBE) == "Operation not permitted"


@needs_landlock
@needs_seccomp
def test_the_command_gets_default_signal_dispositions() -> None:
    result = run_confined(["grep", "SigIgn", "/proc/self/status"])
    ignored = int(result.stdout.split()[1], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1)), "SIGPIPE ignored: pipelines would print EPIPE errors"
    assert not ignored & (1 << (signal.SIGXFSZ - 1)), "SIGXFSZ ignored: RLIMIT_FSIZE would not stop writers"
    pipeline = run_confined(["bash", "-c", "yes | head -n 1"])
    assert (pipeline.stdout, pipeline.stderr) == ("y\n", "")


# --- failures ---------------------------------------------------------------------------------


@needs_landlock
@needs_seccomp
def test_missing_program_exits_127_with_a_message(tmp_path: Path) -> None:
    result = run_confined(["no-such-program-xyz", "arg"], rw=[tmp_path, *_coverage_dirs()])
    assert result.returncode == 127
    assert "no-such-program-xyz: command not found" in result.stderr


@needs_landlock
@needs_seccomp
def test_unexecutable_file_exits_126(tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("echo hi\n")
    result = run_confined([str(script)], rw=[tmp_path, *_coverage_dirs()])
    assert result.returncode == 126
    assert "cannot execute" in result.stderr
    assert "Permission denied" in result.stderr


def test_setup_failure_refuses_to_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    result = run_confined(["touch", str(marker)], rw=[tmp_path / "missing"])
    assert result.returncode == 126
    assert "refusing to run unconfined" in result.stderr
    assert "does not exist" in result.stderr
    assert not marker.exists()


def test_modules_in_the_working_directory_cannot_hijack_the_launcher(tmp_path: Path) -> None:
    # The work dir is writable by scripts; a planted argparse.py or ctypes.py must not run
    # before (or instead of) the confinement.
    for name in ("argparse", "ctypes", "workflow_agent"):
        (tmp_path / f"{name}.py").write_text(f"open({str(tmp_path / 'hijacked')!r}, 'w').close()\n")
    result = run_confined(["true"], rw=[tmp_path], cwd=tmp_path, env={**ENV, "PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "hijacked").exists()


@needs_landlock
@needs_seccomp
def test_launcher_works_when_its_own_interpreter_is_hidden() -> None:
    # The launcher must load everything it needs before confining itself.
    result = run_confined(
        ["bash", "-c", "echo ran"], hide=[Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()]
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "ran\n", "")


def test_bad_arguments_are_a_setup_failure(capsys: pytest.CaptureFixture[str]) -> None:
    assert confine.main(["--rw"]) == 126
    assert confine.main([]) == 126
    assert "refusing to run unconfined" in capsys.readouterr().err


def test_missing_landlock_is_refused() -> None:
    with pytest.raises(ConfineError, match="Landlock is not available"):
        confine.apply_landlock(Policy([], [], [], network=True), 0)


# --- pieces -----------------------------------------------------------------------------------


def test_confine_argv_shape(tmp_path: Path) -> None:
    argv = confine_argv([Path("/usr")], [tmp_path], False, hide=[Path("/root")])
    assert argv == [
        sys.executable,
        "-I",
        "-m",
        "workflow_agent.execution.confine",
        "--ro",
        "/usr",
        "--rw",
        str(tmp_path),
        "--hide",
        "/root",
        "--no-network",
        "--",
    ]
    assert "--no-network" not in confine_argv([], [], True)


def test_abi_rights() -> None:
    assert fs_rights(1) == (1 << 13) - 1
    assert fs_rights(2) == (1 << 14) - 1
    assert fs_rights(4) == (1 << 15) - 1
    assert fs_rights(7) == (1 << 16) - 1


def test_this_kernel_offers_landlock_and_seccomp() -> None:
    # CI runs on this kernel; if these fail, every confinement test above is skipped, so say so here.
    assert ABI >= 1, "Landlock unavailable: all Landlock tests were skipped"
    assert seccomp_available(), "seccomp unavailable: all seccomp tests were skipped"


def test_carve_replaces_ancestors_of_hidden_paths(tmp_path: Path) -> None:
    (tmp_path / "a" / "secret").mkdir(parents=True)
    (tmp_path / "a" / "keep").mkdir()
    (tmp_path / "a" / "file").write_text("")
    (tmp_path / "b").mkdir()
    os.symlink(tmp_path / "a" / "secret", tmp_path / "b" / "to-secret")
    os.symlink(tmp_path / "nowhere", tmp_path / "a" / "dangling")
    granted, split = carve([str(tmp_path)], [str(tmp_path / "a" / "secret")])
    assert sorted(granted) == sorted(
        [str(tmp_path / "a" / "file"), str(tmp_path / "a" / "keep"), str(tmp_path / "b")]
    )
    assert split == [str(tmp_path), str(tmp_path / "a")]
    # A root inside a hidden path, or hidden itself, grants nothing.
    assert carve([str(tmp_path / "a" / "secret")], [str(tmp_path / "a")]) == ([], [])


def test_carve_skips_unlistable_directories(tmp_path: Path) -> None:
    # /proc/<pid>/fdinfo of a vanished process cannot be listed: it disappears under us.
    proc = subprocess.Popen(["true"])
    proc.wait()
    granted, split = carve([f"/proc/{proc.pid}"], [f"/proc/{proc.pid}/fdinfo"])
    assert (granted, split) == ([], [])


def _run_bpf(prog: list[tuple[int, int, int, int]], arch: int, nr: int, *args: int) -> int:
    """A classic-BPF interpreter for the few instructions build_filter emits."""
    padded = [*args, 0, 0, 0, 0, 0, 0][:6]
    data = struct.pack("<iIQ6Q", nr, arch, 0, *padded)
    acc = pc = 0
    while True:
        code, jt, jf, k = prog[pc]
        pc += 1
        if code == 0x20:
            acc = struct.unpack_from("<I", data, k)[0]
        elif code == 0x15:
            pc += jt if acc == k else jf
        elif code == 0x35:
            pc += jt if acc >= k else jf
        elif code == 0x45:
            pc += jt if acc & k else jf
        elif code == 0x06:
            return k
        else:  # pragma: no cover - build_filter emits nothing else
            raise AssertionError(f"unknown opcode {code:#x}")


EPERM_RET = 0x00050000 | errno.EPERM
ALLOW_RET = 0x7FFF0000


@pytest.mark.parametrize("arch_name", ["x86_64", "aarch64"])
def test_filter_logic(arch_name: str) -> None:
    arch = ARCHES[arch_name]
    nrs = arch.nrs
    for network, unix_sockets in ((False, False), (True, False), (False, True), (True, True)):
        prog = build_filter(arch_name, network, unix_sockets)
        assert len(prog) < 256, "jump offsets are 8 bits"

        def verdict(name: str, *args: int, prog: list[tuple[int, int, int, int]] = prog) -> int:
            return _run_bpf(prog, arch.audit, nrs[name], *args)

        for name in DENIED_SYSCALLS:
            if name in nrs:
                assert verdict(name) == EPERM_RET, name
        assert _run_bpf(prog, 0x40000003, 0) == 0x80000000, "another arch (i386) is killed"
        assert verdict("clone3") == 0x00050000 | errno.ENOSYS
        assert verdict("clone", 0x11) == ALLOW_RET  # plain fork
        assert verdict("clone", 0x10000000 | 0x11) == EPERM_RET
        assert verdict("unshare", 0x400) == ALLOW_RET
        assert verdict("unshare", 0x80) == EPERM_RET  # CLONE_NEWTIME
        assert verdict("ioctl", 0, 0x5412) == EPERM_RET
        assert verdict("ioctl", 0, 0x541C) == EPERM_RET
        assert verdict("ioctl", 0, 0x5401) == ALLOW_RET  # TCGETS
        assert verdict("socket", socket.AF_UNIX) == (ALLOW_RET if unix_sockets else EPERM_RET)
        socketpair = {"x86_64": 53, "aarch64": 199}[arch_name]
        assert _run_bpf(prog, arch.audit, socketpair, socket.AF_UNIX) == ALLOW_RET
        assert verdict("socket", socket.AF_NETLINK, 3, 0) == ALLOW_RET
        expected = ALLOW_RET if network else EPERM_RET
        for family in (socket.AF_INET, socket.AF_INET6, socket.AF_PACKET, 40):  # 40 = AF_VSOCK
            assert verdict("socket", family, 1, 0) == expected
        assert verdict("socket", socket.AF_NETLINK, 3, 4) == expected
        # An argument's upper 32 bits are not looked at; the kernel truncates these to int.
        assert verdict("socket", (1 << 32) | socket.AF_INET) == expected
        if arch.x32:
            assert _run_bpf(prog, arch.audit, 0x40000000 | 39) == EPERM_RET
    with pytest.raises(ConfineError, match="no seccomp syscall table"):
        build_filter("sparc64", True)


def test_syscall_tables_agree_with_the_denied_list() -> None:
    for name, arch in ARCHES.items():
        missing = {n for n in DENIED_SYSCALLS if n not in arch.nrs} - {"iopl", "ioperm"}
        assert not missing, (name, missing)


# --- cost -------------------------------------------------------------------------------------


@needs_landlock
@needs_seccomp
def test_launcher_overhead_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Measures; does not assert a bound (machines differ). See the report line in -s output."""

    def best_of(argv: list[str], n: int = 7) -> float:
        times = []
        env = {**ENV}  # no coverage hook: measure the launcher as users run it
        for _ in range(n):
            start = time.perf_counter()
            subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
        return min(times)

    bare_true = best_of(["true"])
    bare_py = best_of([sys.executable, "-I", "-S", "-c", "pass"])
    wrapped_true = best_of([*confine_argv([], [tmp_path], False), "true"])
    with capsys.disabled():
        print(
            f"\n[confine] true: {bare_true * 1000:.1f} ms, python -c pass: {bare_py * 1000:.1f} ms, "
            f"confined true: {wrapped_true * 1000:.1f} ms (launcher adds {(wrapped_true - bare_true) * 1000:.1f} ms)"
        )
    assert wrapped_true > bare_true
