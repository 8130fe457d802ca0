"""Loading the shared evaluation corpora (shared/cases/*.jsonl) for tests and benchmarks."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "WORKFLOW_CASES_DIR"


class CorpusMissing(FileNotFoundError):
    """The corpus directory or one of its files is not where it should be."""


@dataclass(frozen=True)
class Case:
    """One corpus row: a bash command, and the category of a dangerous row."""

    command: str
    category: str = ""
    note: str = ""


def cases_dir() -> Path:
    """``$WORKFLOW_CASES_DIR``, else ``shared/cases`` beside the repository root."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override)
    repo_root = Path(__file__).resolve().parents[4]
    return repo_root.parent / "shared" / "cases"


def load_corpus(name: str, directory: Path | None = None) -> list[Case]:
    """Rows of ``<name>.jsonl``; raises ``CorpusMissing`` with a clear message when absent."""
    base = directory or cases_dir()
    path = base / f"{name}.jsonl"
    if not path.is_file():
        raise CorpusMissing(
            f"corpus {path} not found: copy shared/cases beside the repository or set {ENV_VAR}"
        )
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                data = json.loads(line)
                rows.append(Case(data["command"], data.get("category", ""), data.get("note", "")))
    return rows
