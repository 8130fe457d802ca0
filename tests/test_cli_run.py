"""`workflow run` and friends as real processes: live output, signals, crashes, concurrency."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

WORKFLOW = [sys.executable, "-m", "workflow_agent"]
HEAVY = ("pydantic_ai", "anthropic", "openai", "mcp", "starlette")


def wf(*args: str, check: bool = False, **kw: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*WORKFLOW, *args], capture_output=True, text=True, timeout=120, check=False, **kw)  # type: ignore[call-overload]
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc  # type: ignore[no-any-return]


def add(name: str, code: str, tmp_path: Path, *extra: str, suffix: str = ".sh") -> None:
    path = tmp_path / f"{name}{suffix}"
    path.write_text(code)
    wf("add", name, "--file", str(path), *extra, check=True)


def history_json(*args: str) -> list[dict[str, object]]:
    return json.loads(wf("history", "--json", *args, check=True).stdout)  # type: ignore[no-any-return]


def wait_for(predicate: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_run_success_streams_and_records(tmp_path: Path, workdir: Path) -> None:
    add("hello", 'echo "hello $WHO from $(pwd)"; echo warn >&2\n', tmp_path)
    proc = wf("run", "hello", "--param", "WHO=ann")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"hello ann from {workdir}\n"
    assert "warn" in proc.stderr
    assert "hello success" in proc.stderr
    [row] = history_json("hello")
    assert row["status"] == "success"
    assert row["exit_code"] == 0
    assert row["workflow_version"] == 1
    assert row["stdout"] == f"hello ann from {workdir}\n"
    assert row["pid"] is not None


def test_run_failure_exits_1_with_diagnosis(tmp_path: Path, workdir: Path) -> None:
    add(
        "fetch",
        'echo "curl: (7) Failed to connect to localhost port 9: Connection refused" >&2; exit 7\n',
        tmp_path,
    )
    proc = wf("run", "fetch")
    assert proc.returncode == 1
    assert "fetch failed" in proc.stderr
    assert "network" in proc.stderr
    [row] = history_json()
    assert row["status"] == "failed"
    assert row["failure_class"] == "network"
    assert row["exit_code"] == 7
    as_json = json.loads(wf("run", "fetch", "--json").stdout)
    assert as_json["diagnosis"]["failure_class"] == "network"
    assert as_json["status"] == "failed"


def test_python_workflow_and_workdir(tmp_path: Path, workdir: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    add("py", "import os\nprint('cwd', os.getcwd())\n", tmp_path, suffix=".py")
    proc = wf("run", "py", "--workdir", str(other))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"cwd {other}\n"
    missing = wf("run", "py", "--workdir", str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr


def test_declared_params(tmp_path: Path, workdir: Path, workflow_home: Path) -> None:
    add("p", 'echo "$TARGET $MODE"\n', tmp_path)
    config = workflow_home / "p" / "config.yaml"
    config.write_text(
        config.read_text().replace(
            "params: []", "params:\n  - name: TARGET\n    required: true\n  - name: MODE\n    default: fast"
        )
    )
    missing = wf("run", "p")
    assert missing.returncode == 2
    assert "needs parameter TARGET" in missing.stderr
    unknown = wf("run", "p", "-p", "TARGET=x", "-p", "TYPO=1")
    assert unknown.returncode == 2
    assert "has no parameter TYPO" in unknown.stderr
    bad = wf("run", "p", "-p", "no-equals")
    assert bad.returncode == 2
    ok = wf("run", "p", "-p", "TARGET=/data")
    assert ok.stdout == "/data fast\n"
    assert [r["status"] for r in history_json()] == ["success"], "refused inputs leave no run rows"


def test_timeout_kills_tree_and_is_classified(tmp_path: Path, workdir: Path) -> None:
    add("slow", "echo start; sleep 1000.8181 & sleep 1000.8282\n", tmp_path)
    proc = wf("run", "slow", "--timeout", "0.5")
    assert proc.returncode == 1
    [row] = history_json()
    assert row["status"] == "timeout"
    assert row["failure_class"] == "timeout"
    assert "timed out after 0.5s" in str(row["error_message"])
    assert (
        "1000.8181"
        not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    )


def test_ctrl_c_cancels_and_records(tmp_path: Path, workdir: Path) -> None:
    add("long", "echo ready; sleep 1000.9191\n", tmp_path)
    with subprocess.Popen(
        [*WORKFLOW, "run", "long"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
    [row] = history_json()
    assert row["status"] == "cancelled"
    assert (
        "1000.9191"
        not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    )


def test_sigterm_to_workflow_is_a_cancel(tmp_path: Path, workdir: Path) -> None:
    add("long", "echo ready; sleep 1000.9292\n", tmp_path)
    with subprocess.Popen(
        [*WORKFLOW, "run", "long"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        proc.terminate()
        assert proc.wait(timeout=30) == 130
    assert history_json()[0]["status"] == "cancelled"


def test_kill_9_mid_run_leaves_readable_db_and_interrupted_row(tmp_path: Path, workdir: Path) -> None:
    add("victim", "echo working; sleep 1000.1313\n", tmp_path)
    with subprocess.Popen(
        [*WORKFLOW, "run", "victim"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "working\n"
        running = history_json()
        assert running[0]["status"] == "running", "the row exists before the process ends"
        proc.kill()
        proc.wait()
    [row] = history_json()
    assert row["status"] == "interrupted"
    stats = json.loads(wf("stats", "victim", "--json", check=True).stdout)
    assert stats["runs"] == 1
    assert stats["failures"] == 1
    wait_for(
        lambda: (
            "1000.1313"
            not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
        )
    )


def test_eight_concurrent_runs_lose_no_row(tmp_path: Path, workdir: Path) -> None:
    add("busy", 'for i in 1 2 3; do echo "line $i"; done\n', tmp_path)
    procs = [
        subprocess.Popen(
            [*WORKFLOW, "run", "busy", "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        for _ in range(8)
    ]
    outcomes = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [err for _, err in outcomes]
    rows = history_json("--limit", "100")
    assert len(rows) == 8
    assert {r["status"] for r in rows} == {"success"}
    assert len({r["id"] for r in rows}) == 8


def test_undeclared_secrets_do_not_reach_the_sandbox(tmp_path: Path, workdir: Path) -> None:
    add("nosy", 'echo "token=${SERVICE_API_TOKEN:-unset} home=$HOME"\n', tmp_path)
    env = {**os.environ, "SERVICE_API_TOKEN": "tok-9f8e7d6c5b4a"}
    proc = wf("run", "nosy", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("token=unset home=")


def test_declared_secrets_reach_the_script_and_are_redacted_in_history(
    tmp_path: Path, workdir: Path, workflow_home: Path
) -> None:
    add("leaky", 'echo "token is $SERVICE_API_TOKEN"; echo "$SERVICE_API_TOKEN" >&2; exit 1\n', tmp_path)
    config = workflow_home / "leaky" / "config.yaml"
    config.write_text(config.read_text().replace("secrets: []", "secrets: [SERVICE_API_TOKEN]"))
    env = {**os.environ, "SERVICE_API_TOKEN": "tok-9f8e7d6c5b4a"}
    proc = wf("run", "leaky", env=env)
    assert "tok-9f8e7d6c5b4a" in proc.stdout, "the live terminal shows what the script printed"
    [row] = history_json()
    assert "tok-9f8e7d6c5b4a" not in json.dumps(row)
    assert row["stdout"] == "token is [REDACTED]\n"
    assert row["sandbox"] == "bwrap"


def test_history_filters_and_full_view(tmp_path: Path, workdir: Path) -> None:
    add("a", "echo alpha-output\n", tmp_path)
    add("b", "echo 'disk is full' >&2; exit 1\n", tmp_path)
    wf("run", "a", check=True)
    wf("run", "b")
    wf("run", "a", check=True)
    assert [r["workflow_name"] for r in history_json("--grep", "DISK IS")] == ["b"]
    assert [r["status"] for r in history_json("--status", "failed")] == ["failed"]
    assert len(history_json("a")) == 2
    assert len(history_json("--limit", "1")) == 1
    assert len(history_json("--since", "1h")) == 3
    assert history_json("--since", "2999-01-01") == []
    table = wf("history", check=True).stdout
    assert "alpha" not in table
    assert table.count("success") == 2
    first = history_json("b")[0]["id"]
    full = wf("history", "--id", str(first), check=True).stdout
    assert "disk is full" in full
    assert "stderr" in full
    stats = wf("stats", check=True).stdout
    assert "a " in stats
    assert "50%" not in stats.splitlines()[1]
    assert json.loads(wf("stats", "a", "--json", check=True).stdout)["success_rate"] == 1.0
    assert "ghost" in wf("stats", "ghost").stderr


@pytest.mark.parametrize("command", [["--help"], ["list"], ["history"], ["stats"], ["run", "quick"]])
def test_commands_do_not_import_model_libraries(command: list[str], tmp_path: Path, workdir: Path) -> None:
    add("quick", "true\n", tmp_path)
    code = (
        "import sys\nfrom workflow_agent.cli import main\n"
        f"code = main({command!r})\n"
        f"loaded = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print('LOADED', loaded, code)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert "LOADED [] 0" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.slow
def test_one_gigabyte_of_output_keeps_memory_flat(tmp_path: Path, workdir: Path) -> None:
    add("flood", "yes 'the quick brown fox jumps over the lazy dog' | head -c 1073741824\n", tmp_path)
    env = {**os.environ, "WORKFLOW_LOG_LIMIT": str(4 * 1024 * 1024)}
    # Measured in a fresh parent, so children of earlier tests cannot inflate RUSAGE_CHILDREN.
    wrapper = (
        "import resource, subprocess, sys\n"
        "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE).returncode\n"
        "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", wrapper, *WORKFLOW, "run", "flood"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    code, peak_kib = map(int, proc.stdout.split())
    assert code == 0, proc.stderr
    assert peak_kib < 100 * 1024, f"peak RSS {peak_kib} KiB"
    [row] = history_json()
    assert row["status"] == "success"
    assert "bytes not shown" in str(row["stdout"])
    assert len(str(row["stdout"])) < 200 * 1024
    log = Path(str(row["log_path"]) + ".stdout.log")
    assert log.stat().st_size < 5 * 1024 * 1024
