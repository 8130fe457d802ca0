"""Commands about runs: run, history, stats."""

from __future__ import annotations

import os
import re
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import typer

from workflow_agent import render
from workflow_agent.app.gate import GatePolicy
from workflow_agent.app.inputs import parse_assignments
from workflow_agent.app.isolate import Prepared
from workflow_agent.app.run import RunHooks, RunOutcome, run_workflow
from workflow_agent.commands.check import print_verdict
from workflow_agent.commands.common import history, isolation, settings, store
from workflow_agent.core.errors import (
    EXIT_CANCELLED,
    EXIT_OK,
    EXIT_WORKFLOW_FAILED,
    SafetyRefusal,
    ValidationError,
)
from workflow_agent.core.types import ExecutionRecord, RunStatus
from workflow_agent.execution.runner import OutputSink
from workflow_agent.execution.safety import Decision, Verdict

AGE = re.compile(r"^(\d+)\s*([smhdw])$")
AGE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _sink(json_out: bool) -> OutputSink:
    def sink(stream: str, chunk: bytes) -> None:
        _write_all(2 if json_out or stream == "stderr" else 1, chunk)

    return sink


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP cancel the run like Ctrl-C, so the tree is killed and the row finished."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def record_dict(record: ExecutionRecord) -> dict[str, Any]:
    return record.model_dump(mode="json")


def _interactive() -> bool:
    """Offer follow-up questions only to a person at a terminal."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def _ask(question: str) -> bool:
    try:
        return typer.confirm(question, default=False, err=True)
    except typer.Abort:
        raise SafetyRefusal("no answer to the safety question", hint="Pass --yes to approve.") from None


def _typed(question: str) -> str:
    try:
        return str(typer.prompt(question, default="", show_default=False, err=True))
    except typer.Abort:
        raise SafetyRefusal("no confirmation typed for a denied script") from None


def _approve_packages(name: str, packages: list[str], *, yes: bool, no_input: bool) -> bool:
    """Dependencies are installed outside the sandbox, so the user approves the list first."""
    listed = ", ".join(packages)
    if yes:
        return True
    if no_input:
        raise ValidationError(
            f"{name} needs these packages installed first: {listed}",
            hint="Pass --yes to install them into its own cached environment.",
        )
    render.err.print(f"{name} declares dependencies: [bold]{listed}[/]")
    return typer.confirm("Install them into a cached environment for this workflow?", default=False, err=True)


def run_command(
    name: str,
    params: list[str],
    workdir: Path | None,
    timeout: float | None,
    quiet: bool,
    json_out: bool,
    sandbox: str = "auto",
    verbose: bool = False,
    yes: bool = False,
    force: bool = False,
    no_input: bool = False,
    model: str | None = None,
) -> int:
    values = parse_assignments(params, "--param")
    mode = isolation(sandbox)
    policy = GatePolicy(
        yes=yes,
        force=force,
        no_input=no_input,
        ask=_ask,
        typed=_typed,
    )

    def show_verdict(verdict: Verdict) -> None:
        # Findings are shown in full before a question; a refusal carries its own summary.
        will_ask = (verdict.decision is Decision.ASK and not yes) or (
            verdict.decision is Decision.DENY and force
        )
        if will_ask and not no_input:
            print_verdict(verdict, name, stream=render.err)

    def announce(prepared: Prepared) -> None:
        if prepared.warning:
            render.err.print(render.Text(f"warning: {prepared.warning}", style="bold yellow"))
        elif verbose:
            render.err.print(render.Text(prepared.banner, style="dim"))

    with history() as runs, _terminate_as_interrupt():
        outcome = run_workflow(
            store(),
            runs,
            settings(),
            name,
            params=values,
            workdir=workdir,
            timeout=timeout,
            sink=None if quiet else _sink(json_out),
            sandbox=mode,
            hooks=RunHooks(
                gate=policy,
                on_verdict=show_verdict,
                on_prepared=announce,
                approve_dependencies=lambda deps: _approve_packages(name, deps, yes=yes, no_input=no_input),
                dependency_output=lambda line: render.err.print(render.Text(f"  {line}", style="dim")),
            ),
        )
    _report(outcome, json_out)
    status = outcome.record.status
    if status in (RunStatus.FAILED, RunStatus.TIMEOUT) and not (json_out or no_input) and _interactive():
        from workflow_agent.commands.teach import offer_fix

        offer_fix(outcome.record, model=model, yes=yes)
    if status is RunStatus.SUCCESS:
        return EXIT_OK
    if status is RunStatus.CANCELLED:
        return EXIT_CANCELLED
    return EXIT_WORKFLOW_FAILED


def _report(outcome: RunOutcome, json_out: bool) -> None:
    record = outcome.record
    if json_out:
        data = record_dict(record)
        data["diagnosis"] = outcome.diagnosis.to_dict() if outcome.diagnosis else None
        render.print_json(data)
        return
    mark = "✓" if record.status is RunStatus.SUCCESS else "✗"
    line = f"{mark} {record.workflow_name} {record.status.value} in {render.seconds(record.duration)}"
    if record.exit_code not in (0, None):
        line += f" (exit {record.exit_code})"
    render.err.print(
        render.Text(f"{line}  [run {record.id}]", style=render.STATUS_STYLE.get(record.status.value, ""))
    )
    if record.error_message and record.status is not RunStatus.SUCCESS:
        render.err.print(f"  {record.error_message}")
    elif record.error_message:
        render.err.print(f"  note: {record.error_message}")
    if outcome.diagnosis is not None:
        diagnosis = outcome.diagnosis
        render.err.print(f"  [bold]{diagnosis.failure_class.value}[/]: {diagnosis.explanation}")
        if diagnosis.evidence:
            render.err.print(render.Text(f"  evidence: {diagnosis.evidence}", style="dim"))
        if diagnosis.suggestion:
            render.err.print(f"  next: {diagnosis.suggestion}")
    if record.log_path:
        render.err.print(f"  full output: {record.log_path}.stdout.log / .stderr.log")


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """An ISO date/time, or an age such as 30m, 12h, 7d, 2w."""
    now = now or datetime.now(UTC)
    match = AGE.match(value.strip())
    if match:
        return now - timedelta(**{AGE_UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            f"--since {value!r} is neither a date nor an age",
            hint="Examples: 2026-11-01, 2026-11-01T08:00, 12h, 7d.",
        ) from None
    return moment if moment.tzinfo else moment.astimezone(UTC)


def _status(value: str | None) -> RunStatus | None:
    if value is None:
        return None
    try:
        return RunStatus(value.lower())
    except ValueError:
        known = ", ".join(s.value for s in RunStatus)
        raise ValidationError(f"unknown status {value!r}", hint=f"Use one of: {known}.") from None


def show_history(
    name: str | None,
    status: str | None,
    since: str | None,
    limit: int,
    grep: str | None,
    run_id: int | None,
    json_out: bool,
) -> None:
    with history() as runs:
        if run_id is not None:
            runs.reap_interrupted()
            _show_one(runs.get(run_id), json_out)
            return
        records = runs.query(
            name, status=_status(status), since=parse_since(since) if since else None, grep=grep, limit=limit
        )
    if json_out:
        render.print_json([record_dict(r) for r in records])
        return
    if not records:
        render.out.print("No runs match." if (name or status or since or grep) else "No runs yet.")
        return
    grid = render.table("ID", "WORKFLOW", "VER", "STATUS", "STARTED", "DURATION", "EXIT", "CLASS")
    for r in records:
        grid.add_row(
            str(r.id),
            r.workflow_name,
            str(r.workflow_version or "-"),
            render.status_text(r.status.value),
            f"{r.started_at:%Y-%m-%d %H:%M:%S}",
            render.seconds(r.duration),
            "-" if r.exit_code is None else str(r.exit_code),
            r.failure_class.value if r.failure_class else "",
        )
    render.out.print(grid)


def _show_one(record: ExecutionRecord, json_out: bool) -> None:
    if json_out:
        render.print_json(record_dict(record))
        return
    render.out.print(
        render.Text.assemble(
            f"run {record.id}  {record.workflow_name} v{record.workflow_version or '?'}  ",
            render.status_text(record.status.value),
        )
    )
    grid = render.table("", "")
    grid.add_row("started", f"{record.started_at:%Y-%m-%d %H:%M:%S %Z}")
    grid.add_row("duration", render.seconds(record.duration))
    grid.add_row("exit code", "-" if record.exit_code is None else str(record.exit_code))
    grid.add_row("trigger", record.trigger)
    if record.failure_class:
        grid.add_row("failure class", record.failure_class.value)
    if record.error_message:
        grid.add_row("error", record.error_message)
    if record.log_path:
        grid.add_row("full log", f"{record.log_path}.stdout.log, {record.log_path}.stderr.log")
    render.out.print(grid)
    for title, text in (("stdout", record.stdout), ("stderr", record.stderr)):
        if text:
            render.out.print(f"[bold]── {title} ──[/]")
            render.out.print(render.Text(text.rstrip("\n")))


def show_stats(name: str | None, window: int, json_out: bool) -> None:
    if name is not None:
        store().load_config(name)  # a clear error for a name that does not exist
    with history() as runs:
        stats = runs.get_stats(name, trend_window=window)
    if json_out:
        render.print_json(
            [s.to_dict() for s in stats] if name is None else (stats[0].to_dict() if stats else None)
        )
        return
    if not stats:
        render.out.print(f"No runs of {name} yet." if name else "No runs yet.")
        return
    grid = render.table(
        "WORKFLOW", "RUNS", "OK", "MEAN", "P50", "P95", "LAST FAILURE", f"LAST {window}", "TOKENS", "COST"
    )
    for s in stats:
        last = s.last_failure
        failure = f"{render.ago(last.started_at)} ({last.failure_class or last.status})" if last else "-"
        change = ""
        if s.trend_success_rate is not None and s.previous_success_rate is not None:
            delta = s.trend_success_rate - s.previous_success_rate
            change = " ↑" if delta > 0.05 else " ↓" if delta < -0.05 else ""
        grid.add_row(
            s.workflow_name,
            str(s.runs),
            render.percent(s.success_rate),
            render.seconds(s.mean_duration),
            render.seconds(s.p50_duration),
            render.seconds(s.p95_duration),
            failure,
            f"{render.trend(s.trend)} {render.percent(s.trend_success_rate)}{change}",
            _tokens(s.input_tokens + s.output_tokens) if s.llm_calls else "-",
            f"${s.cost_usd:.3f}" if s.llm_calls else "-",
        )
    render.out.print(grid)


def _tokens(count: int) -> str:
    """Model tokens (input + output) in a few characters: 950, 12.3k, 4.1M."""
    if count < 1000:
        return str(count)
    if count < 1_000_000:
        return f"{count / 1000:.1f}k"
    return f"{count / 1_000_000:.1f}M"
