"""The safety gate in front of every run: static analysis, then allow, ask or refuse.

`deny` is refused unless the user forces it and types the workflow's name; `ask` needs a yes
(remembered for that exact code, so a daily run asks once); `allow` runs. Every refusal is
recorded in history.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from workflow_agent import __version__
from workflow_agent.core.errors import SafetyRefusal
from workflow_agent.core.types import Workflow
from workflow_agent.execution.safety import Decision, Verdict, analyze
from workflow_agent.storage.files import atomic_write_text

APPROVALS_FILE = ".approved.json"


@dataclass(frozen=True)
class GatePolicy:
    """How the caller can answer: flags from the command line and, when interactive, prompts."""

    yes: bool = False
    force: bool = False
    no_input: bool = False
    ask: Callable[[str], bool] | None = None  # yes/no question
    typed: Callable[[str], str] | None = None  # free-text answer, for confirming a forced run


def code_digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def summary(verdict: Verdict, limit: int = 3) -> str:
    """One line per top finding, for refusal messages and history."""
    lines = [f"line {f.line}: {f.explanation} ({f.rule_id})" for f in verdict.findings[:limit]]
    more = len(verdict.findings) - limit
    if more > 0:
        lines.append(f"... and {more} more (see `workflow check`)")
    return "\n".join(lines)


class Approvals:
    """Code digests the user approved after an `ask`, per workflow folder."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / APPROVALS_FILE

    def _load(self) -> list[str]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return []
        return [d for d in data if isinstance(d, str)] if isinstance(data, list) else []

    def approved(self, digest: str) -> bool:
        return digest in self._load()

    def approve(self, digest: str) -> None:
        digests = [*[d for d in self._load() if d != digest][-49:], digest]
        atomic_write_text(self.path, json.dumps(digests))


VERDICT_FILE = ".verdict.json"


@functools.cache
def engine_fingerprint() -> str:
    """Changes whenever the analyzer's code does (an upgrade, an edit), so cached verdicts expire."""
    from workflow_agent.execution import safety

    folder = Path(safety.__file__).parent
    stamp = hashlib.sha256(__version__.encode())
    for path in sorted(folder.glob("*.py")):
        info = path.stat()
        stamp.update(f"{path.name}:{info.st_size}:{info.st_mtime_ns};".encode())
    return stamp.hexdigest()[:16]


def inspect(workflow: Workflow, folder: Path | None = None) -> Verdict:
    """The safety verdict for the workflow's code, reused while neither the code nor the analyzer changed.

    A daily run of an unchanged script then never loads the analysis engine at all.
    """
    key = f"{code_digest(workflow.code)}:{workflow.config.language.value}:{engine_fingerprint()}"
    cache = None if folder is None else folder / VERDICT_FILE
    if cache is not None:
        try:
            data = json.loads(cache.read_text())
            if data.get("key") == key:
                return Verdict.model_validate(data["verdict"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # no cache, or a damaged one: analyse again
    verdict = analyze(workflow.code, workflow.config.language)
    if cache is not None and cache.parent.is_dir():
        atomic_write_text(cache, json.dumps({"key": key, "verdict": verdict.to_dict()}))
    return verdict


def enforce(workflow: Workflow, verdict: Verdict, policy: GatePolicy, approvals: Approvals) -> None:
    """Return when the run may go ahead; raise SafetyRefusal (exit 3) when it may not."""
    name = workflow.name
    if verdict.decision is Decision.ALLOW:
        return
    if verdict.decision is Decision.DENY:
        if not policy.force:
            raise SafetyRefusal(
                f"refused to run {name}: the safety check denies it\n{summary(verdict)}",
                hint="Fix the script (`workflow edit`), or run it with --force and type its name to confirm.",
            )
        if policy.no_input or policy.typed is None:
            raise SafetyRefusal(
                f"refused to run {name}: --force needs a typed confirmation, and input is disabled",
                hint="Run it from a terminal without --no-input.",
            )
        answer = policy.typed(f"This script was denied. Type its name ({name}) to run it anyway")
        if answer.strip() != name:
            raise SafetyRefusal(f"refused to run {name}: confirmation did not match")
        return
    digest = code_digest(workflow.code)
    if approvals.approved(digest):
        return
    if not policy.yes:
        if policy.no_input or policy.ask is None:
            raise SafetyRefusal(
                f"{name} needs your approval before it runs\n{summary(verdict)}",
                hint="Review it with `workflow check`, then pass --yes to approve this version.",
            )
        if not policy.ask(f"Run {name} anyway? (remembered for this version of the code)"):
            raise SafetyRefusal(f"not running {name}: not approved")
    approvals.approve(digest)
