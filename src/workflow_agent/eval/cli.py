"""``python -m workflow_agent.eval``: measure how well a model teaches workflows, or check the tasks.

Exit codes: 0 the harness worked (whatever the score), 1 ``--validate`` found an invalid task,
2 bad input (task file missing or malformed, unknown model, bad option), 130 interrupted.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Final, TypeVar

from rich.console import Console

from workflow_agent.core.errors import WorkflowError
from workflow_agent.eval.harness import (
    AttemptResult,
    Job,
    Task,
    TaskFileError,
    Validation,
    is_self_test,
    load_tasks,
    run_attempt,
    validate_task,
)
from workflow_agent.eval.oracle import ORACLE, SELF_TESTS
from workflow_agent.eval.report import (
    attempt_line,
    document,
    print_report,
    print_validation,
    validation_document,
)

__all__ = ["main"]

EXIT_OK: Final = 0
EXIT_INVALID: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130
SANDBOXES: Final = ("auto", "bwrap", "landlock", "rlimits", "none")
SELF_TEST_NOTE: Final = (
    "harness self-test: the {model} model is scripted (oracle = the reference solutions, noop = `true`); "
    "this score checks the harness, not the product or any real model"
)

T = TypeVar("T")
R = TypeVar("R")


class _Usage(Exception):
    """Bad input: the message is printed and the exit code is 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m workflow_agent.eval",
        description=(
            "Teach a workflow for each task of a JSONL task file, run it in the sandbox and check the "
            "result; print pass@1 (and pass@k with --repeat). --validate checks the task file instead."
        ),
    )
    parser.add_argument("--tasks", type=Path, help="JSONL task file (default: tasks.jsonl of the cases dir)")
    parser.add_argument(
        "--model",
        help="model spec (anthropic:ID, openai:ID, ollama:NAME, test; default: the configured one). "
        f"Harness self-tests: {ORACLE} (answers with each task's reference solution, must score 100%%) "
        "and noop (answers `true`, must score 0%%)",
    )
    parser.add_argument("--limit", type=int, help="only the first N tasks")
    parser.add_argument("--repeat", type=int, default=1, help="attempts per task (K; pass@k for k <= K)")
    parser.add_argument("--jobs", type=int, default=1, help="attempts run in parallel (worker processes)")
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    parser.add_argument(
        "--validate", action="store_true", help="check the task file (reference passes, doing nothing fails)"
    )
    parser.add_argument("--sandbox", choices=SANDBOXES, default="auto", help="isolation for the runs")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed the problem (or --help)
        return EXIT_OK if exc.code in (0, None) else EXIT_USAGE
    err = Console(stderr=True, highlight=False)
    try:
        for flag in ("limit", "repeat", "jobs"):
            value = getattr(args, flag)
            if value is not None and value < 1:
                raise _Usage(f"--{flag} must be at least 1")
        path = args.tasks if args.tasks is not None else _default_tasks()
        tasks = load_tasks(path)[: args.limit]
        if args.validate:
            return _validate(tasks, str(path), args.jobs, args.json, err)
        return _evaluate(tasks, str(path), args, err)
    except (_Usage, TaskFileError) as exc:
        err.print(f"error: {exc}", style="red")
        return EXIT_USAGE
    except WorkflowError as exc:  # an unknown model, a missing key, a broken config.yaml
        err.print(f"error: {exc}", style="red")
        return EXIT_USAGE
    except KeyboardInterrupt:
        err.print("interrupted", style="yellow")
        return EXIT_INTERRUPTED


def _default_tasks() -> Path:
    from workflow_agent.cases import cases_dir

    return cases_dir() / "tasks.jsonl"


def _pool(jobs: int, processes: bool) -> Executor:
    if not processes:
        return ThreadPoolExecutor(max_workers=jobs)
    # spawn, not fork: the parent may have threads, and a worker must not inherit their locks.
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))


def _map(
    work: Callable[[T], R], items: Sequence[T], jobs: int, processes: bool, done: Callable[[R, int], None]
) -> list[R]:
    """``work`` over ``items``, in order when ``jobs`` is 1, else in a pool; ``done`` hears each result."""
    results: list[R] = []
    if jobs == 1 or len(items) == 1:
        for item in items:
            results.append(work(item))
            done(results[-1], len(results))
        return results
    with _pool(min(jobs, len(items)), processes) as pool:
        futures: Iterable[Future[R]] = [pool.submit(work, item) for item in items]
        try:
            for future in as_completed(futures):
                results.append(future.result())
                done(results[-1], len(results))
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return results


def _validate(tasks: list[Task], path: str, jobs: int, as_json: bool, err: Console) -> int:
    started = time.perf_counter()

    def done(result: Validation, count: int) -> None:
        state = "valid" if result.valid else "INVALID"
        err.print(f"[{count}/{len(tasks)}] {result.task_id} {state} {result.seconds:.1f}s", style="dim")

    results = _map(validate_task, tasks, jobs, False, done)
    doc = validation_document(results, path, time.perf_counter() - started)
    print_validation(doc, sys.stdout, as_json=as_json)
    return EXIT_OK if all(r.valid for r in results) else EXIT_INVALID


def _evaluate(tasks: list[Task], path: str, args: argparse.Namespace, err: Console) -> int:
    from workflow_agent.core.settings import load_settings

    home = load_settings().home
    spec: str | None = args.model
    if spec is not None and spec.strip().lower() in SELF_TESTS:
        name = spec = spec.strip().lower()
    else:
        from workflow_agent.models import resolve_model

        name = spec = resolve_model(spec, home=home).name  # fails early on an unknown model or missing key
    known = tuple(tasks) if spec == ORACLE else ()
    jobs = [
        Job(task, attempt, spec, args.sandbox, str(home), known)
        for task in tasks
        for attempt in range(1, args.repeat + 1)
    ]
    if is_self_test(spec):
        err.print(SELF_TEST_NOTE.format(model=spec), style="yellow")
    started = time.perf_counter()

    def done(result: AttemptResult, count: int) -> None:
        err.print(attempt_line(result, count, len(jobs)))

    results = _map(run_attempt, jobs, args.jobs, True, done)
    meta = {
        "model": name,
        "self_test": SELF_TEST_NOTE.format(model=spec) if is_self_test(spec) else None,
        "tasks_file": path,
        "repeat": args.repeat,
        "sandbox": args.sandbox,
    }
    doc = document(results, meta=meta, repeat=args.repeat, wall_seconds=time.perf_counter() - started)
    print_report(doc, sys.stdout, as_json=args.json)
    return EXIT_OK
