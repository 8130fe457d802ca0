"""Find and kill every process a run started, including ones that left its process group.

Each run's environment carries a unique token; a child that calls setsid() or double-forks
away from the group still inherits it, so a scan of /proc finds it. The process group covers
children that cleared their environment.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

TOKEN_ENV = "WORKFLOW_RUN_TOKEN"  # noqa: S105 - a variable name, not a secret
_PR_SET_PDEATHSIG = 1


def _environ_has(pid: int, needle: bytes) -> bool:
    try:
        data = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return needle in data


def marked_processes(token: str) -> list[int]:
    """Pids of live processes whose environment holds this run's token."""
    needle = f"{TOKEN_ENV}={token}\0".encode()
    me = os.getpid()
    found: list[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if entry.isdigit() and int(entry) != me and _environ_has(int(entry), needle):
            found.append(int(entry))
    return found


def signal_tree(pgid: int, token: str, sig: int) -> int:
    """Send ``sig`` to the run's process group and to every marked process; return how many."""
    sent = 0
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
        sent += 1
    for pid in marked_processes(token):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
            sent += 1
    return sent


def kill_orphans(token: str) -> int:
    """SIGKILL what is left of a run whose `workflow` process died (found by its token)."""
    pids = marked_processes(token)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)


def kill_tree(pgid: int, token: str, *, grace: float, reap: Callable[[], object] = lambda: None) -> int:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL until nothing of the run is left.

    ``reap`` collects our own child, whose zombie would otherwise keep the group alive.
    Returns the number of processes that were still alive when the first signal went out.
    """
    alive = len(marked_processes(token))
    signal_tree(pgid, token, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and marked_processes(token):
        reap()
        time.sleep(0.02)
    # A process that forks while we kill it can slip one round; a few rounds catch it.
    for _ in range(20):
        reap()
        if not marked_processes(token) and not _group_alive(pgid):
            break
        signal_tree(pgid, token, signal.SIGKILL)
        time.sleep(0.01)
    return alive


def anything_left(pgid: int, token: str) -> bool:
    """True while any process of the run (group member or token holder) is alive."""
    return _group_alive(pgid) or bool(marked_processes(token))


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def die_with_parent() -> None:
    """For preexec_fn: the kernel kills the child if the `workflow` process dies (even by kill -9)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
