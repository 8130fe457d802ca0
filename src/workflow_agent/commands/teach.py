"""Commands that use a model: teach, improve, explain; and the fix offered after a failed run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

from workflow_agent import render
from workflow_agent.agents.schemas import CallRecord, GeneratedWorkflow
from workflow_agent.app.teach import Choice, Unattended, teach
from workflow_agent.commands.check import print_verdict
from workflow_agent.commands.common import history, settings, store
from workflow_agent.commands.manage import edit_text
from workflow_agent.core.errors import Cancelled, ModelError, WorkflowError
from workflow_agent.execution.safety import Decision, Verdict
from workflow_agent.storage.history import HistoryStore

if TYPE_CHECKING:
    from workflow_agent.app.improve import Proposal, TestEvidence
    from workflow_agent.core.types import ExecutionRecord
    from workflow_agent.models import ResolvedModel


def resolve(spec: str | None) -> ResolvedModel:
    from workflow_agent.models import resolve_model

    return resolve_model(spec, home=settings().home)


@contextmanager
def model_errors(resolved: ResolvedModel) -> Iterator[None]:
    """Provider failures become one clear ModelError (exit 4); our own errors pass through."""
    from workflow_agent.models.errors import model_error

    try:
        yield
    except (WorkflowError, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise model_error(exc, resolved) from exc


def recorder(
    runs: HistoryStore, workflow_name: str | None, resolved: ResolvedModel
) -> Callable[[CallRecord], None]:
    from workflow_agent.models.pricing import estimate_cost

    def record(call: CallRecord) -> None:
        # Priced by the full name (provider included): a local model's calls cost nothing.
        cost = estimate_cost(resolved.name, call.input_tokens, call.output_tokens)
        runs.record_llm_call(workflow_name, call, cost_usd=cost)

    return record


def progress(message: str) -> None:
    render.err.print(render.Text(f"… {message}", style="dim"))


def show_candidate(candidate: GeneratedWorkflow, verdict: Verdict) -> None:
    render.err.print(render.Text(f"\n{candidate.summary.strip()}\n", style="bold"))
    render.err.print(render.code(candidate.code, candidate.language.value))
    print_verdict(verdict, "safety check", stream=render.err)
    perms = candidate.permissions
    manifest = [
        f"network: {'yes' if perms.network else 'no'}",
        f"writes: {', '.join(perms.write) or 'the work dir only'}",
    ]
    if perms.unix_sockets:
        manifest.append("unix sockets: yes (local daemons such as docker or D-Bus act outside the sandbox)")
    if perms.read:
        manifest.append(f"reads (un-hidden): {', '.join(perms.read)}")
    if perms.secrets:
        manifest.append(f"secrets: {', '.join(perms.secrets)}")
    if candidate.params:
        manifest.append(
            "params: " + ", ".join(p.name + ("*" if p.required else "") for p in candidate.params)
        )
    render.err.print("permissions: " + "; ".join(manifest))


class TerminalUI:
    """The teach conversation in a terminal."""

    interactive = True

    def __init__(self, label: str) -> None:
        self.label = label

    def progress(self, message: str) -> None:
        progress(message)

    def show(self, candidate: GeneratedWorkflow, verdict: Verdict) -> None:
        show_candidate(candidate, verdict)

    def choose(self, verdict: Verdict) -> Choice:
        options = (
            "[e]dit, [r]egenerate, [c]ancel"
            if verdict.decision is Decision.DENY
            else "[a]pprove, [e]dit, [r]egenerate, [c]ancel"
        )
        try:
            answer = typer.prompt(
                options, default="c" if verdict.decision is Decision.DENY else "a", err=True
            )
        except typer.Abort:
            raise Cancelled("cancelled; nothing was saved") from None
        mapping = {"a": Choice.APPROVE, "e": Choice.EDIT, "r": Choice.REGENERATE, "c": Choice.CANCEL}
        choice = mapping.get(answer.strip().lower()[:1], Choice.CANCEL)
        if choice is Choice.APPROVE and verdict.decision is Decision.DENY:
            return Choice.CANCEL
        return choice

    def feedback(self) -> str:
        return str(typer.prompt("What should change?", err=True))

    def edit(self, candidate: GeneratedWorkflow) -> str:
        return edit_text(candidate.code, candidate.language, self.label)


def teach_command(
    name: str, description: str, model: str | None, yes: bool, no_input: bool, json_out: bool
) -> int:
    from workflow_agent.agents.coder import Coder

    resolved = resolve(model)
    workflows = store()
    with history() as runs:
        coder = Coder(resolved.model, on_call=recorder(runs, name, resolved))
        ui = (
            Unattended(yes=yes, log=None if json_out else progress) if (no_input or yes) else TerminalUI(name)
        )
        with model_errors(resolved):
            taught = teach(workflows, name, description, coder=coder, ui=ui)
    workflow = taught.workflow
    if json_out:
        render.print_json(
            {
                **workflow.config.model_dump(mode="json"),
                "code": workflow.code,
                "verdict": taught.verdict.to_dict(),
                "model": resolved.name,
            }
        )
    else:
        if not isinstance(ui, TerminalUI):
            show_candidate(
                GeneratedWorkflow(language=workflow.config.language, code=workflow.code, summary=""),
                taught.verdict,
            )
        render.out.print(
            f"Saved [bold]{name}[/] (version 1, {workflow.config.language.value}). "
            f"Run it: workflow run {name}"
        )
    return 0


def _show_proposal(proposal: Proposal) -> None:
    render.err.print(render.Text(proposal.candidate.summary.strip(), style="bold"))
    render.diff(proposal.diff.splitlines(), render.err)
    if not proposal.diff:
        render.err.print("The proposed code is the same as the current version.")
    print_verdict(proposal.verdict, "safety check", stream=render.err)


def _decide(proposal: Proposal, *, yes: bool, no_input: bool, question: str) -> bool:
    if proposal.verdict.decision is Decision.DENY:
        render.err.print("[red]The proposed version is denied by the safety check; it is not offered.[/]")
        return False
    if yes:
        return True
    if no_input:
        return False
    try:
        return typer.confirm(question, default=False, err=True)
    except typer.Abort:
        return False


def improve_command(
    name: str, model: str | None, feedback: str | None, trial: bool, yes: bool, no_input: bool, json_out: bool
) -> int:
    from workflow_agent.agents.coder import Coder
    from workflow_agent.agents.reviewer import Reviewer
    from workflow_agent.app.improve import accept, outcome_line, propose_improvement, trial_run

    resolved = resolve(model)
    workflows = store()
    with history() as runs:
        on_call = recorder(runs, name, resolved)
        with model_errors(resolved):
            proposal = propose_improvement(
                workflows, runs, name, coder=Coder(resolved.model, on_call=on_call),
                reviewer=Reviewer(resolved.model, on_call=on_call), feedback=feedback, on_event=progress,
            )  # fmt: skip
        _show_proposal(proposal)
        evidence: dict[str, Any] = {}
        if trial and proposal.verdict.decision is not Decision.DENY and proposal.diff:
            before = runs.query(name, limit=1)
            progress("trying the proposed version once in the sandbox")
            outcome = trial_run(proposal, runs, settings())
            evidence = {"before": before[0].model_dump(mode="json") if before else None,
                        "after": outcome.record.model_dump(mode="json")}  # fmt: skip
            if before:
                render.err.print(f"before: {outcome_line(before[0])}")
            render.err.print(f"after:  {outcome_line(outcome.record)} (trial, not saved)")
        tests = _proposal_tests(proposal, runs, yes=yes) if proposal.diff else None
        if tests is not None:
            evidence["tests"] = tests.to_dict()
        saved = None
        if tests is not None and tests.broken:
            render.err.print(
                f"[red]The proposed version is not offered: it breaks {', '.join(tests.broken)}, "
                "which passed before.[/]"
            )
        elif proposal.diff and _decide(
            proposal, yes=yes, no_input=no_input, question=f"Save this as a new version of {name}?"
        ):
            saved = accept(workflows, proposal)
    if json_out:
        render.print_json(
            {
                "name": name,
                "diff": proposal.diff,
                "verdict": proposal.verdict.to_dict(),
                "reasons": proposal.reasons,
                "saved_version": saved.config.version if saved else None,
                **evidence,
            }
        )
    elif saved:
        render.out.print(
            f"Saved {name} version {saved.config.version}. "
            f"Undo with: workflow rollback {name} {proposal.current.config.version}"
        )
    else:
        render.out.print("Nothing was saved.")
    return 0


def _proposal_tests(proposal: Proposal, runs: HistoryStore, *, yes: bool) -> TestEvidence | None:
    """The workflow's own tests (tests/*.yaml) on the current version and on the candidate."""
    from workflow_agent.app.improve import check_proposal_tests
    from workflow_agent.commands.wftest import report_suite

    progress("running the workflow's tests on the current and the proposed version")
    tests = check_proposal_tests(proposal, store(), runs, settings(), yes=yes)
    if tests is not None:
        render.err.print("tests before the change:")
        report_suite(tests.before, render.err)
        render.err.print("tests with the proposed version (not saved):")
        report_suite(tests.after, render.err)
    return tests


def explain_command(name: str, model: str | None, json_out: bool) -> int:
    from workflow_agent.agents.coder import Coder

    resolved = resolve(model)
    workflow = store().load(name)
    with history() as runs, model_errors(resolved):
        text = Coder(resolved.model, on_call=recorder(runs, name, resolved)).explain(workflow)
    if json_out:
        render.print_json({"name": name, "version": workflow.config.version, "explanation": text})
    else:
        render.out.print(text)
    return 0


def offer_fix(record: ExecutionRecord, *, model: str | None, yes: bool) -> None:
    """After a failed run in a terminal: the reviewer's analysis and, if wanted, a fix as a new version."""
    from workflow_agent.agents.coder import Coder
    from workflow_agent.agents.reviewer import Reviewer
    from workflow_agent.app.improve import accept, propose_fix

    try:
        resolved = resolve(model)
    except ModelError:
        return  # no model configured: the deterministic class already shown is all there is
    if not typer.confirm("Ask the model to analyse the failure and propose a fix?", default=False, err=True):
        return
    workflows = store()
    with history() as runs:
        on_call = recorder(runs, record.workflow_name, resolved)
        with model_errors(resolved):
            analysis, proposal = propose_fix(
                workflows, runs, record, coder=Coder(resolved.model, on_call=on_call),
                reviewer=Reviewer(resolved.model, on_call=on_call), on_event=progress,
            )  # fmt: skip
    render.err.print(
        f"[bold]{analysis.failure_class.value}[/] ({analysis.confidence:.0%}): {analysis.root_cause}"
    )
    render.err.print(f"fix: {analysis.suggested_fix}")
    _show_proposal(proposal)
    if proposal.diff and _decide(
        proposal, yes=yes, no_input=False, question="Save the fix as a new version?"
    ):
        saved = accept(workflows, proposal)
        render.out.print(
            f"Saved version {saved.config.version}. "
            f"Undo with: workflow rollback {saved.name} {proposal.current.config.version}"
        )
