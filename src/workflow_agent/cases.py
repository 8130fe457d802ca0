"""The shared evaluation corpora (shared/cases/*.jsonl), read by tests, benchmarks and evaluations."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ENV_VAR = "WORKFLOW_CASES_DIR"


class CasesMissing(FileNotFoundError):
    """A corpus file is not where it should be."""


def cases_dir() -> Path:
    """``$WORKFLOW_CASES_DIR``, else ``shared/cases`` beside the repository root."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override)
    repo_root = Path(__file__).resolve().parents[2]
    return repo_root.parent / "shared" / "cases"


def read_cases(name: str, directory: Path | None = None) -> list[dict[str, Any]]:
    """Rows of ``<name>.jsonl``; raises ``CasesMissing`` with a message that says how to fix it."""
    path = (directory or cases_dir()) / f"{name}.jsonl"
    if not path.is_file():
        raise CasesMissing(
            f"corpus {path} not found: copy shared/cases beside the repository or set {ENV_VAR}"
        )
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
