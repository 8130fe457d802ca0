"""What a run is made of: parameters, environment, the command line, and its limits."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from workflow_agent.core.errors import ValidationError
from workflow_agent.core.settings import Settings
from workflow_agent.core.types import ENV_NAME_PATTERN, FailureClass, Language, Workflow
from workflow_agent.execution.limits import Limits
from workflow_agent.execution.pyenv import EnvCache, read_script_metadata
from workflow_agent.storage.workflows import WorkflowStore

if TYPE_CHECKING:
    from workflow_agent.execution.classify import Diagnosis


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


DEFAULT_MEMORY_MB = 4096
DEFAULT_MAX_PROCESSES = 1024


def run_limits(workflow: Workflow) -> Limits:
    """Every run is bounded: declared limits, or defaults generous enough for ordinary chores."""
    permissions = workflow.config.permissions
    return Limits(
        memory_mb=permissions.memory_mb or DEFAULT_MEMORY_MB,
        max_processes=permissions.max_processes or DEFAULT_MAX_PROCESSES,
    )


def memory_diagnosis(limits: Limits) -> Diagnosis:
    from workflow_agent.execution.classify import Diagnosis

    return Diagnosis(
        failure_class=FailureClass.OOM,
        evidence=None,
        explanation=f"The run went over its memory limit ({limits.memory_mb} MB) and was killed.",
        suggestion="Raise permissions.memory_mb in config.yaml, or make the script use less memory.",
    )


def run_command_line(
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
