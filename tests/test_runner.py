from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from workflow_agent.execution.capture import BoundedCapture
from workflow_agent.execution.redact import StreamRedactor, redact_text, secret_values
from workflow_agent.execution.runner import CaptureSpec, ProcessSpec, run_process

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def spec(script: str, tmp_path: Path, **kw: object) -> ProcessSpec:
    return ProcessSpec(argv=["bash", "-c", script], env=dict(ENV), cwd=tmp_path, **kw)  # type: ignore[arg-type]


def alive_with(marker: str) -> list[int]:
    """Pids whose command line contains marker (a unique sleep duration), ignoring zombies."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z" and "bash -c" not in cmdline:
            found.append(int(entry))
    return found


def test_output_is_captured_and_streamed(tmp_path: Path) -> None:
    seen: list[tuple[str, bytes]] = []
    result = run_process(
        spec("echo out; echo err >&2; exit 3", tmp_path),
        CaptureSpec(head=1000, tail=1000),
        sink=lambda stream, chunk: seen.append((stream, chunk)),
    )
    assert result.exit_code == 3
    assert result.signal is None
    assert result.stdout.text == "out\n"
    assert result.stderr.text == "err\n"
    assert ("stdout", b"out\n") in seen
    assert ("stderr", b"err\n") in seen


def test_large_output_keeps_head_and_tail_and_logs_everything(tmp_path: Path) -> None:
    result = run_process(
        spec("seq 1 200000", tmp_path),
        CaptureSpec(head=100, tail=100, log_dir=tmp_path / "logs", log_prefix="r1"),
    )
    text = result.stdout.text
    assert result.stdout.truncated
    assert text.startswith("1\n2\n3\n")
    assert text.endswith("199999\n200000\n")
    assert "bytes not shown here; see" in text
    log = tmp_path / "logs" / "r1.stdout.log"
    assert result.stdout.log_path == log
    assert log.read_text() == "".join(f"{i}\n" for i in range(1, 200001))
    assert not (tmp_path / "logs" / "r1.stderr.log").exists(), "small streams never touch the disk"


def test_log_limit_bounds_the_file(tmp_path: Path) -> None:
    capture = BoundedCapture(10, 10, tmp_path / "x.log", log_limit=1000)
    for _ in range(100):
        capture.feed(b"y" * 100)
    out = capture.finish()
    assert out.total_bytes == 10_000
    data = (tmp_path / "x.log").read_bytes()
    assert data.startswith(b"y" * 1000)
    assert b"log limit reached" in data
    assert len(data) < 1100


def test_no_log_dir_still_marks_truncation() -> None:
    capture = BoundedCapture(4, 4, None, log_limit=0)
    capture.feed(b"0123456789abcdef")
    out = capture.finish()
    assert out.text.startswith("0123")
    assert out.text.endswith("cdef")
    assert "no log file" in out.text
    assert out.log_path is None


def test_invalid_utf8_and_nul_bytes_are_stored_safely() -> None:
    capture = BoundedCapture(100, 100, None, log_limit=0)
    capture.feed(b"ok \xff\xfe \x00 end")
    assert capture.finish().text == "ok \ufffd\ufffd \\0 end"


def test_timeout_kills_a_child_that_ignores_sigterm_and_left_the_group(tmp_path: Path) -> None:
    marker = "1000.4242"
    script = f"setsid bash -c 'trap \"\" TERM; exec sleep {marker}' & sleep 1000.4343"
    started = time.monotonic()
    result = run_process(spec(script, tmp_path, timeout=1.0, kill_grace=0.3), CaptureSpec(100, 100))
    assert result.timed_out
    assert time.monotonic() - started < 10
    assert alive_with(marker) == []
    assert alive_with("1000.4343") == []


def test_background_child_outliving_the_script_is_killed(tmp_path: Path) -> None:
    marker = "1000.5151"
    script = f"(trap '' TERM; sleep {marker}) >/dev/null 2>&1 & echo started"
    result = run_process(spec(script, tmp_path, timeout=30, kill_grace=0.3), CaptureSpec(100, 100))
    assert result.exit_code == 0
    assert not result.timed_out
    assert result.leftovers_killed >= 1
    assert "background process" in result.notes[0]
    assert alive_with(marker) == []


def test_killed_by_signal_reports_shell_style_exit_code(tmp_path: Path) -> None:
    result = run_process(spec("kill -9 $$", tmp_path), CaptureSpec(100, 100))
    assert result.signal == signal.SIGKILL
    assert result.exit_code == 137
    assert not result.timed_out


def test_broken_terminal_does_not_stop_the_run(tmp_path: Path) -> None:
    def sink(stream: str, chunk: bytes) -> None:
        raise BrokenPipeError

    result = run_process(spec("echo a; echo b", tmp_path), CaptureSpec(100, 100), sink=sink)
    assert result.stdout.text == "a\nb\n"


def test_keyboard_interrupt_cancels_and_kills(tmp_path: Path) -> None:
    marker = "1000.6161"
    main_thread = threading.main_thread().ident
    assert main_thread is not None

    def interrupt(pid: int) -> None:
        def later() -> None:
            time.sleep(0.5)
            signal.pthread_kill(main_thread, signal.SIGINT)

        threading.Thread(target=later, daemon=True).start()

    result = run_process(
        spec(f"sleep {marker}", tmp_path, kill_grace=0.3), CaptureSpec(100, 100), on_start=interrupt
    )
    assert result.cancelled
    assert alive_with(marker) == []


def test_secrets_are_redacted_even_across_chunks(tmp_path: Path) -> None:
    secret = "s3cr3t-VALUE-1234567890"
    env = {**ENV, "API_TOKEN": secret, "PLAIN": "visible-value"}
    assert secret_values(env) == [secret]
    # Print the secret split by a pause so it arrives in two reads.
    script = 'printf "key=s3cr3t-VAL"; sleep 0.2; printf "UE-1234567890 done\\n"; echo "$PLAIN"; echo "$API_TOKEN" >&2'
    result = run_process(
        ProcessSpec(argv=["bash", "-c", script], env=env, cwd=tmp_path),
        CaptureSpec(head=1000, tail=1000, secrets=(secret,)),
    )
    assert secret not in result.stdout.text
    assert "key=[REDACTED] done" in result.stdout.text
    assert "visible-value" in result.stdout.text
    assert result.stderr.text == "[REDACTED]\n"


def test_stream_redactor_holds_back_partial_secret() -> None:
    redactor = StreamRedactor(["abcdef", "xyz123456"])
    out = b""
    for piece in (b"..ab", b"cd", b"ef..xyz12", b"3456!"):
        out += redactor.feed(piece)
    out += redactor.flush()
    assert out == b"..[REDACTED]..[REDACTED]!"
    assert not StreamRedactor([]).active
    assert StreamRedactor([]).feed(b"same") == b"same"
    assert redact_text("a abcdef b", ["abcdef"]) == "a [REDACTED] b"


def test_short_values_are_not_treated_as_secrets() -> None:
    assert secret_values({"MY_KEY": "1", "GITHUB_TOKEN": "ghp_abcdefgh"}, ["DECLARED"]) == ["ghp_abcdefgh"]
    assert secret_values({"DB_URL": "postgres://u:p@h/db"}, ["DB_URL"]) == ["postgres://u:p@h/db"]


def test_cli_process_survives_being_unable_to_start(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        run_process(
            ProcessSpec(argv=["/no/such/interpreter"], env=dict(ENV), cwd=tmp_path), CaptureSpec(10, 10)
        )


def test_direct_child_dies_with_a_killed_parent(tmp_path: Path) -> None:
    marker = "1000.7171"
    code = (
        "import sys; from pathlib import Path; from workflow_agent.execution.runner import *\n"
        f"run_process(ProcessSpec(['sleep', '{marker}'], {{'PATH': '/usr/bin:/bin'}}, Path('.')), CaptureSpec(10, 10))"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path)
    deadline = time.monotonic() + 10
    while not alive_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert alive_with(marker)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 5
    while alive_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert alive_with(marker) == []
