"""One attempt at one task: set up a fresh dir, teach a workflow, run it in the sandbox, check.

Everything an attempt writes (its WORKFLOW_HOME, the history database, the captured stdout, the
output of setup and check) lives in a temporary folder of its own; the task's work dir is a
sub-folder that holds only what the task's setup and the taught workflow put there, because the
task's check compares that whole directory with the expected result.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from workflow_agent.agents.schemas import CallRecord
from workflow_agent.core.errors import SafetyRefusal, WorkflowError
from workflow_agent.eval.oracle import NOOP, ORACLE, SELF_TESTS, noop_model, oracle_model

if TYPE_CHECKING:
    from pydantic_ai.models import Model

    from workflow_agent.agents.coder import Coder
    from workflow_agent.app.teach import Taught
    from workflow_agent.models import ResolvedModel

__all__ = [
    "AttemptResult",
    "Job",
    "Task",
    "TaskFileError",
    "Validation",
    "load_tasks",
    "run_attempt",
    "validate_task",
]

WORKFLOW_NAME: Final = "eval-task"
# Seconds allowed to a task's setup, reference solution or check (they take well under one).
SHELL_TIMEOUT_S: Final = 120.0
ERROR_LIMIT: Final = 2_000
# Set for every setup, reference solution and check (never for the taught workflow). Some setups
# archive files they have just written: gzip stores the file's mtime in its header and tar each
# member's mtime, so the check's rebuild of the fixture, made seconds later, differs from the one the
# setup made and the task fails on the clock alone. gzip -n leaves out name and time; tar stamps
# every member with one fixed time and sorts them. (gzip warns that GZIP is deprecated, on stderr.)
SHELL_ENV: Final = {"GZIP": "-n", "TAR_OPTIONS": "--mtime=@0 --sort=name"}
FIELDS: Final = ("id", "instruction", "setup", "check", "reference_solution")


class TaskFileError(Exception):
    """The task file is missing or a line of it is not a task."""


@dataclass(frozen=True)
class Task:
    id: str
    instruction: str
    setup: str
    check: str
    reference_solution: str


def load_tasks(path: Path) -> list[Task]:
    """The tasks of a JSONL file; TaskFileError naming the line for the first bad one."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TaskFileError(f"task file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskFileError(f"cannot read task file {path}: {exc}") from None
    tasks: list[Task] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TaskFileError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(row, dict):
            raise TaskFileError(f"{where}: expected a JSON object, got {type(row).__name__}")
        missing = [key for key in FIELDS if not isinstance(row.get(key), str)]
        if missing:
            raise TaskFileError(f"{where}: missing or non-text field(s): {', '.join(missing)}")
        if row["id"] in seen:
            raise TaskFileError(f"{where}: duplicate task id {row['id']!r}")
        seen.add(row["id"])
        tasks.append(Task(**{key: row[key] for key in FIELDS}))
    if not tasks:
        raise TaskFileError(f"task file {path} holds no tasks")
    return tasks


# --- shell steps -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Shell:
    exit_code: int
    output: str  # stdout and stderr, for messages
    timed_out: bool = False

    def first_line(self) -> str:
        lines = [line for line in self.output.splitlines() if line.strip()]
        return lines[-1][:200] if lines else f"exit code {self.exit_code}"


def bash(
    script: str,
    cwd: Path,
    *,
    scratch: Path,
    stdout: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> Shell:
    """Run ``script`` with bash in ``cwd``; stdout to ``stdout`` (else kept with stderr in ``scratch``).

    Output goes to files in ``scratch`` (outside ``cwd``), never pipes, so a background child that
    keeps a stream open cannot hang us; the whole process group is killed on timeout.
    """
    timeout = SHELL_TIMEOUT_S if timeout is None else timeout
    handle, name = tempfile.mkstemp(prefix="shell-", suffix=".log", dir=scratch)
    os.close(handle)
    log = Path(name)
    with log.open("wb") as err, stdout.open("wb") if stdout is not None else nullcontext(err) as out:
        process = subprocess.Popen(
            ["bash", "-c", script],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env={**(os.environ if env is None else env), **SHELL_ENV},
            start_new_session=True,
        )
        try:
            code = process.wait(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            code = process.wait()
            timed_out = True
    text = log.read_text(encoding="utf-8", errors="replace")
    log.unlink()
    return Shell(code, text[-ERROR_LIMIT:], timed_out)


@dataclass(frozen=True)
class Dirs:
    """An attempt's folders: ``work`` is the task's directory; the rest stay outside it."""

    root: Path

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def stdout(self) -> Path:
        return self.root / "stdout.txt"

    @classmethod
    @contextmanager
    def fresh(cls, label: str) -> Iterator[Dirs]:
        with tempfile.TemporaryDirectory(prefix=f"workflow-eval-{label}-") as root:
            dirs = cls(Path(root))
            dirs.work.mkdir()
            yield dirs

    def bash(self, script: str, *, stdout: Path | None = None, env: Mapping[str, str] | None = None) -> Shell:
        return bash(script, self.work, scratch=self.root, stdout=stdout, env=env)

    def check(self, task: Task, stdout: Path) -> Shell:
        return self.bash(task.check, env={**os.environ, "AGENT_STDOUT": str(stdout)})


# --- validation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Validation:
    task_id: str
    valid: bool
    problems: tuple[str, ...]
    seconds: float


def validate_task(task: Task) -> Validation:
    """The reference solution must pass the check; doing nothing (empty stdout) must fail it."""
    started = time.perf_counter()
    problems: list[str] = []
    with Dirs.fresh(task.id) as dirs:
        _clear_of_minute_end()
        dirs.bash(task.setup)
        _next_second()  # a check that depends on when the setup ran fails here, not in a real attempt
        solved = dirs.bash(task.reference_solution, stdout=dirs.stdout)
        if solved.timed_out:
            problems.append("the reference solution timed out")
        checked = dirs.check(task, dirs.stdout)
        if checked.exit_code != 0:
            problems.append(f"the reference solution fails the check ({checked.first_line()})")
    with Dirs.fresh(task.id) as dirs:
        dirs.bash(task.setup)
        dirs.stdout.write_text("")
        if dirs.check(task, dirs.stdout).exit_code == 0:
            problems.append("the check passes when nothing is done")
    return Validation(task.id, not problems, tuple(problems), time.perf_counter() - started)


def _next_second() -> None:
    time.sleep(1.01 - time.time() % 1)


def _clear_of_minute_end() -> None:
    """Start setup well inside a minute, so moving past one second never moves past a minute.

    Times shown to the minute (`ls -l`) then match: validation probes second-resolution
    timestamps on purpose, and must not fail a task at random on a minute boundary.
    """
    into = time.time() % 60
    if into > 57:
        time.sleep(60.05 - into)


# --- attempts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One attempt, in a form that can be sent to a worker process."""

    task: Task
    attempt: int  # 1-based
    model: str  # a registry spec, or ORACLE / NOOP
    sandbox: str
    model_home: str  # where the user's model settings (config.yaml) live
    tasks: tuple[Task, ...] = ()  # what the oracle knows


@dataclass
class AttemptResult:
    task_id: str
    attempt: int
    passed: bool = False
    language: str | None = None
    safety: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    requests: int = 0
    cost_usd: float | None = 0.0
    seconds: float = 0.0
    teach_seconds: float = 0.0
    run_seconds: float = 0.0
    run_status: str | None = None
    sandbox: str | None = None
    failure_class: str | None = None
    error: str | None = None
    model: str = ""

    def fail(self, failure_class: str, error: str) -> None:
        self.passed = False
        self.failure_class = failure_class
        self.error = error.strip()[:ERROR_LIMIT] or None


def is_self_test(spec: str) -> bool:
    return spec in SELF_TESTS


def build_model(job: Job) -> tuple[str, Model, ResolvedModel | None]:
    """The model for one attempt, built fresh (an SDK client is not shared between workers)."""
    if job.model == ORACLE:
        return ORACLE, oracle_model(job.tasks or (job.task,)), None
    if job.model == NOOP:
        return NOOP, noop_model(), None
    from workflow_agent.models import resolve_model

    resolved = resolve_model(job.model, home=Path(job.model_home))
    return resolved.name, resolved.model, resolved


def run_attempt(job: Job) -> AttemptResult:
    """Set up, teach, run, check; every failure ends up in the result, never raised."""
    started = time.perf_counter()
    result = AttemptResult(job.task.id, job.attempt, model=job.model)
    try:
        with Dirs.fresh(job.task.id) as dirs:
            _attempt(job, dirs, result)
    except Exception as exc:  # the harness reports a broken attempt and goes on with the next
        result.fail("harness_error", f"{type(exc).__name__}: {exc}")
    result.seconds = time.perf_counter() - started
    return result


def _attempt(job: Job, dirs: Dirs, result: AttemptResult) -> None:
    _clear_of_minute_end()  # fewer chance failures of tasks whose output shows times to the minute
    setup = dirs.bash(job.task.setup)
    if setup.timed_out:
        result.fail("setup_error", "the task's setup timed out")
        return
    teach_started = time.perf_counter()
    taught = _teach(job, dirs, result)
    result.teach_seconds = time.perf_counter() - teach_started
    if taught is None:
        return
    result.language = taught.workflow.config.language.value
    result.safety = taught.verdict.decision.value
    if not _run(job, dirs, result):
        return
    checked = dirs.check(job.task, dirs.stdout)
    result.passed = checked.exit_code == 0
    if result.passed:
        result.failure_class = result.error = None
    elif result.failure_class is None:
        result.fail("check_failed", f"check: {checked.first_line()}")


def _teach(job: Job, dirs: Dirs, result: AttemptResult) -> Taught | None:
    from workflow_agent.agents.coder import Coder
    from workflow_agent.app.teach import Unattended, teach
    from workflow_agent.storage.workflows import WorkflowStore

    name, model, resolved = build_model(job)
    result.model = name
    calls: list[CallRecord] = []
    events: list[str] = []
    coder: Coder = Coder(model, on_call=calls.append)
    try:
        return teach(
            WorkflowStore(dirs.home),
            WORKFLOW_NAME,
            job.task.instruction,
            coder=coder,
            ui=Unattended(yes=True, log=events.append),
        )
    except SafetyRefusal as exc:
        result.safety = "deny"
        result.fail("refused", exc.message)
    except WorkflowError as exc:
        result.safety = _last_safety(events)
        result.fail("refused" if result.safety == "deny" else "teach_error", exc.message)
    except Exception as exc:  # a provider failure the coder did not wrap
        result.fail("teach_error", _model_failure(exc, resolved))
    finally:
        _count(calls, name, is_self_test(job.model), result)
    return None


def _last_safety(events: Sequence[str]) -> str | None:
    """The decision of the coder's last safety check ("safety check: deny (2 findings)")."""
    for event in reversed(events):
        if event.startswith("safety check: "):
            return event.removeprefix("safety check: ").split(" ", 1)[0]
    return None


def _model_failure(exc: Exception, resolved: ResolvedModel | None) -> str:
    if resolved is not None:
        from workflow_agent.models.errors import model_error

        with suppress(Exception):  # not a provider failure: reported as it is below
            return model_error(exc, resolved).message
    return f"{type(exc).__name__}: {exc}"


def _count(calls: Sequence[CallRecord], name: str, free: bool, result: AttemptResult) -> None:
    from workflow_agent.models.pricing import estimate_cost

    result.input_tokens = sum(c.input_tokens for c in calls)
    result.output_tokens = sum(c.output_tokens for c in calls)
    result.requests = sum(c.requests for c in calls)
    costs = [0.0 if free else estimate_cost(name, c.input_tokens, c.output_tokens) for c in calls]
    result.cost_usd = None if any(c is None for c in costs) else sum(c or 0.0 for c in costs)


def _run(job: Job, dirs: Dirs, result: AttemptResult) -> bool:
    """Run the taught workflow in the work dir through the real run flow; write its stdout."""
    from workflow_agent.app.gate import GatePolicy
    from workflow_agent.app.run import RunHooks, run_workflow
    from workflow_agent.core.settings import Settings
    from workflow_agent.core.types import RunStatus
    from workflow_agent.execution.sandbox import Isolation
    from workflow_agent.storage.history import HistoryStore
    from workflow_agent.storage.workflows import WorkflowStore

    settings = Settings(home=dirs.home)
    env = {**os.environ, "WORKFLOW_HOME": str(dirs.home)}
    modes: list[str] = []
    hooks = RunHooks(
        gate=GatePolicy(yes=True, no_input=True),
        on_prepared=lambda prepared: modes.append(prepared.mode.value),
    )
    started = time.perf_counter()
    try:
        with closing(HistoryStore(settings.history_path)) as history:
            outcome = run_workflow(
                WorkflowStore(dirs.home),
                history,
                settings,
                WORKFLOW_NAME,
                workdir=dirs.work,
                base_env=env,
                sandbox=Isolation(job.sandbox),
                hooks=hooks,
            )
    except SafetyRefusal as exc:
        result.fail("refused", exc.message)
        return False
    except WorkflowError as exc:
        result.fail("run_error", exc.message)
        return False
    finally:
        result.run_seconds = time.perf_counter() - started
        result.sandbox = modes[-1] if modes else None
    record = outcome.record
    result.run_status = record.status.value
    dirs.stdout.write_text(outcome.result.stdout.text, encoding="utf-8")
    if record.status is not RunStatus.SUCCESS:
        failure = record.failure_class.value if record.failure_class else record.status.value
        result.fail(failure, record.error_message or record.status.value)
    return True
