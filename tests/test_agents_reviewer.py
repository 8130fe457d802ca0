"""The reviewer: failure analysis and pattern reports with scripted models; run comparison without one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, ToolCallPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.test import TestModel

from workflow_agent.agents.reviewer import (
    DISAGREE_CONFIDENCE,
    FACT_LIMIT,
    Reviewer,
    ReviewerError,
    clean_facts,
    compare_executions,
    diagnose,
    reconcile,
)
from workflow_agent.agents.runner import load_prompt
from workflow_agent.agents.schemas import CallRecord, FailureAnalysis, PatternReport
from workflow_agent.core.errors import EXIT_MODEL
from workflow_agent.core.types import (
    ExecutionRecord,
    FailureClass,
    FailurePattern,
    Language,
    RunStatus,
    Workflow,
    WorkflowConfig,
)
from workflow_agent.storage.history import HistoryStore

CODE = """#!/usr/bin/env bash
set -euo pipefail
curl -fsS "${URL:-https://example.com/feed}" -o feed.xml
echo "fetched"
"""

NOW = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)


def record(run_id: int, status: RunStatus = RunStatus.FAILED, **fields: Any) -> ExecutionRecord:
    values: dict[str, Any] = {
        "id": run_id,
        "workflow_name": "feed",
        "workflow_version": 1,
        "status": status,
        "started_at": NOW + timedelta(minutes=run_id),
        "duration": 1.5,
        "exit_code": 0 if status is RunStatus.SUCCESS else 7,
        **fields,
    }
    return ExecutionRecord(**values)


class Capture:
    """A FunctionModel answering with ``args`` through the output tool, keeping the prompts it got."""

    def __init__(self, args: dict[str, Any]) -> None:
        self.args = args
        self.prompts: list[str] = []
        self.instructions: list[str] = []

    def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        first = messages[0]
        assert isinstance(first, ModelRequest)
        self.prompts.append("\n".join(str(p.content) for p in first.parts if isinstance(p, UserPromptPart)))
        self.instructions.append(info.instructions or "")
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, self.args)])

    @property
    def model(self) -> FunctionModel:
        return FunctionModel(self, model_name="reviewer-script")


NETWORK_ANALYSIS = {
    "failure_class": "network",
    "root_cause": "curl could not connect to example.com (connection refused).",
    "suggested_fix": "Retry the curl call 3 times with backoff: curl --retry 3 --retry-delay 5.",
    "confidence": 0.9,
}


# -- analyze_failure ------------------------------------------------------------------------------


def test_analyze_failure_returns_the_models_analysis_and_reports_the_call() -> None:
    model = Capture(NETWORK_ANALYSIS)
    calls: list[CallRecord] = []
    failed = record(
        5,
        stderr="  % Total\ncurl: (7) Failed to connect to example.com port 443: Connection refused\n",
        stdout="starting\n",
        error_message="exit status 7",
    )
    recent = [record(3, RunStatus.SUCCESS), record(4, stderr="curl: (6) Could not resolve host"), failed]
    analysis = Reviewer(model.model, on_call=calls.append).analyze_failure(failed, CODE, recent)
    assert analysis == FailureAnalysis.model_validate(NETWORK_ANALYSIS)
    prompt = model.prompts[0]
    assert "curl: (7) Failed to connect to example.com port 443: Connection refused" in prompt
    assert "Deterministic classifier: network" in prompt
    assert "exit code 7" in prompt and "1.5 s" in prompt and "exit status 7" in prompt
    assert 'curl -fsS "${URL:-https://example.com/feed}"' in prompt
    # Other runs are listed newest first; the analysed run is not listed twice.
    assert prompt.index("- #4") < prompt.index("- #3")
    assert "- #5" not in prompt
    assert 'Could not resolve host"' in prompt
    assert "root cause" in model.instructions[0]
    assert calls[0].purpose == "analyze_failure" and calls[0].model == "reviewer-script"
    assert calls[0].input_tokens > 0


def test_a_huge_stderr_is_cut_to_its_tail_and_the_prompt_stays_bounded() -> None:
    model = Capture(NETWORK_ANALYSIS)
    stderr = "FIRST LINE\n" + "".join(f"noise line {i} " * 8 + "\n" for i in range(20_000))
    stderr += "curl: (7) Failed to connect to example.com port 443: Connection refused\n"
    huge_code = "# comment\n" * 50_000
    failed = record(9, stderr=stderr, stdout="x" * 1_000_000, error_message="e" * 50_000)
    recent = [record(i, stderr="y" * 100_000) for i in range(1, 40)]
    Reviewer(model.model).analyze_failure(failed, huge_code, recent)
    prompt = model.prompts[0]
    assert len(stderr) > 1_000_000
    assert "FIRST LINE" not in prompt
    assert "Connection refused" in prompt
    assert "characters cut" in prompt
    assert len(prompt.encode()) + len(model.instructions[0].encode()) <= 24 * 1024
    assert prompt.count("\n- #") == 10


def test_timeout_runs_name_the_runner_time_limit() -> None:
    model = Capture({**NETWORK_ANALYSIS, "confidence": 0.95})
    timed_out = record(2, RunStatus.TIMEOUT, exit_code=None, duration=None, stderr="")
    analysis = Reviewer(model.model).analyze_failure(timed_out, CODE, [])
    assert "Deterministic classifier: timeout" in model.prompts[0]
    assert "no exit code" in model.prompts[0] and "unknown duration" in model.prompts[0]
    assert "Recent runs: none." in model.prompts[0]
    # The model contradicted the runner's own time-out: its class stays, its confidence drops.
    assert analysis.failure_class is FailureClass.NETWORK
    assert analysis.confidence == DISAGREE_CONFIDENCE


def test_reconcile_caps_confidence_only_against_strong_evidence() -> None:
    network = diagnose(record(1, stderr="curl: (7) Failed to connect to host: Connection refused"))
    assert network.failure_class is FailureClass.NETWORK and network.evidence is not None
    vague = diagnose(record(1, stderr="something odd happened", exit_code=3))
    assert vague.failure_class is FailureClass.OTHER
    disagree = FailureAnalysis(
        failure_class=FailureClass.AUTH, root_cause="r", suggested_fix="f", confidence=0.8
    )
    agree = disagree.model_copy(update={"failure_class": FailureClass.NETWORK})
    assert reconcile(disagree, network, timed_out=False).confidence == DISAGREE_CONFIDENCE
    assert reconcile(agree, network, timed_out=False).confidence == 0.8
    assert reconcile(disagree, vague, timed_out=False).confidence == 0.8
    low = disagree.model_copy(update={"confidence": 0.2})
    assert reconcile(low, network, timed_out=False).confidence == 0.2


def test_a_model_that_cannot_answer_raises_reviewer_error_with_the_deterministic_reading() -> None:
    model = Capture(
        {"failure_class": "not-a-class", "root_cause": "r", "suggested_fix": "f", "confidence": 2}
    )
    calls: list[CallRecord] = []
    failed = record(5, stderr="curl: (7) Failed to connect to example.com port 443: Connection refused")
    with pytest.raises(ReviewerError) as caught:
        Reviewer(model.model, on_call=calls.append).analyze_failure(failed, CODE, [])
    assert caught.value.exit_code == EXIT_MODEL
    assert "could not analyse run #5" in caught.value.message
    assert caught.value.hint is not None and "network" in caught.value.hint
    assert len(model.prompts) == 3  # one answer and two retries
    assert calls[0].requests == 3


def test_test_model_fills_the_schema() -> None:
    analysis = Reviewer(TestModel()).analyze_failure(record(1, stderr="boom"), CODE, [])
    assert isinstance(analysis, FailureAnalysis)


# -- identify_patterns ----------------------------------------------------------------------------


def feed_workflow() -> Workflow:
    config = WorkflowConfig(name="feed", description="fetch the feed", language=Language.BASH, version=3)
    return Workflow(config=config, code=CODE)


def test_identify_patterns_returns_clean_learned_facts() -> None:
    long_fact = "The feed server " + "is slow and " * 40 + "times out."
    model = Capture(
        {
            "summary": "Fails one night in three, always on the network.",
            "systemic_issues": ["connection refused between 02:00 and 02:15 (5 of 12 runs)"],
            "improvements": ["retry with backoff"],
            "learned_facts": [
                "The feed server restarts at 02:00 UTC.",
                "  the feed server restarts at 02:00 UTC. ",
                "",
                long_fact,
            ],
        }
    )
    calls: list[CallRecord] = []
    patterns = [
        FailurePattern(pattern_type="timeout", count=1, last_seen=NOW, error_messages=["timed out"]),
        FailurePattern(
            pattern_type="network",
            count=5,
            last_seen=NOW,
            error_messages=["curl: (7) Failed to connect", "curl: (7) Connection refused"],
            suggested_fixes=["retry"],
        ),
    ]
    recent = [record(i, RunStatus.SUCCESS if i % 3 else RunStatus.FAILED) for i in range(1, 13)]
    report = Reviewer(model.model, on_call=calls.append).identify_patterns(feed_workflow(), patterns, recent)
    assert isinstance(report, PatternReport)
    assert report.learned_facts[0] == "The feed server restarts at 02:00 UTC."
    assert len(report.learned_facts) == 2
    assert all(len(f) <= FACT_LIMIT for f in report.learned_facts)
    assert report.learned_facts[1].endswith("…")
    prompt = model.prompts[0]
    assert prompt.index("- network: 5 time(s)") < prompt.index("- timeout: 1 time(s)")
    assert "curl: (7) Failed to connect" in prompt and "fixes suggested before: retry" in prompt
    assert "8 of the last 12 runs succeeded." in prompt
    assert "version 3" in prompt and "fetch the feed" in prompt
    assert "learned_facts" in model.instructions[0]
    assert calls[0].purpose == "patterns"


def test_identify_patterns_with_no_history() -> None:
    model = Capture({"summary": "No runs yet."})
    report = Reviewer(model.model).identify_patterns(feed_workflow(), [], [])
    assert report.learned_facts == []
    assert "Failure patterns: none recorded." in model.prompts[0]
    assert "Recent runs: none." in model.prompts[0]


def test_identify_patterns_failure_is_a_reviewer_error() -> None:
    model = Capture({"wrong": True})
    with pytest.raises(ReviewerError, match="could not review the history of 'feed'"):
        Reviewer(model.model).identify_patterns(feed_workflow(), [], [])


def test_clean_facts_bounds_count_and_length() -> None:
    facts = [f"fact {i}" for i in range(20)] + ["- bullet fact", "x" * 500]
    cleaned = clean_facts(facts)
    assert len(cleaned) == 8
    assert clean_facts(["- bullet fact"]) == ["bullet fact"]
    assert clean_facts(["x" * 500]) == ["x" * (FACT_LIMIT - 1) + "…"]


# -- compare_executions ---------------------------------------------------------------------------


@pytest.fixture
def runs(tmp_path: Path) -> HistoryStore:
    return HistoryStore(tmp_path / "history.db")


def finished(store: HistoryStore, version: int, status: RunStatus, **fields: Any) -> ExecutionRecord:
    run_id = store.start_execution("feed", version=version)
    values: dict[str, Any] = {"exit_code": 0, "duration": 1.0, "stdout": "", "stderr": "", **fields}
    return store.finish_execution(run_id, status=status, **values)


def test_compare_names_version_change_exit_codes_and_first_differing_line(runs: HistoryStore) -> None:
    passing = finished(runs, 1, RunStatus.SUCCESS, stdout="starting\nfetched\n", stderr="")
    failing = finished(
        runs,
        2,
        RunStatus.FAILED,
        exit_code=7,
        duration=30.0,
        stdout="starting\n",
        stderr="curl: (7) Failed to connect to example.com port 443: Connection refused\n",
        failure_class=FailureClass.NETWORK,
    )
    new_code = CODE.replace("curl -fsS", "curl -fsS --max-time 5")
    comparison = compare_executions(passing, failing, passing_code=CODE, failing_code=new_code)
    summary = comparison.summary()
    runs.close()
    assert comparison.version_changed and comparison.code_changed
    assert comparison.duration_ratio == 30.0
    assert f"Run #{passing.id} (success) compared with run #{failing.id} (failed):" in summary
    assert "Version changed: v1 → v2." in summary
    assert "Exit code: 0 → 7." in summary
    assert "Duration: 1.0 s → 30.0 s (30.0×)." in summary
    assert "Failure class: none → network." in summary
    assert "First difference in stderr, line 1: (no line) → 'curl: (7) Failed to connect" in summary
    assert "First difference in stdout, line 2: 'fetched' → (no line)." in summary
    assert "-curl -fsS" in summary and "+curl -fsS --max-time 5" in summary


def test_compare_identical_runs_says_nothing_changed(runs: HistoryStore) -> None:
    first = finished(runs, 1, RunStatus.SUCCESS, stdout="fetched\n")
    second = finished(runs, 1, RunStatus.SUCCESS, stdout="fetched  \n", duration=1.3)
    comparison = compare_executions(first, second, passing_code=CODE, failing_code=CODE)
    runs.close()
    assert comparison.code_changed is False and comparison.code_diff is None
    assert comparison.summary() == (
        f"Nothing changed between run #{first.id} and run #{second.id}: same version, exit code and output."
    )


def test_compare_same_version_with_edited_code_and_a_long_diff() -> None:
    before = "\n".join(f"echo {i}" for i in range(200))
    after = "\n".join(f"printf '%s\\n' {i}" for i in range(200))
    failing = record(2, exit_code=1, stderr="oops", duration=0.2)
    comparison = compare_executions(
        record(1, RunStatus.SUCCESS, duration=0.0), failing, passing_code=before, failing_code=after
    )
    summary = comparison.summary()
    assert "Same version (v1) but the code differs." in summary
    assert "more diff lines]" in summary
    assert comparison.duration_ratio is None
    assert "Duration" not in summary
    # No stored class: the failing run is classified on the spot.
    assert comparison.failing_class is FailureClass.OTHER
    assert compare_executions(record(1), record(2)).code_changed is None


def test_prompts_ship_with_the_package() -> None:
    for name in ("coder", "explain", "failure", "patterns"):
        assert len(load_prompt(name)) > 200
