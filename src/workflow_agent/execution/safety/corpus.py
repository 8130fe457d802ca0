"""Loading the shared evaluation corpora (shared/cases/*.jsonl) for tests and benchmarks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workflow_agent.cases import ENV_VAR, cases_dir, read_cases
from workflow_agent.cases import CasesMissing as CorpusMissing

__all__ = ["ENV_VAR", "Case", "CorpusMissing", "cases_dir", "load_corpus"]


@dataclass(frozen=True)
class Case:
    """One corpus row: a bash command, and the category of a dangerous row."""

    command: str
    category: str = ""
    note: str = ""


def load_corpus(name: str, directory: Path | None = None) -> list[Case]:
    """Rows of ``<name>.jsonl`` as cases; raises ``CorpusMissing`` with a clear message when absent."""
    return [
        Case(row["command"], row.get("category", ""), row.get("note", ""))
        for row in read_cases(name, directory)
    ]
