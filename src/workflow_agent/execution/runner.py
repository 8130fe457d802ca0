"""Run one process: own process group, live output, bounded capture, timeout and Ctrl-C.

The runner knows nothing of workflows or history; it takes an argv and returns what happened.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import selectors
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from workflow_agent.execution import proctree
from workflow_agent.execution.capture import BoundedCapture, CapturedOutput
from workflow_agent.execution.redact import StreamRedactor

OutputSink = Callable[[str, bytes], None]
READ_SIZE = 256 * 1024
PIPE_SIZE = 1024 * 1024
# After the main process exits, how long stray children may keep its pipes open before they are killed.
LINGER_S = 0.5
# A fast writer hands us a few KiB per wake-up; pausing this long after a busy read lets the pipe fill,
# so each read moves far more bytes. Live output is delayed by at most this much.
BATCH_PAUSE_S = 0.0005
BUSY_READ = 4096


@dataclass(frozen=True)
class ProcessSpec:
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    timeout: float | None = None
    kill_grace: float = 2.0
    preexec: Callable[[], None] | None = None
    pass_fds: tuple[int, ...] = ()  # inherited by the process (e.g. bwrap's seccomp filter)
    # Marks every process of the run (see proctree); recorded so a crashed run can be cleaned up later.
    token: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class CaptureSpec:
    head: int
    tail: int
    log_dir: Path | None = None
    log_prefix: str = "run"
    log_limit: int = 1 << 30
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProcessResult:
    exit_code: int | None
    signal: int | None
    timed_out: bool
    cancelled: bool
    duration: float
    stdout: CapturedOutput
    stderr: CapturedOutput
    leftovers_killed: int = 0
    notes: list[str] = field(default_factory=list)


def _log_path(capture: CaptureSpec, stream: str) -> Path | None:
    return None if capture.log_dir is None else capture.log_dir / f"{capture.log_prefix}.{stream}.log"


def _widen_pipe(fd: int) -> None:
    # Fewer, larger reads: a 1 MiB pipe lets a fast writer run ahead of us between wake-ups.
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)


class _Watch:
    """One running process: its pipes, captures and the loop that moves output along."""

    def __init__(
        self, proc: subprocess.Popen[bytes], captures: dict[str, BoundedCapture], sink: OutputSink | None
    ):
        self.proc = proc
        self.captures = captures
        self.sink = sink
        self.selector = selectors.DefaultSelector()
        assert proc.stdout is not None
        assert proc.stderr is not None
        for name, pipe in (("stdout", proc.stdout), ("stderr", proc.stderr)):
            _widen_pipe(pipe.fileno())
            os.set_blocking(pipe.fileno(), False)
            self.selector.register(pipe.fileno(), selectors.EVENT_READ, name)

    @property
    def open(self) -> bool:
        return bool(self.selector.get_map())

    def drain(self, wait: float) -> int:
        """Move what is ready from the pipes; return the number of bytes moved."""
        moved = 0
        for key, _ in self.selector.select(wait):
            try:
                chunk = os.read(key.fd, READ_SIZE)
            except BlockingIOError:
                continue
            if not chunk:
                self.selector.unregister(key.fd)
                continue
            moved += len(chunk)
            self.captures[key.data].feed(chunk)
            if self.sink is not None:
                try:
                    self.sink(key.data, chunk)
                except OSError:
                    self.sink = None  # the terminal went away; keep running and capturing
        return moved

    def follow(self, deadline: float | None) -> bool:
        """Move output until the pipes close (or linger after exit); False when the deadline passed."""
        exited_at: float | None = None
        while self.open:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return False
            if exited_at is None and self.proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at >= LINGER_S:
                return True
            moved = self.drain(0.1 if deadline is None else min(0.1, max(deadline - now, 0.0)))
            if BUSY_READ <= moved < READ_SIZE:
                time.sleep(BATCH_PAUSE_S)
        return True

    def close(self) -> int:
        # Whatever is left in the pipes after a kill is still output of the run.
        end = time.monotonic() + 1.0
        while self.open and time.monotonic() < end:
            self.drain(0.05)
        self.selector.close()
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        return self.proc.wait()


def run_process(
    spec: ProcessSpec,
    capture: CaptureSpec,
    *,
    sink: OutputSink | None = None,
    on_start: Callable[[int], None] | None = None,
) -> ProcessResult:
    """Run ``spec`` to completion, timeout or Ctrl-C; the whole process tree is gone on return."""
    token = spec.token

    def preexec() -> None:
        proctree.die_with_parent()
        if spec.preexec is not None:
            spec.preexec()

    captures = {
        name: BoundedCapture(
            capture.head,
            capture.tail,
            _log_path(capture, name),
            capture.log_limit,
            StreamRedactor(capture.secrets) if capture.secrets else None,
        )
        for name in ("stdout", "stderr")
    }
    started = time.monotonic()
    proc = subprocess.Popen(
        spec.argv,
        cwd=spec.cwd,
        env={**spec.env, proctree.TOKEN_ENV: token},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=preexec,  # noqa: PLW1509 - PR_SET_PDEATHSIG must be set in the child before exec
        close_fds=True,
        pass_fds=spec.pass_fds,
    )
    if on_start is not None:
        on_start(proc.pid)
    watch = _Watch(proc, captures, sink)
    timed_out = cancelled = False
    leftovers = 0
    notes: list[str] = []
    try:
        timed_out = not watch.follow(None if spec.timeout is None else started + spec.timeout)
    except KeyboardInterrupt:
        cancelled = True
    finally:
        proc.poll()
        if timed_out or cancelled or watch.open or proctree.anything_left(proc.pid, token):
            leftovers = proctree.kill_tree(proc.pid, token, grace=spec.kill_grace, reap=proc.poll)
            if not (timed_out or cancelled) and leftovers:
                notes.append(
                    f"killed {leftovers} background process(es) still running after the script ended"
                )
        returncode = watch.close()
    sig = -returncode if returncode < 0 else None
    return ProcessResult(
        exit_code=128 + sig if sig is not None else returncode,
        signal=sig,
        timed_out=timed_out,
        cancelled=cancelled,
        duration=time.monotonic() - started,
        stdout=captures["stdout"].finish(),
        stderr=captures["stderr"].finish(),
        leftovers_killed=leftovers,
        notes=notes,
    )
