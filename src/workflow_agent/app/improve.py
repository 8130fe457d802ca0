"""The improve flow: history → reviewer → coder → diff → evidence → a new version on approval.

Also the fix offered after a failed run. Every proposal is checked by the safety analysis; a
trial run of the candidate happens in the sandbox and is recorded (trigger "trial"); nothing is
saved without approval, and `workflow rollback` undoes what was saved.
"""

from __future__ import annotations

import difflib
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from workflow_agent.agents.schemas import FailureAnalysis, GeneratedWorkflow, PatternReport
from workflow_agent.app.gate import Approvals, code_digest
from workflow_agent.app.run import RunHooks, RunOutcome, run_workflow
from workflow_agent.app.wftests import Status, SuiteResult, case_files, run_suite, tests_folder
from workflow_agent.core.errors import SafetyRefusal, ValidationError
from workflow_agent.core.settings import Settings
from workflow_agent.core.types import ExecutionRecord, FailurePattern, Workflow
from workflow_agent.execution.safety import Decision, Verdict, analyze
from workflow_agent.execution.sandbox import Isolation
from workflow_agent.storage.history import HistoryStore
from workflow_agent.storage.workflows import WorkflowStore

RECENT_RUNS = 20
TRIALS_DIR = ".trials"


class Improver(Protocol):
    def improve(
        self,
        workflow: Workflow,
        *,
        analysis: str,
        memory: str = "",
        on_event: Callable[[str], None] | None = None,
    ) -> GeneratedWorkflow: ...


class Reviewing(Protocol):
    def analyze_failure(
        self, execution: ExecutionRecord, code: str, recent: list[ExecutionRecord]
    ) -> FailureAnalysis: ...

    def identify_patterns(
        self, workflow: Workflow, patterns: list[FailurePattern], recent: list[ExecutionRecord]
    ) -> PatternReport: ...


@dataclass(frozen=True)
class Proposal:
    """A candidate new version, with everything the person needs to judge it."""

    current: Workflow
    candidate: GeneratedWorkflow
    verdict: Verdict
    diff: str
    reasons: str  # what the change answers: patterns, a failure analysis, feedback
    learned: tuple[str, ...] = ()
    failed_run: ExecutionRecord | None = None


def _diff(current: Workflow, candidate: GeneratedWorkflow) -> str:
    lines = difflib.unified_diff(
        current.code.splitlines(keepends=True),
        candidate.code.splitlines(keepends=True),
        fromfile=f"{current.name} v{current.config.version}",
        tofile=f"{current.name} (proposed)",
    )
    return "".join(lines)


def _pattern_text(patterns: list[FailurePattern], report: PatternReport) -> str:
    parts = [f"Reviewer summary: {report.summary}"]
    parts += [f"- {issue}" for issue in report.systemic_issues]
    parts += [f"Improvement: {item}" for item in report.improvements]
    for pattern in patterns:
        samples = "; ".join(pattern.error_messages[:3])
        parts.append(f"Failure class {pattern.pattern_type}: {pattern.count} time(s), e.g. {samples}")
    return "\n".join(parts)


def propose_improvement(
    store: WorkflowStore,
    history: HistoryStore,
    name: str,
    *,
    coder: Improver,
    reviewer: Reviewing,
    feedback: str | None = None,
    on_event: Callable[[str], None] | None = None,
) -> Proposal:
    """Ask the reviewer what keeps going wrong, and the coder for a version that fixes it."""
    workflow = store.load(name)
    patterns = history.get_failure_patterns(name)
    if not patterns and not feedback:
        raise ValidationError(
            f"{name} has no failed runs to learn from",
            hint=f'Say what to change: workflow improve {name} --feedback "…"',
        )
    recent = history.query(name, limit=RECENT_RUNS)
    reasons: list[str] = []
    learned: tuple[str, ...] = ()
    if patterns:
        if on_event:
            on_event(f"reviewing {sum(p.count for p in patterns)} failed run(s)")
        report = reviewer.identify_patterns(workflow, patterns, recent)
        reasons.append(_pattern_text(patterns, report))
        learned = tuple(fact for fact in report.learned_facts if fact.strip())
    if feedback:
        reasons.append(f"The user asks: {feedback}")
    analysis = "\n\n".join(reasons)
    if on_event:
        on_event("asking the model for a better version")
    candidate = coder.improve(workflow, analysis=analysis, memory=store.memory(name), on_event=on_event)
    verdict = analyze(candidate.code, candidate.language)
    return Proposal(workflow, candidate, verdict, _diff(workflow, candidate), analysis, learned)


def propose_fix(
    store: WorkflowStore,
    history: HistoryStore,
    execution: ExecutionRecord,
    *,
    coder: Improver,
    reviewer: Reviewing,
    on_event: Callable[[str], None] | None = None,
) -> tuple[FailureAnalysis, Proposal]:
    """After a failed run: the reviewer's analysis, and a candidate fix built from it."""
    workflow = store.load(execution.workflow_name)
    recent = history.query(workflow.name, limit=RECENT_RUNS)
    if on_event:
        on_event("analysing the failure")
    analysis = reviewer.analyze_failure(execution, workflow.code, recent)
    text = (
        f"Run {execution.id} failed ({analysis.failure_class.value}). Root cause: {analysis.root_cause}\n"
        f"Suggested fix: {analysis.suggested_fix}"
    )
    if on_event:
        on_event("asking the model for the fix")
    candidate = coder.improve(workflow, analysis=text, memory=store.memory(workflow.name), on_event=on_event)
    verdict = analyze(candidate.code, candidate.language)
    learned = (f"Run {execution.id} ({analysis.failure_class.value}): {analysis.root_cause}"[:200],)
    proposal = Proposal(workflow, candidate, verdict, _diff(workflow, candidate), text, learned, execution)
    return analysis, proposal


def trial_run(
    proposal: Proposal,
    history: HistoryStore,
    settings: Settings,
    *,
    params: Mapping[str, str] | None = None,
    workdir: Path | None = None,
    sandbox: Isolation = Isolation.AUTO,
    sink: Any = None,
) -> RunOutcome:
    """Run the candidate once in the sandbox, without saving it; the run is recorded as a trial."""
    if proposal.verdict.decision is Decision.DENY:
        raise SafetyRefusal("the proposed version is denied by the safety check; it will not be run")
    with scratch_store(proposal, settings) as (scratch, name):
        return run_workflow(
            scratch, history, settings, name, params=params, workdir=workdir, sandbox=sandbox,
            trigger="trial", sink=sink, hooks=RunHooks(),
        )  # fmt: skip


@contextmanager
def scratch_store(proposal: Proposal, settings: Settings) -> Iterator[tuple[WorkflowStore, str]]:
    """The candidate saved, approved, in a throw-away store under WORKFLOW_HOME/.trials/."""
    folder = settings.home / TRIALS_DIR / uuid.uuid4().hex
    scratch = WorkflowStore(folder)
    config = proposal.current.config.model_copy(
        update={
            "language": proposal.candidate.language,
            "permissions": proposal.candidate.permissions,
            "params": proposal.candidate.params or proposal.current.config.params,
        }
    )
    try:
        scratch.create(config, proposal.candidate.code)
        Approvals(scratch.folder(config.name)).approve(code_digest(proposal.candidate.code))
        yield scratch, config.name
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- the workflow's own tests, before and after the change (see app/wftests.py) --------------------


@dataclass(frozen=True)
class TestEvidence:
    """The workflow's tests against the current version and against the candidate."""

    __test__ = False  # not a pytest class

    before: SuiteResult
    after: SuiteResult

    @property
    def broken(self) -> list[str]:
        """Tests that passed before and do not pass with the candidate: the change is not offered."""
        was = self.before.passed
        return [r.name for r in self.after.results if r.name in was and r.status is not Status.PASSED]

    def to_dict(self) -> dict[str, Any]:
        return {"before": self.before.to_dict(), "after": self.after.to_dict(), "broken": self.broken}


def check_proposal_tests(
    proposal: Proposal,
    store: WorkflowStore,
    history: HistoryStore,
    settings: Settings,
    *,
    yes: bool = False,
    sandbox: Isolation = Isolation.AUTO,
) -> TestEvidence | None:
    """Run the workflow's tests on the current version and on the candidate; None if it has none."""
    name = proposal.current.name
    folder = tests_folder(store, name)
    if not case_files(folder) or proposal.verdict.decision is Decision.DENY:
        return None
    before = run_suite(store, history, settings, name, yes=yes, sandbox=sandbox)
    with scratch_store(proposal, settings) as (scratch, scratch_name):
        after = run_suite(scratch, history, settings, scratch_name, tests_from=folder, sandbox=sandbox)
    return TestEvidence(before, after)


def accept(store: WorkflowStore, proposal: Proposal) -> Workflow:
    """Save the candidate as the next version and remember what was learned."""
    if proposal.verdict.decision is Decision.DENY:
        raise SafetyRefusal("the proposed version is denied by the safety check; nothing was saved")
    candidate = proposal.candidate
    saved = store.save_version(
        proposal.current.name,
        candidate.code,
        language=candidate.language,
        permissions=candidate.permissions,
        params=candidate.params or proposal.current.config.params,
    )
    if proposal.verdict.decision is Decision.ASK:
        Approvals(store.folder(saved.name)).approve(code_digest(candidate.code))
    for fact in proposal.learned:
        store.append_memory(saved.name, fact)
    store.append_memory(saved.name, f"v{saved.config.version}: {candidate.summary.strip()[:180]}")
    return saved


def outcome_line(record: ExecutionRecord) -> str:
    return f"run {record.id}: {record.status.value}, exit {record.exit_code}, {record.duration or 0:.2f}s"
