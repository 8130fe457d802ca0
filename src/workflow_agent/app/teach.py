"""The teach flow: a sentence becomes a reviewed, checked, approved and saved workflow.

Plain code (the seed's Orchestrator): the coder writes, the safety analysis judges, the person
decides. Nothing is saved until the person approves, and a denied script is never saved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from workflow_agent.agents.schemas import GeneratedWorkflow
from workflow_agent.app.gate import Approvals, code_digest, summary
from workflow_agent.core.errors import AlreadyExistsError, Cancelled, SafetyRefusal, ValidationError
from workflow_agent.core.types import Workflow, WorkflowConfig
from workflow_agent.execution.safety import Decision, Verdict, analyze
from workflow_agent.execution.syntax import syntax_error
from workflow_agent.storage.workflows import WorkflowStore, validate_name

DEFAULT_TIMEOUT = 300


class Choice(StrEnum):
    APPROVE = "approve"
    EDIT = "edit"
    REGENERATE = "regenerate"
    CANCEL = "cancel"


class TeachUI(Protocol):
    """How the flow talks to the person (the CLI, a test script, or nobody)."""

    interactive: bool

    def progress(self, message: str) -> None: ...
    def show(self, candidate: GeneratedWorkflow, verdict: Verdict) -> None: ...
    def choose(self, verdict: Verdict) -> Choice: ...
    def feedback(self) -> str: ...
    def edit(self, candidate: GeneratedWorkflow) -> str: ...


class Writer(Protocol):
    """The part of the coder the flow needs (agents.coder.Coder satisfies it)."""

    def generate(
        self,
        description: str,
        *,
        memory: str = "",
        feedback: str | None = None,
        previous: GeneratedWorkflow | None = None,
        on_event: Callable[[str], None] | None = None,
    ) -> GeneratedWorkflow: ...


@dataclass
class Unattended:
    """No person: approve what the safety check allows or asks about (with yes), refuse the rest."""

    yes: bool = True
    log: Callable[[str], None] | None = None
    interactive: bool = False

    def progress(self, message: str) -> None:
        if self.log is not None:
            self.log(message)

    def show(self, candidate: GeneratedWorkflow, verdict: Verdict) -> None:
        return None

    def choose(self, verdict: Verdict) -> Choice:
        if verdict.decision is Decision.ASK and not self.yes:
            raise SafetyRefusal(
                f"the new script needs your approval\n{summary(verdict)}",
                hint="Review it in a terminal, or pass --yes to accept scripts the check asks about.",
            )
        return Choice.APPROVE

    def feedback(self) -> str:  # pragma: no cover - choose() never asks for it
        raise Cancelled("no feedback can be given without a person")

    def edit(self, candidate: GeneratedWorkflow) -> str:  # pragma: no cover - choose() never asks for it
        raise Cancelled("no editing without a person")


@dataclass(frozen=True)
class Taught:
    workflow: Workflow
    verdict: Verdict
    rounds: int


def _config(name: str, description: str, candidate: GeneratedWorkflow) -> WorkflowConfig:
    return WorkflowConfig(
        name=name,
        description=description,
        language=candidate.language,
        timeout=candidate.permissions.timeout or DEFAULT_TIMEOUT,
        params=candidate.params,
        permissions=candidate.permissions,
    )


def teach(store: WorkflowStore, name: str, description: str, *, coder: Writer, ui: TeachUI) -> Taught:
    """Generate, show, decide; save version 1 with its memory on approval."""
    validate_name(name)
    if not description.strip():
        raise ValidationError(
            "describe the task in a sentence",
            hint='e.g. workflow teach disk-report "show the 10 biggest folders here"',
        )
    if store.exists(name):
        raise AlreadyExistsError(
            f"workflow {name!r} already exists",
            hint=f"Improve it with `workflow improve {name}`, edit it, or choose another name.",
        )
    feedback: str | None = None
    previous: GeneratedWorkflow | None = None
    rounds = 0
    while True:
        if previous is None or feedback is not None:
            rounds += 1
            ui.progress("asking the model for a script" if rounds == 1 else "asking for a new version")
            candidate = coder.generate(
                description, feedback=feedback, previous=previous, on_event=ui.progress
            )
        verdict = analyze(candidate.code, candidate.language)
        ui.show(candidate, verdict)
        choice = ui.choose(verdict)
        feedback = None
        previous = candidate
        if choice is Choice.CANCEL:
            raise Cancelled("cancelled; nothing was saved")
        if choice is Choice.REGENERATE:
            feedback = ui.feedback()
            continue
        if choice is Choice.EDIT:
            candidate = candidate.model_copy(update={"code": ui.edit(candidate)})
            continue
        error = syntax_error(candidate.code, candidate.language)
        if error is not None:
            if ui.interactive:
                ui.progress(f"cannot save code with a syntax error ({error}): edit it or regenerate")
                continue
            raise ValidationError(
                f"the script has a {candidate.language.value} syntax error ({error}); nothing was saved"
            )
        if verdict.decision is Decision.DENY:
            raise SafetyRefusal(
                f"the model's script is denied by the safety check; nothing was saved\n{summary(verdict)}",
                hint="Regenerate with feedback, or describe the task differently.",
            )
        break
    workflow = store.create(_config(name, description, candidate), candidate.code)
    if candidate.test is not None:
        # A test the model proposed with the script: saved for `workflow test`, never run here.
        from workflow_agent.app.wftests import PROPOSED_FILE, write_test

        write_test(store.folder(name), candidate.test, PROPOSED_FILE)
    store.append_memory(name, f"Taught from: {description.strip()}")
    if candidate.summary.strip():
        store.append_memory(name, f"What it does: {candidate.summary.strip()}")
    if verdict.decision is Decision.ASK:
        # The person saw the findings and approved this exact code: `run` need not ask again.
        Approvals(store.folder(name)).approve(code_digest(candidate.code))
    return Taught(workflow, verdict, rounds)
