"""Per-workflow tests: YAML files in WORKFLOW_HOME/<name>/tests/, each a real sandboxed run.

A test makes a fresh temporary work dir, runs its ``setup`` there, runs the workflow through the
real run flow (safety gate, sandbox, history row with trigger "test"), then checks the exit code,
a regular expression on the output and an optional ``check`` script. ``setup`` and ``check`` are
shell written by a person or proposed by a model, so they run in the same sandbox as workflows
(no network, writable work dir only) and a script the safety check denies is not run.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import LiteralScalarString

from workflow_agent.agents.schemas import WorkflowTest
from workflow_agent.app.gate import GatePolicy
from workflow_agent.app.inputs import interpreter
from workflow_agent.app.isolate import prepare
from workflow_agent.app.run import RunHooks, RunOutcome, run_workflow
from workflow_agent.core.errors import ConfigError, SafetyRefusal, ValidationError, WorkflowError
from workflow_agent.core.settings import Settings
from workflow_agent.core.types import Language, Workflow, WorkflowConfig
from workflow_agent.execution.runner import CaptureSpec, ProcessResult, ProcessSpec, run_process
from workflow_agent.execution.safety import Decision, analyze
from workflow_agent.execution.sandbox import Isolation
from workflow_agent.storage import yamldoc
from workflow_agent.storage.files import atomic_write_text
from workflow_agent.storage.history import HistoryStore
from workflow_agent.storage.workflows import WorkflowStore

TESTS_DIR = "tests"
PROPOSED_FILE = "proposed.yaml"
SUFFIXES = (".yaml", ".yml")
HELPER_TIMEOUT = 60.0
SNIPPET = 300


class CaseSpec(BaseModel):
    """One test file, as validated."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    setup: str = ""
    params: dict[str, str] = Field(default_factory=dict)
    expect_exit: int = 0
    expect_output: str | None = None
    check: str = ""
    timeout: float | None = Field(default=None, gt=0)

    @field_validator("params", mode="before")
    @classmethod
    def _scalars_as_text(cls, value: Any) -> Any:
        # `count: 3` in YAML is an int; a parameter is always passed as text.
        if isinstance(value, Mapping):
            return {
                str(k): ("true" if v is True else "false" if v is False else str(v))
                if isinstance(v, int | float | bool)
                else v
                for k, v in value.items()
            }
        return value

    @field_validator("expect_output")
    @classmethod
    def _valid_regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


@dataclass(frozen=True)
class Case:
    """A test file: its spec, or the error that kept it from loading."""

    path: Path
    name: str
    spec: CaseSpec | None
    error: str | None = None


class Status(StrEnum):
    PASSED = "pass"
    FAILED = "fail"
    ERROR = "error"


@dataclass(frozen=True)
class CaseResult:
    name: str
    file: str
    status: Status
    reason: str | None
    duration: float
    run_id: int | None = None
    exit_code: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": self.file,
            "status": self.status.value,
            "reason": self.reason,
            "duration": round(self.duration, 3),
            "run_id": self.run_id,
            "exit_code": self.exit_code,
        }


@dataclass(frozen=True)
class SuiteResult:
    workflow: str
    results: list[CaseResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.status is Status.PASSED for r in self.results)

    @property
    def passed(self) -> set[str]:
        return {r.name for r in self.results if r.status is Status.PASSED}

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status is status)

    @property
    def status(self) -> str:
        if not self.results:
            return "no tests"
        if self.count(Status.ERROR):
            return Status.ERROR.value
        return Status.PASSED.value if self.ok else Status.FAILED.value

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.workflow,
            "status": self.status,
            "passed": self.count(Status.PASSED),
            "failed": self.count(Status.FAILED),
            "errors": self.count(Status.ERROR),
            "tests": [r.to_dict() for r in self.results],
        }


# -- reading and writing test files ----------------------------------------------------------------


def tests_folder(store: WorkflowStore, name: str) -> Path:
    return store.folder(name) / TESTS_DIR


def case_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES and p.is_file())


def load_case(path: Path) -> Case:
    """Parse and validate one test file; never raises for a broken file (the error is kept)."""
    try:
        spec = parse_case(path)
    except ConfigError as exc:
        return Case(path, path.stem, None, exc.message)
    return Case(path, spec.name or path.stem, spec)


def parse_case(path: Path) -> CaseSpec:
    """The validated test in ``path``, or ConfigError naming file:line and the field."""
    try:
        doc = yamldoc.load_document(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    try:
        return CaseSpec.model_validate(yamldoc.to_plain(doc))
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        line = yamldoc.key_line(doc, tuple(first["loc"]))
        where = f"{path}:{line}" if line else f"{path}:1"
        name = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(f"{where}: {name}: {first['msg']}") from None


def load_cases(folder: Path) -> list[Case]:
    return [load_case(path) for path in case_files(folder)]


def _yaml_value(value: Any) -> Any:
    if isinstance(value, str) and "\n" in value:
        return LiteralScalarString(value if value.endswith("\n") else value + "\n")
    return value


def write_test(folder: Path, test: WorkflowTest | CaseSpec, filename: str = PROPOSED_FILE) -> Path:
    """Save ``test`` as ``folder/tests/filename`` (the writer teach uses for a proposed test)."""
    data = test.model_dump(mode="json", exclude_defaults=True)
    doc = CommentedMap({key: _yaml_value(value) for key, value in data.items()})
    path = folder / TESTS_DIR / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, yamldoc.dump(doc))
    return path


def add_test(store: WorkflowStore, name: str, source: Path) -> Path:
    """Validate ``source`` and copy it, comments and all, into the workflow's tests folder."""
    store.load_config(name)  # the workflow must exist
    parse_case(source)
    filename = source.name if source.suffix in SUFFIXES else f"{source.stem}.yaml"
    target = tests_folder(store, name) / filename
    if target.exists():
        raise ValidationError(
            f"{name} already has a test file {filename}",
            hint="Rename the file, or edit the existing one by hand.",
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, source.read_text(encoding="utf-8"))
    return target


# -- running --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Env:
    store: WorkflowStore
    history: HistoryStore
    settings: Settings
    name: str
    yes: bool
    sandbox: Isolation


def run_suite(
    store: WorkflowStore,
    history: HistoryStore,
    settings: Settings,
    name: str,
    *,
    tests_from: Path | None = None,
    yes: bool = False,
    sandbox: Isolation = Isolation.AUTO,
) -> SuiteResult:
    """Run every test of ``name`` (read from ``tests_from``, default its own tests folder)."""
    folder = tests_from if tests_from is not None else tests_folder(store, name)
    env = _Env(store, history, settings, name, yes, sandbox)
    return SuiteResult(name, [run_case(env, case) for case in load_cases(folder)])


def run_case(env: _Env, case: Case) -> CaseResult:
    started = time.monotonic()
    run_id: int | None = None
    exit_code: int | None = None

    def result(status: Status, reason: str | None) -> CaseResult:
        return CaseResult(
            case.name, str(case.path), status, reason, time.monotonic() - started, run_id, exit_code
        )

    if case.spec is None:
        return result(Status.ERROR, case.error)
    spec = case.spec
    workdir = Path(tempfile.mkdtemp(prefix=f"workflow-test-{env.name}-"))
    helpers = Path(tempfile.mkdtemp(prefix=f"workflow-test-{env.name}-check-"))
    try:
        if spec.setup.strip():
            done = _helper(env, "setup", spec.setup, workdir, helpers, spec, {})
            if done.exit_code != 0:
                return result(Status.ERROR, f"setup failed ({_ended(done)}){_tail(done.stderr.text)}")
        outcome = _run(env, spec, workdir)
        run_id, exit_code = outcome.record.id, outcome.result.exit_code
        stdout = outcome.result.stdout.text
        failure = _judge(spec, outcome, stdout)
        if failure is not None:
            return result(Status.FAILED, failure)
        if spec.check.strip():
            out_file = helpers / "stdout"
            out_file.write_text(stdout, encoding="utf-8")
            done = _helper(
                env, "check", spec.check, workdir, helpers, spec, {"WORKFLOW_STDOUT": str(out_file)}
            )
            if done.exit_code != 0:
                detail = _tail(done.stderr.text) or _tail(done.stdout.text)
                return result(Status.FAILED, f"check failed ({_ended(done)}){detail}")
        return result(Status.PASSED, None)
    except SafetyRefusal as exc:
        return result(Status.ERROR, f"refused: {exc.message}")
    except WorkflowError as exc:
        return result(Status.ERROR, exc.message)
    except OSError as exc:
        return result(Status.ERROR, f"could not run the test: {exc}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(helpers, ignore_errors=True)


def _run(env: _Env, spec: CaseSpec, workdir: Path) -> RunOutcome:
    yes = env.yes
    hooks = RunHooks(gate=GatePolicy(yes=yes, no_input=True), approve_dependencies=lambda _deps: yes)
    return run_workflow(
        env.store, env.history, env.settings, env.name, params=spec.params, workdir=workdir,
        timeout=spec.timeout, trigger="test", sandbox=env.sandbox, hooks=hooks,
    )  # fmt: skip


def _judge(spec: CaseSpec, outcome: RunOutcome, stdout: str) -> str | None:
    """Why the run does not meet the test's expectations, or None."""
    result = outcome.result
    if result.timed_out:
        return f"timed out ({outcome.record.error_message or 'the run was killed'})"
    if result.exit_code != spec.expect_exit:
        return f"exit code {result.exit_code}, expected {spec.expect_exit}{_tail(result.stderr.text)}"
    if spec.expect_output is not None and not re.search(spec.expect_output, stdout, re.MULTILINE):
        shown = stdout.strip()[-SNIPPET:] or "(no output)"
        return f"output does not match /{spec.expect_output}/; output was: {shown}"
    return None


def _ended(result: ProcessResult) -> str:
    if result.timed_out:
        return "timed out"
    if result.signal is not None:
        return f"killed by signal {result.signal}"
    return f"exit {result.exit_code}"


def _tail(text: str) -> str:
    text = text.strip()
    return f": {text[-SNIPPET:]}" if text else ""


def _helper(
    env: _Env,
    what: str,
    code: str,
    workdir: Path,
    helpers: Path,
    spec: CaseSpec,
    extra: Mapping[str, str],
) -> ProcessResult:
    """Run a test's setup or check script in the sandbox, in the work dir."""
    verdict = analyze(code, Language.BASH)
    if verdict.decision is Decision.DENY:
        first = verdict.findings[0].explanation if verdict.findings else "denied"
        raise SafetyRefusal(f"the test's {what} script is denied by the safety check: {first}")
    script = helpers / f"{what}.sh"
    script.write_text(code, encoding="utf-8")
    variables = {**spec.params, **extra}
    config = WorkflowConfig(name=f"test-{what}", env_vars=dict(extra))
    workflow = Workflow(config=config, code=code)
    base = {**os.environ, **variables}
    prepared = prepare(
        workflow,
        [*interpreter(Language.BASH), str(script)],
        base,
        cwd=workdir,
        settings=env.settings,
        requested=env.sandbox,
        param_names=set(variables),
        extra_exec=(helpers,),
    )
    try:
        timeout = spec.timeout or HELPER_TIMEOUT
        process = ProcessSpec(
            argv=prepared.argv,
            env=prepared.env,
            cwd=workdir,
            timeout=timeout,
            token=uuid.uuid4().hex,
            pass_fds=prepared.pass_fds,
        )
        return run_process(process, CaptureSpec(head=16_000, tail=16_000))
    finally:
        prepared.cleanup()
