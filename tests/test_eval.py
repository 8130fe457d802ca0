"""The teach evaluation harness: task files, validation, attempts in the real sandbox, scores, CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from workflow_agent.cases import cases_dir
from workflow_agent.core.errors import SafetyRefusal, ValidationError
from workflow_agent.eval import harness, main
from workflow_agent.eval.harness import AttemptResult, Job, Task, TaskFileError, load_tasks, run_attempt
from workflow_agent.eval.oracle import noop_model, oracle_model, prompt_of
from workflow_agent.eval.report import pass_at_k, summarize

REAL_TASKS = cases_dir() / "tasks.jsonl"
SUBSET = 8

# Small tasks of the same shape as tasks.jsonl: the check compares the directory and the stdout.
CHECK = """\
[ -f d/b ] || { echo "d/b is missing"; exit 1; }
[ "$(cat "$AGENT_STDOUT")" = "hi" ] || { echo "stdout differs"; exit 1; }
"""


def task(task_id: str, reference: str = "cp d/a d/b; cat d/a", **extra: str) -> dict[str, str]:
    row = {
        "id": task_id,
        "instruction": f"copy d/a to d/b and print it ({task_id})",
        "setup": "mkdir d && echo hi > d/a",
        "check": CHECK,
        "reference_solution": reference,
    }
    return row | extra


def write_tasks(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def subset(tmp_path: Path, count: int = SUBSET) -> Path:
    lines = REAL_TASKS.read_text().splitlines()[:count]
    path = tmp_path / "subset.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    code = main([*argv, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else {}, captured.err


# --- the real task file ----------------------------------------------------------------------


def test_every_real_task_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    code, doc, err = run_json(capsys, "--validate", "--jobs", "8")
    assert code == 0, doc["summary"]
    assert doc["summary"]["tasks"] == 66
    assert doc["summary"]["valid"] == 66
    assert doc["summary"]["invalid"] == []
    assert "[66/66]" in err


def test_oracle_and_noop_through_the_real_cli(tmp_path: Path) -> None:
    tasks = subset(tmp_path)
    scores = {}
    for model in ("oracle", "noop"):
        argv = ["--tasks", str(tasks), "--model", model, "--jobs", "2", "--json"]
        done = subprocess.run(
            [sys.executable, "-m", "workflow_agent.eval", *argv],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        doc = json.loads(done.stdout)
        assert doc["model"] == model
        assert "harness self-test" in doc["self_test"]
        assert "harness self-test" in done.stderr
        assert len(doc["results"]) == SUBSET
        for row in doc["results"]:
            assert {"task_id", "passed", "language", "safety", "input_tokens", "output_tokens"} <= set(row)
            assert {"cost_usd", "seconds", "failure_class", "error", "run_status", "sandbox"} <= set(row)
            assert row["language"] == "bash"
            assert row["safety"] == "allow"
            assert row["input_tokens"] > 0
            assert row["output_tokens"] > 0
            assert row["cost_usd"] == 0.0
        scores[model] = doc["summary"]["pass@1"]
        if model == "noop":
            assert {row["failure_class"] for row in doc["results"]} == {"check_failed"}
    assert scores == {"oracle": 1.0, "noop": 0.0}


# --- attempts in process ---------------------------------------------------------------------


def test_oracle_in_process_with_repeats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tasks = write_tasks(tmp_path / "t.jsonl", [task("one"), task("two"), task("bad", reference="true")])
    code, doc, err = run_json(capsys, "--tasks", str(tasks), "--model", "oracle", "--repeat", "2")
    assert code == 0
    summary = doc["summary"]
    assert summary["attempts"] == 6
    assert summary["pass@1"] == pytest.approx(2 / 3)
    assert summary["pass@k"] == {"1": pytest.approx(2 / 3), "2": pytest.approx(2 / 3)}
    assert summary["failure_classes"] == {"check_failed": 2}
    assert summary["cost_usd"] == 0.0
    rows = {(r["task_id"], r["attempt"]): r for r in doc["results"]}
    assert rows["one", 2]["passed"] is True
    assert rows["one", 1]["sandbox"] in ("bwrap", "landlock", "rlimits")
    assert rows["bad", 1]["error"] == "check: d/b is missing"
    assert "[6/6]" in err


def test_text_report_and_the_registry_test_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tasks = write_tasks(tmp_path / "t.jsonl", [task("one")])
    assert main(["--tasks", str(tasks), "--model", "test", "--sandbox", "rlimits"]) == 0
    out = capsys.readouterr().out
    assert "teach evaluation: test" in out
    assert "pass@1 0.0% (1 tasks)" in out
    assert "failures: check_failed 1" in out
    assert "self-test" not in out


def test_a_failed_run_keeps_its_failure_class(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [task("crash", reference="echo 'No such file or directory' >&2; exit 3")]
    code, doc, _ = run_json(
        capsys, "--tasks", str(write_tasks(tmp_path / "t.jsonl", rows)), "--model", "oracle"
    )
    assert code == 0
    row = doc["results"][0]
    assert row["run_status"] == "failed"
    assert row["failure_class"] not in (None, "check_failed")
    assert "exited with code 3" in row["error"]


def test_a_run_that_fails_but_does_the_task_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [task("late-exit", reference="cp d/a d/b; cat d/a; exit 1")]
    code, doc, _ = run_json(
        capsys, "--tasks", str(write_tasks(tmp_path / "t.jsonl", rows)), "--model", "oracle"
    )
    assert code == 0
    row = doc["results"][0]
    assert (row["passed"], row["run_status"], row["failure_class"], row["error"]) == (
        True,
        "failed",
        None,
        None,
    )


def test_a_denied_script_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [task("evil", reference="rm -rf --no-preserve-root /")]
    code, doc, _ = run_json(
        capsys, "--tasks", str(write_tasks(tmp_path / "t.jsonl", rows)), "--model", "oracle"
    )
    assert code == 0
    row = doc["results"][0]
    assert (row["passed"], row["failure_class"], row["safety"]) == (False, "refused", "deny")
    assert row["input_tokens"] > 0  # the refused attempts still cost tokens
    assert row["language"] is None


def one_attempt(tmp_path: Path, model: str = "oracle", **fields: str) -> AttemptResult:
    row = task("one", **fields)
    return run_attempt(Job(Task(**row), 1, model, "rlimits", str(tmp_path / "home")))


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (SafetyRefusal("no"), ("refused", "deny")),
        (ValidationError("bad script"), ("teach_error", None)),
        (RuntimeError("boom"), ("teach_error", None)),
    ],
)
def test_teach_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception, expected: tuple[str, str | None]
) -> None:
    def failing(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr("workflow_agent.app.teach.teach", failing)
    result = one_attempt(tmp_path)
    assert (result.failure_class, result.safety) == expected
    assert result.error
    assert not result.passed


def test_a_provider_failure_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(*args: object, **kwargs: object) -> None:
        raise RuntimeError("odd failure")

    monkeypatch.setattr("workflow_agent.app.teach.teach", failing)
    result = one_attempt(tmp_path, model="test")
    assert (result.failure_class, result.error, result.model) == (
        "teach_error",
        "RuntimeError: odd failure",
        "test",
    )


@pytest.mark.parametrize(
    ("error", "expected"), [(SafetyRefusal("gate"), "refused"), (ValidationError("no sandbox"), "run_error")]
)
def test_run_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception, expected: str
) -> None:
    def failing(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr("workflow_agent.app.run.run_workflow", failing)
    result = one_attempt(tmp_path)
    assert (result.failure_class, result.error, result.language) == (expected, error.args[0], "bash")


def test_harness_errors_and_setup_timeouts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness, "SHELL_TIMEOUT_S", 0.3)
    result = one_attempt(tmp_path, setup="sleep 30 & wait")
    assert (result.failure_class, result.error) == ("setup_error", "the task's setup timed out")

    def broken(job: Job) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(harness, "build_model", broken)
    result = one_attempt(tmp_path)
    assert (result.failure_class, result.error) == ("harness_error", "OSError: disk full")


def test_unknown_prices_make_the_cost_unknown(tmp_path: Path) -> None:
    from workflow_agent.agents.schemas import CallRecord

    result = AttemptResult("x", 1)
    harness._count([CallRecord("generate", "m", 10, 5, 0.1)], "openai:some-new-model", False, result)
    assert (result.input_tokens, result.output_tokens, result.cost_usd) == (10, 5, None)
    harness._count([CallRecord("generate", "m", 10**6, 0, 0.1)], "openai:gpt-4o-mini", False, result)
    assert result.cost_usd == pytest.approx(0.15)
    assert summarize([result, AttemptResult("y", 1, cost_usd=None)], 1, 1.0)["cost_usd"] is None


def test_last_safety_event() -> None:
    assert harness._last_safety(
        ["writing", "safety check: ask (1 finding)", "safety check: deny (2 findings)"]
    ) == ("deny")
    assert harness._last_safety(["writing the script"]) is None


# --- the scripted models ---------------------------------------------------------------------


def test_scripted_models_answer_text_requests_and_unknown_tasks() -> None:
    from pydantic_ai import Agent

    from workflow_agent.agents.coder import Coder

    tasks = [Task(**task("one")), Task(**task("one-longer"))]
    assert "(oracle model)" in Agent(oracle_model(tasks)).run_sync("hello").output
    generated = Coder(oracle_model(tasks)).generate("copy d/a to d/b and print it (one-longer)")
    assert generated.code == "#!/usr/bin/env bash\ncp d/a d/b; cat d/a\n"
    assert "one-longer" in generated.summary
    generated = Coder(oracle_model(tasks)).generate("something else entirely")
    assert "no task matches" in generated.code
    assert Coder(noop_model()).generate("anything").code == "#!/usr/bin/env bash\ntrue\n"
    assert prompt_of([]) == ""


# --- scores ----------------------------------------------------------------------------------


def test_pass_at_k() -> None:
    assert pass_at_k(5, 0, 1) == 0.0
    assert pass_at_k(5, 5, 3) == 1.0
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)  # 1 - C(3,2)/C(4,2)
    assert pass_at_k(4, 3, 2) == 1.0
    with pytest.raises(ValueError, match="pass@k"):
        pass_at_k(2, 3, 1)


# --- bad input and validation failures -------------------------------------------------------


def test_a_malformed_line_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(task("a")) + "\n\n" + '{"id": "b", broken\n')
    assert main(["--tasks", str(path), "--model", "noop"]) == 2
    assert "line 3: not valid JSON" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1, 2]\n", "line 1: expected a JSON object"),
        ('{"id": "x"}\n', "line 1: missing or non-text field(s): instruction, setup"),
        (json.dumps(task("a")) + "\n" + json.dumps(task("a")) + "\n", "line 2: duplicate task id 'a'"),
        ("\n", "holds no tasks"),
        (b"\xff\xfe", "cannot read task file"),
    ],
)
def test_bad_task_files(tmp_path: Path, content: str | bytes, message: str) -> None:
    path = tmp_path / "t.jsonl"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(TaskFileError, match=re.escape(message)):
        load_tasks(path)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--tasks", "/nonexistent/tasks.jsonl"], "/nonexistent/tasks.jsonl not found"),
        (["--limit", "0"], "--limit must be at least 1"),
        (["--model", "nonsense:x"], "unknown model"),
        (["--model", "anthropic:claude-haiku-4-5"], "ANTHROPIC_API_KEY"),  # no key in the test environment
        (["--sandbox", "chroot"], "invalid choice"),
    ],
)
def test_bad_input_exits_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--tasks", str(REAL_TASKS), *argv]) == 2
    assert message in capsys.readouterr().err


def test_missing_file_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--tasks", "/nonexistent/tasks.jsonl", "--validate"]) == 2
    assert "/nonexistent/tasks.jsonl not found" in capsys.readouterr().err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "oracle" in capsys.readouterr().out


def test_validation_names_invalid_tasks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [
        task("good"),
        task("wrong-reference", reference="echo hi"),
        task("lenient-check", check="exit 0"),
        task("slow", reference="sleep 30"),
    ]
    path = write_tasks(tmp_path / "t.jsonl", rows)
    code, doc, _ = run_json(capsys, "--tasks", str(path), "--validate", "--jobs", "4", "--limit", "3")
    assert code == 1
    assert doc["summary"]["invalid"] == ["lenient-check", "wrong-reference"]
    problems = {r["task_id"]: r["problems"] for r in doc["results"]}
    assert problems["wrong-reference"] == ["the reference solution fails the check (d/b is missing)"]
    assert problems["lenient-check"] == ["the check passes when nothing is done"]
    # Text output, one line per task; a reference that hangs is cut off.
    path = write_tasks(tmp_path / "t.jsonl", rows[1:2] + rows[3:])
    monkeypatched = pytest.MonkeyPatch()
    with monkeypatched.context() as patch:
        patch.setattr(harness, "SHELL_TIMEOUT_S", 0.5)
        assert main(["--tasks", str(path), "--validate"]) == 1
    out = capsys.readouterr().out
    assert "INVALID  wrong-reference: the reference solution fails the check" in out
    assert "INVALID  slow: the reference solution timed out" in out
    assert "0/2 tasks valid" in out


def test_a_failing_worker_stops_the_pool(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def broken(task: Task) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("workflow_agent.eval.cli.validate_task", broken)
    path = write_tasks(tmp_path / "t.jsonl", [task("a"), task("b"), task("c")])
    assert main(["--tasks", str(path), "--validate", "--jobs", "2"]) == 130


def test_validation_setup_starts_clear_of_a_minute_boundary(monkeypatch: pytest.MonkeyPatch) -> None:
    from workflow_agent.eval import harness

    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    monkeypatch.setattr(time, "time", lambda: 1_000_020.0 + 58.5 - 1_000_020.0 % 60)
    harness._clear_of_minute_end()
    assert slept == [pytest.approx(1.55)], "at :58.5 it waits into the next minute"
    slept.clear()
    monkeypatch.setattr(time, "time", lambda: 1_000_020.0 + 10.0 - 1_000_020.0 % 60)
    harness._clear_of_minute_end()
    assert slept == [], "well inside a minute it does not wait"
