"""Static safety analysis of bash and Python scripts.

``analyze(code, language)`` parses the code (tree-sitter-bash for shell, ``ast`` for Python),
follows shell strings wherever they hide (``bash -c``, ``eval``, pipes, here-documents,
``subprocess.run(..., shell=True)``), and returns a ``Verdict``: allow, ask or deny, with one
``Finding`` per reason, each anchored at a line and column and explained in one sentence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .model import Decision, Finding, Severity, Verdict

if TYPE_CHECKING:
    from workflow_agent.core.types import Language

__all__ = ["Decision", "Finding", "Severity", "Verdict", "analyze"]


def analyze(code: str, language: Language) -> Verdict:
    """Analyse ``code`` written in ``language`` and return the verdict with its findings."""
    # The engine (tree-sitter, the rule tables) loads on first use, so reading a cached verdict
    # or a Finding does not pay for it.
    from .engine import analyze as run_engine

    return run_engine(code, language)
