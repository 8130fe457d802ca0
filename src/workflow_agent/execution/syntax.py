"""Syntax checks for workflow code before it is saved."""

from __future__ import annotations

import shutil
import subprocess

from workflow_agent.core.errors import ValidationError
from workflow_agent.core.types import Language


def syntax_error(code: str, language: Language) -> str | None:
    """A one-line description of the first syntax error, or None when the code parses."""
    if language is Language.PYTHON:
        try:
            compile(code, "workflow.py", "exec")
        except SyntaxError as exc:
            return f"line {exc.lineno}: {exc.msg}"
        except ValueError as exc:  # e.g. null bytes
            return str(exc)
        return None
    bash = shutil.which("bash")
    if bash is None:
        return None  # cannot check here; the run itself will report it
    proc = subprocess.run(
        [bash, "-n", "/dev/stdin"], input=code.encode(), capture_output=True, timeout=30, check=False
    )
    if proc.returncode == 0:
        return None
    message = proc.stderr.decode(errors="replace").strip().splitlines()
    first = message[0] if message else "bash -n failed"
    return first.replace("/dev/stdin: ", "")


def check_syntax(code: str, language: Language) -> None:
    error = syntax_error(code, language)
    if error is not None:
        raise ValidationError(
            f"{language.value} syntax error: {error}", hint="Fix the script and try again; nothing was saved."
        )


def detect_language(filename: str | None, code: str) -> Language:
    """From the file extension, then the shebang; bash when nothing says otherwise."""
    if filename:
        lowered = filename.lower()
        if lowered.endswith(".py"):
            return Language.PYTHON
        if lowered.endswith((".sh", ".bash")):
            return Language.BASH
    first = code.split("\n", 1)[0]
    if first.startswith("#!") and "python" in first:
        return Language.PYTHON
    return Language.BASH
