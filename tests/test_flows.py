"""The teach and improve flows with scripted collaborators: what is saved, shown, refused and learned."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from workflow_agent.agents.schemas import FailureAnalysis, GeneratedWorkflow, PatternReport
from workflow_agent.app.gate import Approvals, code_digest
from workflow_agent.app.improve import accept, propose_fix, propose_improvement, trial_run
from workflow_agent.app.teach import Choice, Unattended, teach
from workflow_agent.core.errors import AlreadyExistsError, Cancelled, SafetyRefusal, ValidationError
from workflow_agent.core.settings import load_settings
from workflow_agent.core.types import (
    ExecutionRecord,
    FailureClass,
    FailurePattern,
    Language,
    Permissions,
    RunStatus,
    Workflow,
    WorkflowConfig,
)
from workflow_agent.execution.safety import Verdict
from workflow_agent.storage.history import HistoryStore
from workflow_agent.storage.workflows import WorkflowStore

GOOD = GeneratedWorkflow(
    language=Language.BASH, code="set -euo pipefail\necho hello\n", summary="Says hello."
)
DENIED = GeneratedWorkflow(language=Language.BASH, code='rm -rf "$HOME"/*\n', summary="Cleans up.")
ASKS = GeneratedWorkflow(language=Language.BASH, code="a=ec; b=ho; $a$b hi\n", summary="Obfuscated echo.")


@dataclass
class ScriptedCoder:
    answers: list[GeneratedWorkflow]
    calls: list[dict[str, object]] = field(default_factory=list)

    def generate(
        self,
        description: str,
        *,
        memory: str = "",
        feedback: str | None = None,
        previous: GeneratedWorkflow | None = None,
        on_event: Callable[[str], None] | None = None,
    ) -> GeneratedWorkflow:
        self.calls.append({"description": description, "feedback": feedback, "previous": previous})
        return self.answers.pop(0)

    def improve(
        self,
        workflow: Workflow,
        *,
        analysis: str,
        memory: str = "",
        on_event: Callable[[str], None] | None = None,
    ) -> GeneratedWorkflow:
        self.calls.append({"analysis": analysis, "memory": memory})
        return self.answers.pop(0)


@dataclass
class ScriptedUI:
    choices: list[Choice]
    edits: list[str] = field(default_factory=list)
    feedbacks: list[str] = field(default_factory=list)
    shown: list[tuple[GeneratedWorkflow, Verdict]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    interactive: bool = True

    def progress(self, message: str) -> None:
        self.messages.append(message)

    def show(self, candidate: GeneratedWorkflow, verdict: Verdict) -> None:
        self.shown.append((candidate, verdict))

    def choose(self, verdict: Verdict) -> Choice:
        return self.choices.pop(0)

    def feedback(self) -> str:
        return self.feedbacks.pop(0)

    def edit(self, candidate: GeneratedWorkflow) -> str:
        return self.edits.pop(0)


@dataclass
class ScriptedReviewer:
    report: PatternReport = field(default_factory=lambda: PatternReport(summary="The host is often down."))
    seen: list[object] = field(default_factory=list)

    def analyze_failure(
        self, execution: ExecutionRecord, code: str, recent: list[ExecutionRecord]
    ) -> FailureAnalysis:
        self.seen.append(execution)
        return FailureAnalysis(
            failure_class=FailureClass.NETWORK,
            root_cause="the server refused",
            suggested_fix="retry",
            confidence=0.8,
        )

    def identify_patterns(
        self, workflow: Workflow, patterns: list[FailurePattern], recent: list[ExecutionRecord]
    ) -> PatternReport:
        self.seen.append(patterns)
        return self.report


@pytest.fixture
def store(workflow_home: Path) -> WorkflowStore:
    return WorkflowStore(workflow_home)


def test_approve_saves_version_one_with_memory(store: WorkflowStore) -> None:
    coder = ScriptedCoder([GOOD])
    ui = ScriptedUI([Choice.APPROVE])
    taught = teach(store, "hello", "say hello", coder=coder, ui=ui)
    assert taught.workflow.config.version == 1
    assert store.load("hello").code == GOOD.code
    memory = store.memory("hello")
    assert "Taught from: say hello" in memory
    assert "Says hello." in memory
    assert ui.shown[0][1].decision.value == "allow"


def test_regenerate_passes_feedback_and_previous(store: WorkflowStore) -> None:
    better = GOOD.model_copy(update={"code": "echo hello world\n"})
    coder = ScriptedCoder([GOOD, better])
    ui = ScriptedUI([Choice.REGENERATE, Choice.APPROVE], feedbacks=["say world too"])
    teach(store, "hello", "say hello", coder=coder, ui=ui)
    assert coder.calls[1]["feedback"] == "say world too"
    assert coder.calls[1]["previous"] == GOOD
    assert store.load("hello").code == "echo hello world\n"


def test_edit_then_approve_saves_the_edit(store: WorkflowStore) -> None:
    ui = ScriptedUI([Choice.EDIT, Choice.APPROVE], edits=["echo edited\n"])
    teach(store, "hello", "say hello", coder=ScriptedCoder([GOOD]), ui=ui)
    assert store.load("hello").code == "echo edited\n"


def test_an_edit_with_a_syntax_error_cannot_be_approved(store: WorkflowStore) -> None:
    ui = ScriptedUI(
        [Choice.EDIT, Choice.APPROVE, Choice.EDIT, Choice.APPROVE], edits=["if then\n", "echo ok\n"]
    )
    teach(store, "hello", "say hello", coder=ScriptedCoder([GOOD]), ui=ui)
    assert any("syntax error" in m for m in ui.messages)
    assert store.load("hello").code == "echo ok\n"


def test_cancel_and_deny_save_nothing(store: WorkflowStore) -> None:
    with pytest.raises(Cancelled):
        teach(store, "a", "x", coder=ScriptedCoder([GOOD]), ui=ScriptedUI([Choice.CANCEL]))
    with pytest.raises(SafetyRefusal, match="denied"):
        teach(store, "b", "clean my home", coder=ScriptedCoder([DENIED]), ui=ScriptedUI([Choice.APPROVE]))
    with pytest.raises(SafetyRefusal, match="denied"):
        teach(store, "c", "clean my home", coder=ScriptedCoder([DENIED]), ui=Unattended())
    assert store.names() == []


def test_unattended_asks_need_yes_and_are_then_remembered(store: WorkflowStore) -> None:
    with pytest.raises(SafetyRefusal, match="needs your approval"):
        teach(store, "obf", "echo hi", coder=ScriptedCoder([ASKS]), ui=Unattended(yes=False))
    assert store.names() == []
    taught = teach(store, "obf", "echo hi", coder=ScriptedCoder([ASKS]), ui=Unattended(yes=True))
    assert taught.verdict.decision.value == "ask"
    assert Approvals(store.folder("obf")).approved(code_digest(ASKS.code))


def test_bad_requests_are_refused_before_any_model_call(store: WorkflowStore) -> None:
    coder = ScriptedCoder([GOOD, GOOD])
    with pytest.raises(ValidationError, match="describe the task"):
        teach(store, "x", "  ", coder=coder, ui=Unattended())
    with pytest.raises(ValidationError, match="invalid workflow name"):
        teach(store, "Bad Name", "x", coder=coder, ui=Unattended())
    teach(store, "x", "say hi", coder=coder, ui=Unattended())
    with pytest.raises(AlreadyExistsError):
        teach(store, "x", "say hi", coder=coder, ui=Unattended())
    assert len(coder.calls) == 1
    broken = GOOD.model_copy(update={"code": "if then\n"})
    with pytest.raises(ValidationError, match="syntax error"):
        teach(store, "y", "x", coder=ScriptedCoder([broken]), ui=Unattended())


def failed_runs(history: HistoryStore, name: str, count: int) -> list[int]:
    rows = []
    for _ in range(count):
        row = history.start_execution(name, version=1)
        history.finish_execution(
            row, status=RunStatus.FAILED, exit_code=7, duration=0.1, stdout="", failure_class=FailureClass.NETWORK,
            stderr="curl: (7) Failed to connect to api port 443: Connection refused",
            error_message="exited with code 7",
        )  # fmt: skip
        rows.append(row)
    return rows


def test_improve_needs_failures_or_feedback(store: WorkflowStore, workflow_home: Path) -> None:
    store.create(WorkflowConfig(name="w"), "echo hi\n")
    with HistoryStore(workflow_home / "history.db") as history:
        with pytest.raises(ValidationError, match="no failed runs"):
            propose_improvement(store, history, "w", coder=ScriptedCoder([]), reviewer=ScriptedReviewer())
        proposal = propose_improvement(
            store,
            history,
            "w",
            coder=ScriptedCoder([GOOD]),
            reviewer=ScriptedReviewer(),
            feedback="be louder",
        )
    assert "The user asks: be louder" in proposal.reasons
    assert "+echo hello" in proposal.diff


def test_improve_from_patterns_then_accept_and_rollback(store: WorkflowStore, workflow_home: Path) -> None:
    store.create(WorkflowConfig(name="w"), "curl http://localhost:9/\n")
    report = PatternReport(
        summary="Connection refused every time.", learned_facts=["api.example is down at night"]
    )
    reviewer = ScriptedReviewer(report)
    fixed = GOOD.model_copy(update={"permissions": Permissions(network=True)})
    coder = ScriptedCoder([fixed])
    with HistoryStore(workflow_home / "history.db") as history:
        failed_runs(history, "w", 3)
        proposal = propose_improvement(store, history, "w", coder=coder, reviewer=reviewer)
    assert "Failure class network: 3 time(s)" in str(coder.calls[0]["analysis"])
    assert "Connection refused every time." in proposal.reasons
    saved = accept(store, proposal)
    assert saved.config.version == 2
    assert saved.config.permissions.network
    assert "api.example is down at night" in store.memory("w")
    assert store.rollback("w", 1).code == "curl http://localhost:9/\n"


def test_denied_proposals_are_neither_run_nor_saved(store: WorkflowStore, workflow_home: Path) -> None:
    store.create(WorkflowConfig(name="w"), "echo hi\n")
    settings = load_settings({"WORKFLOW_HOME": str(workflow_home)})
    with HistoryStore(workflow_home / "history.db") as history:
        proposal = propose_improvement(
            store,
            history,
            "w",
            coder=ScriptedCoder([DENIED]),
            reviewer=ScriptedReviewer(),
            feedback="clean up",
        )
        with pytest.raises(SafetyRefusal):
            trial_run(proposal, history, settings)
    with pytest.raises(SafetyRefusal):
        accept(store, proposal)
    assert store.load_config("w").version == 1


def test_trial_run_runs_the_candidate_in_the_sandbox_without_saving(
    store: WorkflowStore, workflow_home: Path, workdir: Path
) -> None:
    store.create(WorkflowConfig(name="w"), "exit 3\n")
    settings = load_settings({"WORKFLOW_HOME": str(workflow_home)})
    with HistoryStore(workflow_home / "history.db") as history:
        proposal = propose_improvement(
            store, history, "w", coder=ScriptedCoder([GOOD]), reviewer=ScriptedReviewer(), feedback="succeed"
        )
        outcome = trial_run(proposal, history, settings)
        record = history.get(outcome.record.id)
    assert record.status is RunStatus.SUCCESS
    assert record.trigger == "trial"
    assert record.stdout == "hello\n"
    assert store.load("w").code == "exit 3\n"
    assert not any((workflow_home / ".trials").iterdir())


def test_fix_after_a_failed_run(store: WorkflowStore, workflow_home: Path) -> None:
    store.create(WorkflowConfig(name="w"), "curl http://localhost:9/\n")
    reviewer = ScriptedReviewer()
    coder = ScriptedCoder([GOOD])
    with HistoryStore(workflow_home / "history.db") as history:
        [row] = failed_runs(history, "w", 1)
        analysis, proposal = propose_fix(store, history, history.get(row), coder=coder, reviewer=reviewer)
    assert analysis.failure_class is FailureClass.NETWORK
    assert "Root cause: the server refused" in str(coder.calls[0]["analysis"])
    assert proposal.failed_run is not None
    saved = accept(store, proposal)
    assert saved.config.version == 2
    assert "the server refused" in store.memory("w")
