"""The reviewer: explains failed runs and finds what keeps going wrong; compares two runs.

``analyze_failure`` and ``identify_patterns`` ask the model; ``compare_executions`` is plain
code. Prompts carry only the tails of outputs and the last runs, so a run that printed
gigabytes costs the same as one that printed a line (``PROMPT_LIMIT``).

The deterministic classifier's reading goes into the prompt as a hint. When the model picks
another class although the classifier had strong evidence (the runner's own time-out, or a
quoted line of output matching a known error), the model's class is kept, since it read more
context, but its confidence is capped at ``DISAGREE_CONFIDENCE`` so the flow can show the doubt.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from pydantic_ai import Agent
from pydantic_ai.models import Model

from workflow_agent.agents.runner import (
    MODEL_FAILURES,
    OnCall,
    describe_failure,
    fence,
    head_tail,
    load_prompt,
    run_agent,
    tail,
)
from workflow_agent.agents.schemas import FailureAnalysis, PatternReport
from workflow_agent.core.errors import EXIT_MODEL, WorkflowError
from workflow_agent.core.types import ExecutionRecord, FailureClass, FailurePattern, RunStatus, Workflow
from workflow_agent.execution.classify import Diagnosis, classify_failure

__all__ = ["Comparison", "LineDifference", "Reviewer", "ReviewerError", "compare_executions"]

PROMPT_LIMIT: Final = 22_000  # characters of user prompt; with the instructions, under 24 KB
STDERR_TAIL: Final = 6_000
STDOUT_TAIL: Final = 3_000
CODE_LIMIT: Final = 7_000
RECENT_FAILURE_RUNS: Final = 10
RECENT_PATTERN_RUNS: Final = 20
MAX_PATTERNS: Final = 10
MESSAGE_LIMIT: Final = 300
LINE_LIMIT: Final = 160
DISAGREE_CONFIDENCE: Final = 0.5
FACT_LIMIT: Final = 200
MAX_FACTS: Final = 8
DIFF_LINES: Final = 80


class ReviewerError(WorkflowError):
    """The model could not analyse the runs; the deterministic diagnosis still stands."""

    exit_code = EXIT_MODEL


class Reviewer:
    """Reads failed runs and run histories with ``model``."""

    def __init__(self, model: Model, *, on_call: OnCall | None = None) -> None:
        self.model = model
        self.on_call = on_call
        self.failure_agent: Agent[None, FailureAnalysis] = Agent(
            model,
            output_type=FailureAnalysis,
            instructions=load_prompt("failure"),
            retries=2,
            name="failure_reviewer",
        )
        self.pattern_agent: Agent[None, PatternReport] = Agent(
            model,
            output_type=PatternReport,
            instructions=load_prompt("patterns"),
            retries=2,
            name="pattern_reviewer",
        )

    def analyze_failure(
        self, execution: ExecutionRecord, code: str, recent: list[ExecutionRecord]
    ) -> FailureAnalysis:
        """Root cause and a concrete fix for one failed run."""
        diagnosis = diagnose(execution)
        prompt = failure_prompt(execution, code, recent, diagnosis)
        try:
            analysis = run_agent(
                self.failure_agent,
                prompt,
                deps=None,
                purpose="analyze_failure",
                model=self.model,
                on_call=self.on_call,
            )
        except MODEL_FAILURES as exc:
            raise ReviewerError(
                f"could not analyse run #{execution.id}: {describe_failure(exc)}",
                hint=f"The classifier's reading: {diagnosis.explanation} {diagnosis.suggestion}",
            ) from exc
        return reconcile(analysis, diagnosis, timed_out=execution.status is RunStatus.TIMEOUT)

    def identify_patterns(
        self, workflow: Workflow, patterns: list[FailurePattern], recent: list[ExecutionRecord]
    ) -> PatternReport:
        """Recurring issues, improvements and short facts worth remembering for ``workflow``."""
        prompt = patterns_prompt(workflow, patterns, recent)
        try:
            report = run_agent(
                self.pattern_agent,
                prompt,
                deps=None,
                purpose="patterns",
                model=self.model,
                on_call=self.on_call,
            )
        except MODEL_FAILURES as exc:
            raise ReviewerError(
                f"could not review the history of {workflow.name!r}: {describe_failure(exc)}",
                hint="Try again, or read `workflow history` and `workflow stats` yourself.",
            ) from exc
        return report.model_copy(update={"learned_facts": clean_facts(report.learned_facts)})


# -- prompts -----------------------------------------------------------------------------------


def diagnose(execution: ExecutionRecord) -> Diagnosis:
    """The deterministic classifier's reading of a stored run."""
    return classify_failure(
        execution.stderr,
        execution.stdout,
        exit_code=execution.exit_code,
        timed_out=execution.status is RunStatus.TIMEOUT,
    )


def failure_prompt(
    execution: ExecutionRecord, code: str, recent: Sequence[ExecutionRecord], diagnosis: Diagnosis
) -> str:
    """The user prompt for one failed run, at most ``PROMPT_LIMIT`` characters."""
    evidence = f' (evidence: "{diagnosis.evidence}")' if diagnosis.evidence else ""
    parts = [
        f"Workflow {execution.workflow_name!r}, version {execution.workflow_version or '?'}.",
        f"Run #{execution.id}: {_ending(execution)}.",
    ]
    if execution.error_message:
        parts.append(f"Runner's message: {_line(execution.error_message, MESSAGE_LIMIT)}")
    parts.append(
        f"Deterministic classifier: {diagnosis.failure_class.value}{evidence}. {diagnosis.explanation}"
    )
    parts.append("End of stderr:\n" + fence(tail(execution.stderr, STDERR_TAIL) or "(empty)"))
    parts.append("End of stdout:\n" + fence(tail(execution.stdout, STDOUT_TAIL) or "(empty)"))
    parts.append("Script:\n" + fence(head_tail(code, CODE_LIMIT)))
    others = [r for r in recent if r.id != execution.id]
    parts.append(_recent(others, RECENT_FAILURE_RUNS))
    return _bounded("\n\n".join(parts))


def patterns_prompt(
    workflow: Workflow, patterns: Sequence[FailurePattern], recent: Sequence[ExecutionRecord]
) -> str:
    """The user prompt for a workflow's history, at most ``PROMPT_LIMIT`` characters."""
    config = workflow.config
    parts = [
        f"Workflow {workflow.name!r}, version {config.version}, {config.language.value}.",
        f"Task: {_line(config.description, MESSAGE_LIMIT) or '(no description)'}",
        "Script:\n" + fence(head_tail(workflow.code, CODE_LIMIT), config.language.value),
    ]
    ordered = sorted(patterns, key=lambda p: (-p.count, p.pattern_type))[:MAX_PATTERNS]
    if ordered:
        lines = []
        for pattern in ordered:
            seen = f"{pattern.last_seen:%Y-%m-%d %H:%M}"
            line = f"- {pattern.pattern_type}: {pattern.count} time(s), last {seen}"
            messages = "; ".join(f'"{_line(m, LINE_LIMIT)}"' for m in pattern.error_messages[:3])
            if messages:
                line += f"; messages: {messages}"
            if pattern.suggested_fixes:
                line += "; fixes suggested before: " + "; ".join(
                    _line(f, LINE_LIMIT) for f in pattern.suggested_fixes[:2]
                )
            lines.append(line)
        parts.append("Failure patterns (most frequent first):\n" + "\n".join(lines))
    else:
        parts.append("Failure patterns: none recorded.")
    window = sorted(recent, key=lambda r: r.id, reverse=True)[:RECENT_PATTERN_RUNS]
    if window:
        passed = sum(r.status is RunStatus.SUCCESS for r in window)
        parts.append(f"{passed} of the last {len(window)} runs succeeded.")
    parts.append(_recent(window, RECENT_PATTERN_RUNS))
    return _bounded("\n\n".join(parts))


def _ending(record: ExecutionRecord) -> str:
    duration = "unknown duration" if record.duration is None else f"{record.duration:.1f} s"
    exit_code = "no exit code" if record.exit_code is None else f"exit code {record.exit_code}"
    sandbox = f", sandbox {record.sandbox}" if record.sandbox else ""
    return f"{record.status.value}, {exit_code}, {duration}, trigger {record.trigger}{sandbox}"


def _recent(records: Sequence[ExecutionRecord], limit: int) -> str:
    window = sorted(records, key=lambda r: r.id, reverse=True)[:limit]
    if not window:
        return "Recent runs: none."
    lines = []
    for record in window:
        line = f"- #{record.id} v{record.workflow_version or '?'} {_ending(record)}"
        if record.failure_class is not None:
            line += f", class {record.failure_class.value}"
        last = _last_line(record.stderr) or (
            _last_line(record.stdout) if record.status is not RunStatus.SUCCESS else ""
        )
        if last and record.status is not RunStatus.SUCCESS:
            line += f': "{_line(last, LINE_LIMIT)}"'
        lines.append(line)
    return "Recent runs (newest first):\n" + "\n".join(lines)


def _last_line(text: str) -> str:
    for line in reversed(text[-4096:].splitlines()):
        if line.strip():
            return line.strip()
    return ""


def _line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _bounded(prompt: str) -> str:
    # The parts are sized to fit; this only guards against a pathological mix (huge messages).
    return head_tail(prompt, PROMPT_LIMIT)


# -- post-processing ---------------------------------------------------------------------------


def reconcile(analysis: FailureAnalysis, diagnosis: Diagnosis, *, timed_out: bool) -> FailureAnalysis:
    """Cap the model's confidence when it contradicts strong deterministic evidence."""
    quoted = diagnosis.failure_class is not FailureClass.OTHER and diagnosis.evidence is not None
    strong = timed_out or quoted
    if strong and analysis.failure_class is not diagnosis.failure_class:
        return analysis.model_copy(update={"confidence": min(analysis.confidence, DISAGREE_CONFIDENCE)})
    return analysis


def clean_facts(facts: Sequence[str]) -> list[str]:
    """One line each, at most ``FACT_LIMIT`` characters, no duplicates, at most ``MAX_FACTS``."""
    kept: list[str] = []
    seen: set[str] = set()
    for fact in facts:
        flat = " ".join(fact.split()).lstrip("-*• ").strip()
        if not flat:
            continue
        if len(flat) > FACT_LIMIT:
            cut = flat[: FACT_LIMIT - 1]
            space = cut.rfind(" ")
            flat = (cut[:space] if space > FACT_LIMIT // 2 else cut).rstrip(" ,;:") + "…"
        key = flat.casefold()
        if key not in seen:
            seen.add(key)
            kept.append(flat)
    return kept[:MAX_FACTS]


# -- comparing two runs (no model) -------------------------------------------------------------


@dataclass(frozen=True)
class LineDifference:
    """The first line where one output stream of two runs differs (1-based; None past the end)."""

    stream: str
    line: int
    passing: str | None
    failing: str | None


@dataclass(frozen=True)
class Comparison:
    """What differs between a passing and a failing run of the same workflow."""

    passing_id: int
    failing_id: int
    passing_status: RunStatus
    failing_status: RunStatus
    passing_version: int | None
    failing_version: int | None
    code_changed: bool | None  # None when the codes were not given
    code_diff: str | None
    passing_exit: int | None
    failing_exit: int | None
    passing_duration: float | None
    failing_duration: float | None
    passing_class: FailureClass | None
    failing_class: FailureClass | None
    differences: tuple[LineDifference, ...]

    @property
    def version_changed(self) -> bool:
        return self.passing_version != self.failing_version

    @property
    def duration_ratio(self) -> float | None:
        """failing / passing duration, when both are known and the passing one is not zero."""
        if self.passing_duration is None or self.failing_duration is None or self.passing_duration <= 0:
            return None
        return self.failing_duration / self.passing_duration

    def _duration_notable(self) -> bool:
        ratio = self.duration_ratio
        if ratio is None or self.passing_duration is None or self.failing_duration is None:
            return False
        # Sub-second jitter is noise; a doubling (or halving) of a real duration is a clue.
        return max(self.passing_duration, self.failing_duration) >= 1.0 and not 0.5 < ratio < 2.0

    def summary(self) -> str:
        """A few lines naming each difference, or one line saying nothing changed."""
        items: list[str] = []
        if self.version_changed:
            before, after = self.passing_version or "?", self.failing_version or "?"
            items.append(f"- Version changed: v{before} → v{after}.")
        elif self.code_changed:
            items.append(f"- Same version (v{self.passing_version or '?'}) but the code differs.")
        if self.code_diff:
            items.append("  Code diff:\n" + "\n".join(f"    {line}" for line in self.code_diff.splitlines()))
        if self.passing_exit != self.failing_exit:
            items.append(f"- Exit code: {_opt(self.passing_exit)} → {_opt(self.failing_exit)}.")
        if self._duration_notable():
            ratio = self.duration_ratio
            assert ratio is not None
            items.append(
                f"- Duration: {self.passing_duration:.1f} s → {self.failing_duration:.1f} s ({ratio:.1f}×)."
            )
        if self.passing_class != self.failing_class:
            items.append(f"- Failure class: {_opt(self.passing_class)} → {_opt(self.failing_class)}.")
        for diff in self.differences:
            items.append(
                f"- First difference in {diff.stream}, line {diff.line}: "
                f"{_quote(diff.passing)} → {_quote(diff.failing)}."
            )
        if not items:
            return (
                f"Nothing changed between run #{self.passing_id} and run #{self.failing_id}: "
                "same version, exit code and output."
            )
        head = (
            f"Run #{self.passing_id} ({self.passing_status.value}) compared with "
            f"run #{self.failing_id} ({self.failing_status.value}):"
        )
        return "\n".join([head, *items])


def compare_executions(
    passing: ExecutionRecord,
    failing: ExecutionRecord,
    *,
    passing_code: str | None = None,
    failing_code: str | None = None,
) -> Comparison:
    """Compare a passing run with a failing one: version, code, exit, duration, class, output."""
    code_changed: bool | None = None
    code_diff: str | None = None
    if passing_code is not None and failing_code is not None:
        code_changed = passing_code != failing_code
        if code_changed:
            lines = list(
                difflib.unified_diff(
                    passing_code.splitlines(),
                    failing_code.splitlines(),
                    fromfile=f"v{passing.workflow_version or '?'} (run #{passing.id})",
                    tofile=f"v{failing.workflow_version or '?'} (run #{failing.id})",
                    lineterm="",
                )
            )
            if len(lines) > DIFF_LINES:
                lines = [*lines[:DIFF_LINES], f"[… {len(lines) - DIFF_LINES} more diff lines]"]
            code_diff = "\n".join(lines)
    differences = tuple(
        d
        for d in (
            _first_difference("stderr", passing.stderr, failing.stderr),
            _first_difference("stdout", passing.stdout, failing.stdout),
        )
        if d is not None
    )
    return Comparison(
        passing_id=passing.id,
        failing_id=failing.id,
        passing_status=passing.status,
        failing_status=failing.status,
        passing_version=passing.workflow_version,
        failing_version=failing.workflow_version,
        code_changed=code_changed,
        code_diff=code_diff,
        passing_exit=passing.exit_code,
        failing_exit=failing.exit_code,
        passing_duration=passing.duration,
        failing_duration=failing.duration,
        passing_class=_class_of(passing),
        failing_class=_class_of(failing),
        differences=differences,
    )


def _class_of(record: ExecutionRecord) -> FailureClass | None:
    if record.status is RunStatus.SUCCESS:
        return None
    return record.failure_class or diagnose(record).failure_class


_TRAILING = re.compile(r"[ \t\r]+$", re.MULTILINE)


def _first_difference(stream: str, before: str, after: str) -> LineDifference | None:
    a = _TRAILING.sub("", before).splitlines()
    b = _TRAILING.sub("", after).splitlines()
    for index in range(max(len(a), len(b))):
        left = a[index] if index < len(a) else None
        right = b[index] if index < len(b) else None
        if left != right:
            return LineDifference(stream, index + 1, left, right)
    return None


def _opt(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, FailureClass):
        return value.value
    return str(value)


def _quote(line: str | None) -> str:
    return "(no line)" if line is None else repr(_line(line, LINE_LIMIT))
