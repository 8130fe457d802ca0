"""The run flow: load a workflow, record the run, execute it, classify a failure, finish the row."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from workflow_agent.app.gate import Approvals, GatePolicy, enforce, inspect
from workflow_agent.app.isolate import Prepared, prepare
from workflow_agent.core.errors import SafetyRefusal, ValidationError, WorkflowError
from workflow_agent.core.settings import Settings
from workflow_agent.core.types import (
    ENV_NAME_PATTERN,
    ExecutionRecord,
    FailureClass,
    Language,
    RunStatus,
    Workflow,
)
from workflow_agent.execution.proctree import TOKEN_ENV
from workflow_agent.execution.pyenv import DependencyError, EnvCache, read_script_metadata
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


def parse_assignments(items: list[str], what: str) -> dict[str, str]:
    """KEY=VAL pairs from the command line, with names checked as environment variable names."""
    parsed: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not ENV_NAME_PATTERN.fullmatch(key):
            raise ValidationError(
                f"{what} {item!r} is not KEY=VALUE",
                hint="Names use letters, digits and '_', e.g. TARGET=/tmp/out.",
            )
        parsed[key] = value
    return parsed


def resolve_params(workflow: Workflow, given: Mapping[str, str]) -> dict[str, str]:
    """Declared defaults, then the given values; unknown or missing required ones are refused."""
    declared = {p.name: p for p in workflow.config.params}
    if declared:
        unknown = sorted(set(given) - set(declared))
        if unknown:
            raise ValidationError(
                f"{workflow.name} has no parameter {', '.join(unknown)}",
                hint=f"Its parameters: {', '.join(sorted(declared))}.",
            )
    values = {name: p.default for name, p in declared.items() if p.default is not None}
    values.update(given)
    missing = sorted(name for name, p in declared.items() if p.required and name not in values)
    if missing:
        raise ValidationError(
            f"{workflow.name} needs parameter {', '.join(missing)}",
            hint=f"Pass it with --param {missing[0]}=VALUE.",
        )
    return values


def interpreter(language: Language) -> list[str]:
    if language is Language.PYTHON:
        return [shutil.which("python3") or sys.executable, "-u"]
    return [shutil.which("bash") or "/bin/bash"]


def _command(
    workflow: Workflow,
    store: WorkflowStore,
    settings: Settings,
    approve: Callable[[list[str]], bool] | None,
    output: Callable[[str], None] | None,
) -> tuple[list[str], tuple[Path, ...]]:
    """The argv that runs the script, and any extra folder it needs to read (a dependency env).

    A Python script that declares PEP 723 dependencies runs with its cached environment, built
    outside the sandbox on first use and only once the user approves the package list.
    """
    script = str(store.code_path(workflow.config))
    if workflow.config.language is not Language.PYTHON:
        return [*interpreter(workflow.config.language), script], ()
    meta = read_script_metadata(workflow.code)
    if meta is None or not (meta.dependencies or meta.requires_python):
        return [*interpreter(workflow.config.language), script], ()
    envs = EnvCache(settings.home / "envs")
    python = envs.interpreter(meta) or envs.ensure(
        meta, approve=approve or (lambda _deps: False), output=output
    )
    return [str(python), "-u", script], (python.parent.parent,)


def build_env(
    base: Mapping[str, str], workflow: Workflow, params: Mapping[str, str], run_id: int
) -> dict[str, str]:
    env = dict(base)
    env.update(workflow.config.env_vars)
    env.update(params)
    env.update(
        {
            "WORKFLOW_NAME": workflow.name,
            "WORKFLOW_VERSION": str(workflow.config.version),
            "WORKFLOW_RUN_ID": str(run_id),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


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
    on_prepared: Callable[[Prepared], None] | None = None,
    gate: GatePolicy | None = None,
    on_verdict: Callable[[Verdict], None] | None = None,
    approve_dependencies: Callable[[list[str]], bool] | None = None,
    dependency_output: Callable[[str], None] | None = None,
) -> RunOutcome:
    """Check, isolate, run and record a saved workflow once. No model is involved."""
    workflow = store.load(name)
    values = resolve_params(workflow, params or {})
    verdict = inspect(workflow)
    if on_verdict is not None:
        on_verdict(verdict)
    try:
        enforce(workflow, verdict, gate or GatePolicy(), Approvals(store.folder(name)))
    except SafetyRefusal as exc:
        history.record_refusal(
            workflow.name, version=workflow.config.version, reason=exc.message, trigger=trigger
        )
        raise
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
    try:
        command, extra = _command(workflow, store, settings, approve_dependencies, dependency_output)
        prepared = prepare(
            workflow,
            command,
            env,
            cwd=cwd,
            settings=settings,
            requested=sandbox,
            param_names=set(values),
            extra_exec=extra,
        )
    except DependencyError as exc:
        history.finish_execution(
            run_id,
            status=RunStatus.FAILED,
            exit_code=None,
            duration=None,
            stdout="",
            stderr=exc.output[-8000:],
            error_message=exc.message,
            failure_class=FailureClass.MISSING_DEPENDENCY,
        )
        raise
    except WorkflowError as exc:
        history.finish_execution(
            run_id,
            status=RunStatus.REFUSED,
            exit_code=None,
            duration=None,
            stdout="",
            stderr="",
            error_message=f"sandbox: {exc.message}",
        )
        raise
    history.set_sandbox(run_id, prepared.mode.value)
    if on_prepared is not None:
        on_prepared(prepared)
    spec = ProcessSpec(argv=prepared.argv, env=prepared.env, cwd=cwd, timeout=limit, token=token)
    capture = CaptureSpec(
        head=settings.capture_head,
        tail=settings.capture_tail,
        log_dir=settings.logs_dir,
        log_prefix=f"{run_id:08d}-{workflow.name}",
        log_limit=settings.log_limit,
        secrets=tuple(secrets),
    )
    try:
        result = run_process(spec, capture, sink=sink)
    except OSError as exc:
        history.finish_execution(
            run_id,
            status=RunStatus.FAILED,
            exit_code=None,
            duration=0.0,
            stdout="",
            stderr="",
            error_message=f"could not start the workflow: {exc}",
            failure_class=FailureClass.OTHER,
        )
        raise ValidationError(f"could not start {workflow.name}: {exc}") from None
    status = _status(result)
    diagnosis = None
    try:
        if status in (RunStatus.FAILED, RunStatus.TIMEOUT):
            # Imported only after a failure: its rule table costs start-up time a passing run never needs.
            from workflow_agent.execution.classify import classify_failure

            diagnosis = classify_failure(
                result.stderr.text,
                result.stdout.text,
                exit_code=result.exit_code,
                timed_out=result.timed_out,
                signal=result.signal,
            )
    finally:
        record = _finish(history, run_id, result, status, diagnosis, limit, secrets)
    return RunOutcome(record=record, result=result, diagnosis=diagnosis)


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
