"""The `workflow` command line. Thin: parse, call the app layer, render, map errors to exit codes.

Only typer and the standard library are imported at start-up; every command imports what it
needs, so `workflow --help` and `workflow list` stay fast and never load a model library.
No `from __future__ import annotations` here: Typer reads these signatures at every start, and
real annotation objects save it evaluating strings (about half of building the command tree).
"""

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

app = typer.Typer(
    name="workflow",
    help="Teach, run and remember your routine jobs. State lives in $WORKFLOW_HOME (default ~/workflows).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Answer yes to questions.")]
NoInputOpt = Annotated[bool, typer.Option("--no-input", help="Never ask; fail instead of prompting.")]


def _exit(code: int) -> NoReturn:
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        from workflow_agent import __version__

        typer.echo(f"workflow {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Teach, run and remember your routine jobs."""


@app.command()
def add(
    name: Annotated[str, typer.Argument(help="Name for the workflow: lowercase letters, digits, - and _.")],
    source: Annotated[str | None, typer.Argument(help="'-' to read the script from standard input.")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Script file to add ('-' for stdin).")
    ] = None,
    language: Annotated[
        str | None, typer.Option("--language", "-l", help="bash or python (default: guess).")
    ] = None,
    description: Annotated[str, typer.Option("--description", "-d", help="What the workflow does.")] = "",
    timeout: Annotated[int, typer.Option("--timeout", help="Seconds before the run is killed.", min=1)] = 300,
    env: Annotated[
        list[str] | None, typer.Option("--env", "-e", help="KEY=VAL for the script's environment.")
    ] = None,
    workdir: Annotated[
        str | None, typer.Option("--workdir", help="Directory to run in (default: where you run it).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Add a script you already have as a named workflow (no model needed)."""
    from workflow_agent.commands.manage import add_workflow

    add_workflow(name, source, file, language, description, timeout, env or [], workdir, json_out)


ModelOpt = Annotated[
    str | None,
    typer.Option("--model", "-m", help="anthropic:ID, openai:ID (with OPENAI_BASE_URL), ollama:ID, or test."),
]


@app.command()
def teach(
    name: Annotated[str, typer.Argument(help="Name for the new workflow.")],
    description: Annotated[str, typer.Argument(help="The task, in a sentence.")],
    model: ModelOpt = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Save without asking if the safety check allows it.")
    ] = False,
    no_input: NoInputOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Describe a task; a model writes the script; you review, check and approve it."""
    from workflow_agent.commands.teach import teach_command

    _exit(teach_command(name, description, model, yes, no_input, json_out))


@app.command()
def improve(
    name: str,
    model: ModelOpt = None,
    feedback: Annotated[str | None, typer.Option("--feedback", "-f", help="What should change.")] = None,
    trial: Annotated[
        bool, typer.Option("--trial/--no-trial", help="Try the new version once in the sandbox.")
    ] = True,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Save the new version without asking.")] = False,
    no_input: NoInputOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Learn from a workflow's failures (and your feedback) and propose a better version."""
    from workflow_agent.commands.teach import improve_command

    _exit(improve_command(name, model, feedback, trial, yes, no_input, json_out))


@app.command()
def explain(name: str, model: ModelOpt = None, json_out: JsonOpt = False) -> None:
    """Have the model explain, step by step, what a workflow does."""
    from workflow_agent.commands.teach import explain_command

    _exit(explain_command(name, model, json_out))


@app.command("list")
def list_(json_out: JsonOpt = False) -> None:
    """List your workflows with their last run."""
    from workflow_agent.commands.manage import list_workflows

    list_workflows(json_out)


@app.command()
def show(name: str, json_out: JsonOpt = False) -> None:
    """Show a workflow's settings and code."""
    from workflow_agent.commands.manage import show_workflow

    show_workflow(name, json_out)


@app.command()
def edit(
    name: str,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Take the new code from this file ('-' for stdin).")
    ] = None,
    no_input: NoInputOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Edit a workflow's code in $EDITOR (or from --file) and save it as a new version."""
    from workflow_agent.commands.manage import edit_workflow

    edit_workflow(name, file, no_input, json_out)


@app.command()
def delete(name: str, yes: YesOpt = False, json_out: JsonOpt = False) -> None:
    """Delete a workflow and its versions (its run history is kept)."""
    from workflow_agent.commands.manage import delete_workflow

    delete_workflow(name, yes, json_out)


@app.command("run")
def run_(
    name: str,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="KEY=VAL, passed as an environment variable.")
    ] = None,
    workdir: Annotated[Path | None, typer.Option("--workdir", "-C", help="Directory to run in.")] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Override the timeout (seconds).", min=0.01)
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Do not stream the output live.")] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the run record as JSON (live output goes to stderr).")
    ] = False,
    sandbox: Annotated[
        str,
        typer.Option(
            "--sandbox",
            help="auto (strongest available), bwrap, landlock, rlimits, or none (no isolation at all).",
        ),
    ] = "auto",
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Say how the run is isolated.")] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Approve a script the safety check asks about.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Run a denied script after typing its name to confirm.")
    ] = False,
    no_input: NoInputOpt = False,
    model: ModelOpt = None,
) -> None:
    """Check, sandbox and run a workflow with live output; the run is recorded in history."""
    from workflow_agent.commands.runs import run_command

    _exit(
        run_command(
            name,
            param or [],
            workdir,
            timeout,
            quiet,
            json_out,
            sandbox,
            verbose,
            yes,
            force,
            no_input,
            model,
        )
    )


@app.command("test")
def workflow_tests(
    name: Annotated[str | None, typer.Argument(help="Workflow whose tests to run.")] = None,
    run_all: Annotated[bool, typer.Option("--all", help="Run the tests of every workflow.")] = False,
    add: Annotated[
        Path | None, typer.Option("--add", help="Check a test file and copy it into the workflow's tests/.")
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Approve a script the safety check asks about.")
    ] = False,
    sandbox: Annotated[
        str, typer.Option("--sandbox", help="auto, bwrap, landlock, rlimits, or none (as for run).")
    ] = "auto",
    json_out: JsonOpt = False,
) -> None:
    """Run a workflow's tests (tests/*.yaml in its folder): pass, fail or error for each, with the reason."""
    from workflow_agent.commands.wftest import wftest_command

    _exit(wftest_command(name, run_all, add, yes, sandbox, json_out))


@app.command()
def check(
    name: Annotated[str | None, typer.Argument(help="Workflow to check.")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Check a script file instead.")] = None,
    language: Annotated[
        str | None, typer.Option("--language", "-l", help="bash or python (for --file).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Static safety check: allow, ask or deny, with the reason on each line (exit 3 on deny)."""
    from workflow_agent.commands.check import check_command

    _exit(check_command(name, file, language, json_out))


@app.command()
def history(
    name: Annotated[str | None, typer.Argument(help="Only this workflow.")] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="success, failed, timeout, cancelled, interrupted, refused, running."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="ISO date/time, or an age like 30m, 12h, 7d.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Show at most this many runs.", min=1)] = 20,
    grep: Annotated[
        str | None,
        typer.Option("--grep", help="Only runs whose output or error contains TEXT (case-insensitive)."),
    ] = None,
    run_id: Annotated[int | None, typer.Option("--id", help="Show one run in full, with its output.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Show past runs, newest first."""
    from workflow_agent.commands.runs import show_history

    show_history(name, status, since, limit, grep, run_id, json_out)


@app.command()
def stats(
    name: Annotated[str | None, typer.Argument(help="Only this workflow.")] = None,
    window: Annotated[int, typer.Option("--window", help="Runs in the trend window.", min=1)] = 20,
    json_out: JsonOpt = False,
) -> None:
    """Runs, success rate, durations (mean, p50, p95), last failure and recent trend."""
    from workflow_agent.commands.runs import show_stats

    show_stats(name, window, json_out)


@app.command()
def versions(name: str, json_out: JsonOpt = False) -> None:
    """List a workflow's saved versions."""
    from workflow_agent.commands.manage import show_versions

    show_versions(name, json_out)


@app.command()
def diff(
    name: str,
    a: Annotated[int | None, typer.Argument(help="Older version (default: the one before B).")] = None,
    b: Annotated[int | None, typer.Argument(help="Newer version (default: current).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Show what changed between two versions."""
    from workflow_agent.commands.manage import show_diff

    show_diff(name, a, b, json_out)


@app.command()
def rollback(name: str, version: int, json_out: JsonOpt = False) -> None:
    """Make an earlier version current again (saved as a new version; nothing is lost)."""
    from workflow_agent.commands.manage import rollback_workflow

    rollback_workflow(name, version, json_out)


@app.command()
def models(
    check: Annotated[
        bool, typer.Option("--check/--no-check", help="Ask each provider whether it answers (a few seconds).")
    ] = True,
    json_out: JsonOpt = False,
) -> None:
    """List the models configured here and whether each answers (exit 4 if the one in use cannot)."""
    from workflow_agent.commands.models import models_command

    _exit(models_command(check, json_out))


@app.command()
def doctor(json_out: JsonOpt = False) -> None:
    """Show which sandbox runs get here, and what else this machine offers."""
    from workflow_agent.commands.doctor import doctor as run_doctor

    _exit(run_doctor(json_out))


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; every error is mapped here, once."""
    from workflow_agent.core.errors import EXIT_CANCELLED, WorkflowError

    args = sys.argv[1:] if argv is None else argv
    try:
        result = app(args=args, prog_name="workflow", standalone_mode=False)
    except WorkflowError as exc:
        _error(exc.message, exc.hint)
        return exc.exit_code
    except KeyboardInterrupt:
        _error("cancelled", None)
        return EXIT_CANCELLED
    except typer.Abort:
        _error("cancelled", None)
        return EXIT_CANCELLED
    except typer.Exit as exc:
        return int(exc.exit_code)
    except Exception as exc:
        usage = _usage_error(exc)
        if usage is None:
            raise
        return usage
    return int(result) if isinstance(result, int) else 0


def _usage_error(exc: Exception) -> int | None:
    from typer._click.exceptions import ClickException

    if isinstance(exc, ClickException):
        exc.show()
        return exc.exit_code
    return None


def _error(message: str, hint: str | None) -> None:
    sys.stderr.write(f"error: {message}\n")
    if hint:
        sys.stderr.write(f"{hint}\n")


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
