"""Commands that manage workflows: add, list, show, edit, delete, versions, diff, rollback."""

from __future__ import annotations

import difflib
import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import typer

from workflow_agent import render
from workflow_agent.app.inputs import parse_assignments
from workflow_agent.commands.common import confirm, read_script, settings, store
from workflow_agent.core.errors import NotFoundError, ValidationError
from workflow_agent.core.types import Language, Workflow, WorkflowConfig
from workflow_agent.execution.syntax import check_syntax, detect_language, syntax_error
from workflow_agent.storage.workflows import validate_name


def _summary(workflow: Workflow) -> dict[str, Any]:
    return {**workflow.config.model_dump(mode="json"), "code": workflow.code}


def _language(value: str | None, filename: str | None, code: str) -> Language:
    if value is None:
        return detect_language(filename, code)
    try:
        return Language(value.lower())
    except ValueError:
        raise ValidationError(f"unknown language {value!r}", hint="Use bash or python.") from None


def add_workflow(
    name: str,
    source: str | None,
    file: Path | None,
    language: str | None,
    description: str,
    timeout: int,
    env: list[str],
    workdir: str | None,
    json_out: bool,
) -> None:
    validate_name(name)
    code, filename = read_script(file, source)
    lang = _language(language, filename, code)
    check_syntax(code, lang)
    config = WorkflowConfig(
        name=name,
        description=description,
        language=lang,
        timeout=timeout,
        env_vars=parse_assignments(env, "--env"),
        workdir=workdir,
    )
    workflow = store().create(config, code)
    if json_out:
        render.print_json(_summary(workflow))
    else:
        render.out.print(f"Added [bold]{name}[/] ({lang.value}, version 1). Run it with: workflow run {name}")


def list_workflows(json_out: bool) -> None:
    rows = store().listing()
    last_runs = _last_runs()
    if json_out:
        render.print_json(
            [
                {
                    "name": row.name,
                    "error": row.error,
                    **({} if row.workflow is None else row.workflow.config.model_dump(mode="json")),
                    "last_run": last_runs.get(row.name),
                }
                for row in rows
            ]
        )
        return
    if not rows:
        render.out.print("No workflows yet. Add one with `workflow add NAME --file script.sh`.")
        return
    grid = render.table("NAME", "LANG", "VER", "LAST RUN", "DESCRIPTION")
    for row in rows:
        last = last_runs.get(row.name)
        when = render.status_text(last["status"]) + f" {render.ago(last['started_at'])}" if last else "never"
        if row.workflow is None:
            grid.add_row(row.name, "?", "?", when, render.Text(f"broken: {row.error}", style="red"))
        else:
            config = row.workflow.config
            grid.add_row(row.name, config.language.value, str(config.version), when, config.description)
    render.out.print(grid)


def _last_runs() -> dict[str, dict[str, Any]]:
    """Last run per workflow, straight from SQLite without loading the history layer."""
    import sqlite3

    path = settings().history_path
    if not path.is_file():
        return {}
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        rows = conn.execute(
            "SELECT workflow_name, status, started_at FROM executions WHERE id IN "
            "(SELECT max(id) FROM executions GROUP BY workflow_name)"
        ).fetchall()
        conn.close()
    except sqlite3.Error:
        return {}
    return {name: {"status": status, "started_at": started} for name, status, started in rows}


def show_workflow(name: str, json_out: bool) -> None:
    workflows = store()
    workflow = workflows.load(name)
    if json_out:
        render.print_json({**_summary(workflow), "memory": workflows.memory(name)})
        return
    config = workflow.config
    render.out.print(f"[bold]{config.name}[/]  {config.description}")
    grid = render.table("", "")
    grid.add_row("language", config.language.value)
    grid.add_row("version", str(config.version))
    grid.add_row("timeout", f"{config.timeout}s")
    grid.add_row("workdir", config.workdir or "(where you run it)")
    if config.env_vars:
        grid.add_row("env", ", ".join(f"{k}={v}" for k, v in config.env_vars.items()))
    if config.params:
        grid.add_row("params", ", ".join(p.name + ("*" if p.required else "") for p in config.params))
    grid.add_row("updated", f"{config.updated_at:%Y-%m-%d %H:%M} ({render.ago(config.updated_at)})")
    grid.add_row("files", str(workflows.folder(name)))
    render.out.print(grid)
    render.out.print(render.code(workflow.code, config.language.value))


def _editor_command() -> list[str]:
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    return shlex.split(editor)


def edit_workflow(name: str, file: Path | None, no_input: bool, json_out: bool) -> None:
    workflows = store()
    workflow = workflows.load(name)
    language = workflow.config.language
    if file is not None:
        code, _ = read_script(file, None)
        check_syntax(code, language)
    else:
        code = _edit_in_editor(workflow, no_input)
    if code == workflow.code:
        render.err.print("No changes; nothing was saved.")
        if json_out:
            render.print_json(_summary(workflow))
        return
    saved = workflows.save_version(name, code)
    if json_out:
        render.print_json(_summary(saved))
    else:
        render.out.print(f"Saved [bold]{name}[/] version {saved.config.version}.")


def _edit_in_editor(workflow: Workflow, no_input: bool) -> str:
    return edit_text(workflow.code, workflow.config.language, workflow.name, no_input=no_input)


def edit_text(text: str, language: Language, label: str, *, no_input: bool = False) -> str:
    """Open ``text`` in the user's editor until it parses; the text is kept on disk if they give up."""
    handle, temp = tempfile.mkstemp(prefix=f"workflow-{label}-", suffix=language.extension)
    path = Path(temp)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    while True:
        command = [*_editor_command(), str(path)]
        try:
            status = subprocess.run(command, check=False).returncode
        except FileNotFoundError:
            path.unlink(missing_ok=True)
            raise ValidationError(
                f"editor {command[0]!r} not found", hint="Set $EDITOR, or pass the new code with --file."
            ) from None
        code = path.read_text(encoding="utf-8")
        if status != 0:
            raise ValidationError(
                f"the editor exited with code {status}; nothing was saved", hint=f"Your text: {path}"
            )
        error = syntax_error(code, language)
        if error is None:
            path.unlink(missing_ok=True)
            return code
        render.err.print(f"[red]{language.value} syntax error:[/] {error}")
        if no_input or not typer.confirm("Edit again?", default=True):
            # Keep the user's text: a failed save must never throw their work away.
            raise ValidationError(
                f"{language.value} syntax error: {error}; nothing was saved", hint=f"Your text: {path}"
            )


def delete_workflow(name: str, yes: bool, json_out: bool) -> None:
    workflows = store()
    if not workflows.exists(name):
        raise NotFoundError(f"no workflow named {name!r}", hint="See `workflow list` for the ones you have.")
    confirm(f"Delete workflow {name!r} and all its versions?", yes=yes)
    workflows.delete(name)
    if json_out:
        render.print_json({"deleted": name})
    else:
        render.out.print(f"Deleted {name}. Its run history is kept.")


def show_versions(name: str, json_out: bool) -> None:
    infos = store().versions(name)
    if json_out:
        render.print_json(
            [
                {
                    "version": v.version,
                    "language": v.language.value,
                    "saved_at": v.saved_at.isoformat(),
                    "current": v.current,
                    "path": str(v.path),
                }
                for v in infos
            ]
        )
        return
    grid = render.table("VERSION", "LANG", "SAVED", "")
    for info in infos:
        grid.add_row(
            str(info.version),
            info.language.value,
            render.ago(info.saved_at),
            "current" if info.current else "",
        )
    render.out.print(grid)


def show_diff(name: str, a: int | None, b: int | None, json_out: bool) -> None:
    workflows = store()
    numbers = [v.version for v in workflows.versions(name)]
    newer = b if b is not None else workflows.load_config(name).version
    older = a if a is not None else max((n for n in numbers if n < newer), default=None)
    if older is None:
        raise ValidationError(f"{name} has only one version before {newer}; nothing to compare")
    old_code, _ = workflows.version_code(name, older)
    new_code, _ = workflows.version_code(name, newer)
    lines = list(
        difflib.unified_diff(
            old_code.splitlines(keepends=True),
            new_code.splitlines(keepends=True),
            fromfile=f"{name} v{older}",
            tofile=f"{name} v{newer}",
        )
    )
    if json_out:
        render.print_json({"name": name, "from": older, "to": newer, "diff": "".join(lines)})
        return
    if not lines:
        render.out.print(f"Versions {older} and {newer} have the same code.")
        return
    render.diff(lines, render.out)


def rollback_workflow(name: str, version: int, json_out: bool) -> None:
    workflow = store().rollback(name, version)
    if json_out:
        render.print_json(_summary(workflow))
    else:
        render.out.print(
            f"{name} now runs the code of version {version}, saved as version {workflow.config.version}."
        )
