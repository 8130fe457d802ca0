"""The checks the coder may call while it writes, reported as short plain text for the model.

Every check is deterministic code from ``execution/``; the model only sees its report. The
number of calls in one run is bounded (``MAX_TOOL_CALLS``): past it, a tool answers that the
budget is spent, so a model that loops on its tools still has to answer.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from pydantic_ai import Agent, RunContext

from workflow_agent.agents.runner import OnEvent
from workflow_agent.agents.schemas import GeneratedWorkflow
from workflow_agent.core.types import Language
from workflow_agent.execution.safety import Decision, Verdict, analyze
from workflow_agent.execution.syntax import syntax_error

__all__ = [
    "MAX_TOOL_CALLS",
    "CoderTools",
    "Session",
    "dry_run_report",
    "findings_text",
    "register_tools",
    "safety_report",
    "shellcheck_available",
    "shellcheck_report",
    "syntax_report",
]

MAX_TOOL_CALLS: Final = 8
SHELLCHECK_TIMEOUT: Final = 15.0
REPORT_LIMIT: Final = 3000
MAX_FINDINGS: Final = 10


@dataclass
class CoderTools:
    """Which checks the coder may call; ``dry_run`` is a sandboxed trial run the flow may inject."""

    syntax: bool = True
    shellcheck: bool = True  # used only when the shellcheck program is installed
    safety: bool = True
    dry_run: Callable[[GeneratedWorkflow], str] | None = None


@dataclass
class Session:
    """State of one coder run, handed to its tools and its output validator as deps."""

    on_event: OnEvent | None = None
    max_rounds: int = 3
    tool_calls: int = 0
    rounds: int = 0
    problems: list[str] = field(default_factory=list)

    def event(self, message: str) -> None:
        if self.on_event is not None:
            self.on_event(message)

    def spend(self) -> bool:
        """Count a tool call; False once the budget is spent."""
        self.tool_calls += 1
        return self.tool_calls <= MAX_TOOL_CALLS


_SPENT = "Tool budget for this answer is spent: return the final workflow now."


def _clip(text: str, limit: int = REPORT_LIMIT) -> str:
    return text if len(text) <= limit else text[:limit] + "\n[… output truncated]"


def findings_text(verdict: Verdict, limit: int = MAX_FINDINGS) -> str:
    """One line per finding: where, which rule, how bad, and why."""
    lines = [
        f"- line {f.line}: [{f.rule_id}, {f.severity.value}] {f.explanation} (`{f.snippet[:80]}`)"
        for f in verdict.findings[:limit]
    ]
    if len(verdict.findings) > limit:
        lines.append(f"- … and {len(verdict.findings) - limit} more")
    return "\n".join(lines)


def safety_report(verdict: Verdict) -> str:
    """What the safety policy would decide, and the findings behind it."""
    head = {
        Decision.ALLOW: "allow: the script would run without asking.",
        Decision.ASK: "ask: the person will be asked to approve these points.",
        Decision.DENY: "deny: the script would be refused; rewrite the parts below.",
    }[verdict.decision]
    return head if not verdict.findings else f"{head}\n{findings_text(verdict)}"


def syntax_report(language: Language, code: str) -> str:
    """The interpreter's syntax check, plus tree-sitter's parse errors for bash."""
    problems = []
    error = syntax_error(code, language)
    if error is not None:
        problems.append(f"{language.value} syntax error: {error}")
    if language is Language.BASH:
        # bash -n accepts some code the safety parser cannot read; such code can only be "ask".
        problems.extend(
            f"parser: {f.explanation}" for f in analyze(code, language).findings if f.rule_id == "parse.error"
        )
    return "\n".join(problems) if problems else "ok: no syntax errors."


def shellcheck_available() -> bool:
    return shutil.which("shellcheck") is not None


def shellcheck_report(code: str, *, timeout: float = SHELLCHECK_TIMEOUT) -> str:
    """shellcheck's findings in gcc format (``-:line:col: level: message [SCnnnn]``), truncated."""
    program = shutil.which("shellcheck")
    if program is None:
        return "shellcheck is not installed here."
    try:
        proc = subprocess.run(
            [program, "-f", "gcc", "-s", "bash", "-"],
            input=code.encode(),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"shellcheck did not finish within {timeout:g} s."
    out = proc.stdout.decode(errors="replace").strip()
    if proc.returncode == 0 and not out:
        return "ok: shellcheck found nothing."
    if not out:
        return _clip(f"shellcheck failed: {proc.stderr.decode(errors='replace').strip()}")
    return _clip(out)


def dry_run_report(run: Callable[[GeneratedWorkflow], str], workflow: GeneratedWorkflow) -> str:
    """Run ``workflow`` through the injected dry run, only if it parses and the policy allows it.

    Nobody has approved the script yet, so code the policy would ask about is not run either.
    """
    error = syntax_error(workflow.code, workflow.language)
    if error is not None:
        return f"not run: {workflow.language.value} syntax error: {error}"
    verdict = analyze(workflow.code, workflow.language)
    if verdict.decision is not Decision.ALLOW:
        return f"not run: the safety check says {safety_report(verdict)}"
    return _clip(run(workflow))


def register_tools(agent: Agent[Session, GeneratedWorkflow], config: CoderTools) -> list[str]:
    """Attach the enabled checks to ``agent``; returns the names of the tools registered."""
    names: list[str] = []
    if config.syntax:

        @agent.tool
        def check_syntax(ctx: RunContext[Session], language: Language, code: str) -> str:
            """Check a script for syntax errors (bash -n, or Python's compiler)."""
            if not ctx.deps.spend():
                return _SPENT
            ctx.deps.event("checking syntax")
            return syntax_report(language, code)

        names.append("check_syntax")
    if config.shellcheck and shellcheck_available():

        @agent.tool
        def run_shellcheck(ctx: RunContext[Session], code: str) -> str:
            """Lint a bash script with shellcheck; returns its warnings with line numbers."""
            if not ctx.deps.spend():
                return _SPENT
            ctx.deps.event("running shellcheck")
            return shellcheck_report(code)

        names.append("run_shellcheck")
    if config.safety:

        @agent.tool
        def check_safety(ctx: RunContext[Session], language: Language, code: str) -> str:
            """Ask the safety policy what it would decide for this script (allow, ask or deny), and why."""
            if not ctx.deps.spend():
                return _SPENT
            verdict = analyze(code, language)
            ctx.deps.event(f"safety check: {verdict.decision.value} ({_count(verdict)})")
            return safety_report(verdict)

        names.append("check_safety")
    if config.dry_run is not None:
        run = config.dry_run

        @agent.tool
        def dry_run(ctx: RunContext[Session], workflow: GeneratedWorkflow) -> str:
            """Run the workflow once in a sandbox with its default parameters; returns exit and output."""
            if not ctx.deps.spend():
                return _SPENT
            ctx.deps.event("dry run")
            return dry_run_report(run, workflow)

        names.append("dry_run")
    return names


def _count(verdict: Verdict) -> str:
    n = len(verdict.findings)
    return f"{n} finding" if n == 1 else f"{n} findings"
