"""The run flow: load a workflow, record the run, execute it, classify a failure, finish the row."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from workflow_agent.app.gate import Approvals, GatePolicy, enforce, inspect
from workflow_agent.app.inputs import (
    build_env,
    memory_diagnosis,
    resolve_params,
    run_command_line,
    run_limits,
)
from workflow_agent.app.isolate import Prepared, prepare
from workflow_agent.core.errors import SafetyRefusal, ValidationError, WorkflowError
from workflow_agent.core.settings import Settings
from workflow_agent.core.types import (
    ExecutionRecord,
    FailureClass,
    RunStatus,
    Workflow,
)
from workflow_agent.execution.limits import Limits, RunCgroup, preexec_for
from workflow_agent.execution.proctree import TOKEN_ENV
from workflow_agent.execution.pyenv import DependencyError
from workflow_agent.execution.redact import redact_text, secret_values
from workflow_agent.execution.runner import CaptureSpec, OutputSink, ProcessResult, ProcessSpec, run_process
from workflow_agent.execution.safety import Verdict
from workflow_agent.execution.sandbox import Isolation
from workflow_agent.storage.history import HistoryStore
from workflow_agent.storage.workflows import WorkflowStore

if TYPE_CHECKING:
    from workflow_agent.execution.classify import Diagnosis


@dataclass(frozen=True)
class RunOutcome:
    record: ExecutionRecord
    result: ProcessResult
    diagnosis: Diagnosis | None


def _status(result: ProcessResult) -> RunStatus:
    if result.cancelled:
        return RunStatus.CANCELLED
    if result.timed_out:
        return RunStatus.TIMEOUT
    return RunStatus.SUCCESS if result.exit_code == 0 else RunStatus.FAILED


def _error_message(result: ProcessResult, timeout: float) -> str | None:
    if result.cancelled:
        return "cancelled by the user"
    if result.timed_out:
        return f"timed out after {timeout:g}s; the whole process tree was killed"
    if result.signal is not None:
        return f"killed by signal {result.signal}"
    if result.exit_code:
        return f"exited with code {result.exit_code}"
    return None


@dataclass(frozen=True)
class RunHooks:
    """How the caller takes part in a run: answers to questions, and what it wants to show."""

    gate: GatePolicy = field(default_factory=GatePolicy)
    on_verdict: Callable[[Verdict], None] | None = None
    on_prepared: Callable[[Prepared], None] | None = None
    approve_dependencies: Callable[[list[str]], bool] | None = None
    dependency_output: Callable[[str], None] | None = None


def run_workflow(
    store: WorkflowStore,
    history: HistoryStore,
    settings: Settings,
    name: str,
    *,
    params: Mapping[str, str] | None = None,
    workdir: Path | None = None,
    timeout: float | None = None,
    sink: OutputSink | None = None,
    trigger: str = "manual",
    base_env: Mapping[str, str] | None = None,
    sandbox: Isolation = Isolation.AUTO,
    hooks: RunHooks | None = None,
) -> RunOutcome:
    """Check, isolate, run and record a saved workflow once. No model is involved."""
    hooks = hooks or RunHooks()
    workflow = store.load(name)
    values = resolve_params(workflow, params or {})
    _admit(store, history, workflow, hooks, trigger)
    cwd = (workdir or Path(workflow.config.workdir or os.getcwd())).expanduser()
    if not cwd.is_dir():
        raise ValidationError(f"working directory {cwd} does not exist")
    declared = workflow.config.permissions.timeout
    limit = float(timeout if timeout is not None else declared or workflow.config.timeout)
    token = uuid.uuid4().hex
    run_id = history.start_execution(
        workflow.name, version=workflow.config.version, trigger=trigger, run_token=token
    )
    env = build_env(os.environ if base_env is None else base_env, workflow, values, run_id)
    env[TOKEN_ENV] = token  # set here too, so it survives the sandbox's cleared environment
    # Secrets are collected from the full environment: a value must be hidden even if it is not passed in.
    secrets = secret_values(env, workflow.config.permissions.secrets)
    prepared = _isolate(store, history, settings, workflow, run_id, env, cwd, sandbox, set(values), hooks)
    limits = run_limits(workflow)
    capture = CaptureSpec(
        head=settings.capture_head,
        tail=settings.capture_tail,
        log_dir=settings.logs_dir,
        log_prefix=f"{run_id:08d}-{workflow.name}",
        log_limit=settings.log_limit,
        secrets=tuple(secrets),
    )
    spec = ProcessSpec(
        argv=prepared.argv, env=prepared.env, cwd=cwd, timeout=limit, token=token, pass_fds=prepared.pass_fds
    )
    try:
        result, out_of_memory = _execute(spec, capture, limits, f"{workflow.name}-{run_id}", sink)
    except OSError as exc:
        history.close_unstarted(
            run_id,
            status=RunStatus.FAILED,
            message=f"could not start the workflow: {exc}",
            failure_class=FailureClass.OTHER,
        )
        raise ValidationError(f"could not start {workflow.name}: {exc}") from None
    finally:
        prepared.cleanup()
    note = prepared.startup_note()
    if note is not None:
        result = replace(result, notes=[*result.notes, note])
    status = _status(result)
    diagnosis = None
    try:
        diagnosis = _diagnose(result, status, limits if out_of_memory else None)
        diagnosis = _socket_hint(diagnosis, result, workflow, prepared.mode)
    finally:
        record = _finish(history, run_id, result, status, diagnosis, limit, secrets)
    return RunOutcome(record=record, result=result, diagnosis=diagnosis)


def _admit(
    store: WorkflowStore, history: HistoryStore, workflow: Workflow, hooks: RunHooks, trigger: str
) -> None:
    """The static safety gate; a refusal leaves a history row."""
    verdict = inspect(workflow, store.folder(workflow.name))
    if hooks.on_verdict is not None:
        hooks.on_verdict(verdict)
    try:
        enforce(workflow, verdict, hooks.gate, Approvals(store.folder(workflow.name)))
    except SafetyRefusal as exc:
        history.record_refusal(
            workflow.name, version=workflow.config.version, reason=exc.message, trigger=trigger
        )
        raise


def _isolate(
    store: WorkflowStore,
    history: HistoryStore,
    settings: Settings,
    workflow: Workflow,
    run_id: int,
    env: dict[str, str],
    cwd: Path,
    sandbox: Isolation,
    param_names: set[str],
    hooks: RunHooks,
) -> Prepared:
    """Dependencies and sandbox for the run; a failure here finishes the row before it is raised."""
    try:
        command, extra = run_command_line(
            workflow, store, settings, hooks.approve_dependencies, hooks.dependency_output
        )
        prepared = prepare(
            workflow,
            command,
            env,
            cwd=cwd,
            settings=settings,
            requested=sandbox,
            param_names=param_names,
            extra_exec=extra,
        )
    except DependencyError as exc:
        history.close_unstarted(
            run_id,
            status=RunStatus.FAILED,
            message=exc.message,
            failure_class=FailureClass.MISSING_DEPENDENCY,
            stderr=exc.output[-8000:],
        )
        raise
    except WorkflowError as exc:
        history.close_unstarted(run_id, status=RunStatus.REFUSED, message=f"sandbox: {exc.message}")
        raise
    history.set_sandbox(run_id, prepared.mode.value)
    if hooks.on_prepared is not None:
        hooks.on_prepared(prepared)
    return prepared


def _execute(
    spec: ProcessSpec, capture: CaptureSpec, limits: Limits, label: str, sink: OutputSink | None
) -> tuple[ProcessResult, bool]:
    """Run inside the run's own cgroup when there is one; report whether memory ran out."""
    with RunCgroup.create(limits, label) or nullcontext() as cgroup:
        spec = replace(spec, preexec=preexec_for(limits, cgroup))
        result = run_process(spec, capture, sink=sink)
        return result, cgroup is not None and cgroup.oom_killed()


def _diagnose(result: ProcessResult, status: RunStatus, memory_limit: Limits | None) -> Diagnosis | None:
    if memory_limit is not None and status is RunStatus.FAILED:
        return memory_diagnosis(memory_limit)
    if status not in (RunStatus.FAILED, RunStatus.TIMEOUT):
        return None
    # Imported only after a failure: its rule table costs start-up time a passing run never needs.
    from workflow_agent.execution.classify import classify_failure

    return classify_failure(
        result.stderr.text,
        result.stdout.text,
        exit_code=result.exit_code,
        timed_out=result.timed_out,
        signal=result.signal,
    )


_SOCKET_WORDS = re.compile(r"socket|\.sock\b|unix:|\bbus\b", re.IGNORECASE)
SOCKET_HINT = (
    "The sandbox refuses unix sockets unless the workflow declares them: if it must talk to a local "
    "daemon (docker, systemctl, a database's socket), add `unix_sockets: true` under permissions in "
    "config.yaml."
)


def _socket_hint(
    diagnosis: Diagnosis | None, result: ProcessResult, workflow: Workflow, mode: Isolation
) -> Diagnosis | None:
    """A permission failure that mentions sockets, in a sandbox that refused them: say which
    permission would allow it (the classifier only sees the text, not the policy)."""
    if (
        diagnosis is None
        or diagnosis.failure_class is not FailureClass.PERMISSION
        or mode not in (Isolation.BWRAP, Isolation.LANDLOCK)
        or workflow.config.permissions.unix_sockets
        or not _SOCKET_WORDS.search(result.stderr.text[-4000:])
    ):
        return diagnosis
    return replace(diagnosis, suggestion=f"{SOCKET_HINT} Otherwise: {diagnosis.suggestion}")


def _finish(
    history: HistoryStore,
    run_id: int,
    result: ProcessResult,
    status: RunStatus,
    diagnosis: Diagnosis | None,
    limit: float,
    secrets: list[str],
) -> ExecutionRecord:
    """Finalise the row; runs even when classification fails, so the result is never lost."""
    message = _error_message(result, limit)
    if result.notes:
        message = "; ".join(filter(None, [message, *result.notes]))
    log_path = result.stdout.log_path or result.stderr.log_path
    return history.finish_execution(
        run_id,
        status=status,
        exit_code=result.exit_code,
        duration=result.duration,
        stdout=result.stdout.text,
        stderr=result.stderr.text,
        error_message=redact_text(message, secrets) if message else None,
        failure_class=diagnosis.failure_class if diagnosis else None,
        log_path=str(log_path.parent / log_path.name.rsplit(".", 2)[0]) if log_path else None,
    )
