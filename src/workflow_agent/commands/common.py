"""Helpers shared by command bodies: settings, stores, confirmation, reading scripts."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from workflow_agent.core.errors import Cancelled, ValidationError
from workflow_agent.core.settings import Settings, load_settings
from workflow_agent.execution.limits import remove_stale
from workflow_agent.execution.proctree import kill_orphans
from workflow_agent.execution.sandbox import Isolation
from workflow_agent.storage.history import HistoryStore
from workflow_agent.storage.workflows import WorkflowStore


def settings() -> Settings:
    return load_settings()


def store() -> WorkflowStore:
    return WorkflowStore(settings().home)


def _clean_up_after(token: str) -> None:
    kill_orphans(token)
    remove_stale()


def history() -> HistoryStore:
    # Whatever a crashed run left running (processes, its cgroup) goes when its row is found dead.
    return HistoryStore(settings().history_path, on_interrupted=_clean_up_after)


def isolation(value: str) -> Isolation:
    """The --sandbox value as an Isolation, or a usage error listing the choices."""
    try:
        return Isolation(value.lower())
    except ValueError:
        known = ", ".join(i.value for i in Isolation)
        raise ValidationError(f"unknown sandbox {value!r}", hint=f"Use one of: {known}.") from None


def confirm(question: str, *, yes: bool, no_input: bool = False, flag: str = "--yes") -> None:
    """Ask a yes/no question; refuse clearly when no one can answer."""
    if yes:
        return
    if no_input:
        raise ValidationError(
            f"{question} needs confirmation", hint=f"Pass {flag} to confirm without a prompt."
        )
    try:
        answer = typer.confirm(question, default=False)
    except typer.Abort:
        raise ValidationError(
            f"{question} needs confirmation and no answer came",
            hint=f"Pass {flag} to confirm without a prompt.",
        ) from None
    if not answer:
        raise Cancelled("cancelled; nothing was changed")


def read_script(file: Path | None, source: str | None) -> tuple[str, str | None]:
    """The script text and its file name, from --file PATH, --file - or a '-' argument."""
    if source not in (None, "-"):
        raise ValidationError(
            f"unexpected argument {source!r}", hint="Use --file PATH, or '-' to read stdin."
        )
    if file is not None and source == "-":
        raise ValidationError("give either --file or '-', not both")
    if file is None and source is None:
        raise ValidationError("no script given", hint="Use --file PATH, or pipe the script in with '-'.")
    if source == "-" or str(file) == "-":
        text = sys.stdin.read()
        name = None
    else:
        assert file is not None
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ValidationError(f"{file}: no such file") from None
        except IsADirectoryError:
            raise ValidationError(f"{file} is a directory, not a script") from None
        except UnicodeDecodeError:
            raise ValidationError(f"{file} is not UTF-8 text") from None
        name = file.name
    if not text.strip():
        raise ValidationError("the script is empty; nothing was saved")
    return text, name
