"""`workflow test`: run a workflow's own tests (tests/*.yaml in its folder), or add one."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from workflow_agent import render
from workflow_agent.app.wftests import CaseResult, Status, SuiteResult, add_test, run_suite
from workflow_agent.commands.common import history, isolation, settings, store
from workflow_agent.core.errors import EXIT_OK, EXIT_WORKFLOW_FAILED, ValidationError

MARK = {Status.PASSED: "✓", Status.FAILED: "✗", Status.ERROR: "!"}
STYLE = {Status.PASSED: "green", Status.FAILED: "red", Status.ERROR: "magenta"}


def wftest_command(
    name: str | None, run_all: bool, add: Path | None, yes: bool, sandbox: str, json_out: bool
) -> int:
    if run_all and (name or add):
        raise ValidationError("give a workflow name or --all, not both")
    if not run_all and not name:
        raise ValidationError("no workflow given", hint="Use `workflow test NAME`, or --all.")
    workflows = store()
    if add is not None:
        assert name is not None
        target = add_test(workflows, name, add)
        if json_out:
            render.print_json({"name": name, "added": str(target)})
        else:
            render.out.print(f"Added test {target.name} to {name}. Run it: workflow test {name}")
        return EXIT_OK
    mode = isolation(sandbox)
    names = workflows.names() if run_all else [name or ""]
    if not run_all:
        workflows.load_config(names[0])  # a clear "no workflow named" before anything runs
    suites: list[SuiteResult] = []
    with history() as runs:
        for each in names:
            suites.append(run_suite(workflows, runs, settings(), each, yes=yes, sandbox=mode))
    ok = all(suite.ok for suite in suites)
    if json_out:
        render.print_json({"ok": ok, "workflows": [suite.to_dict() for suite in suites]})
    else:
        _report(suites)
    return EXIT_OK if ok else EXIT_WORKFLOW_FAILED


def _line(result: CaseResult) -> render.Text:
    text = render.Text(f"  {MARK[result.status]} {result.name}", style=STYLE[result.status])
    text.append(f"  {result.status.value} in {render.seconds(result.duration)}", style="dim")
    if result.reason:
        text.append(f"\n      {result.reason}")
    return text


def report_suite(suite: SuiteResult, console: Console) -> None:
    """One workflow's results, one line per test (improve shows them too)."""
    if not suite.results:
        console.print(render.Text(f"{suite.workflow}: no tests", style="dim"))
        return
    console.print(render.Text(suite.workflow, style="bold"))
    for result in suite.results:
        console.print(_line(result))


def _report(suites: list[SuiteResult]) -> None:
    if not suites:
        render.out.print("No workflows yet.")
        return
    for suite in suites:
        report_suite(suite, render.out)
    count = {status: sum(s.count(status) for s in suites) for status in Status}
    render.out.print(
        f"{count[Status.PASSED]} passed, {count[Status.FAILED]} failed, {count[Status.ERROR]} error(s)"
    )
