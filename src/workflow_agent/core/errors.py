"""One exception tree for the whole tool.

Every error a user can meet is a ``WorkflowError`` subclass whose message says what happened and
what to do next. The CLI maps each class to an exit code in one place (``exit_code``).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_WORKFLOW_FAILED = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_MODEL = 4
EXIT_CANCELLED = 130


class WorkflowError(Exception):
    """Root of every error the tool raises on purpose."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message}\n{self.hint}"


class ValidationError(WorkflowError):
    """Bad input from the user: a name, a flag value, a file."""


class NotFoundError(WorkflowError):
    """A workflow, version or execution that does not exist."""


class AlreadyExistsError(WorkflowError):
    """Creating something that is already there."""


class ConfigError(WorkflowError):
    """A config file on disk that cannot be read or does not validate."""


class StorageError(WorkflowError):
    """The history database or the workflow files could not be used."""


class SafetyRefusal(WorkflowError):
    """The safety policy refused to run or save code."""

    exit_code = EXIT_REFUSED


class ModelError(WorkflowError):
    """A model provider could not be used (no key, unreachable, refused)."""

    exit_code = EXIT_MODEL


class Cancelled(WorkflowError):
    """The user cancelled (Ctrl-C or answered no to a required question)."""

    exit_code = EXIT_CANCELLED
