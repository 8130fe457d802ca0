"""Deterministic failure classifier: why did a run fail, from its output and exit status alone.

No model is involved, so it runs after every failed run, configured or not. The rules live in
``classify_rules``; this module decides between them:

1. our own runner's time-out always means TIMEOUT;
2. otherwise the last line of output that a *strong* rule matches decides (a traceback ends with
   the real error, and a status line is usually followed by the body that explains it); within
   one line the rule of highest priority wins; stderr is read before stdout;
3. failing that, the last line a *weak* rule matches (bare HTTP statuses, "No such file", ...);
4. failing that, or when the text only says OTHER, what the exit status implies (126, 127, a
   signal); SIGKILL by itself is *not* taken as out-of-memory: anything can send it.

Only the first ``SCAN_HEAD`` and last ``SCAN_TAIL`` characters of each stream are read, so the
cost is bounded whatever the size of the output.
"""

from __future__ import annotations

import string
from dataclasses import asdict, dataclass
from typing import Final

from workflow_agent.core.types import FailureClass
from workflow_agent.execution.classify_rules import (
    SIGKILL_EXPLANATION,
    SIGKILL_SUGGESTION,
    STRONG_RULES,
    WEAK_RULES,
    Rule,
)

__all__ = ["EVIDENCE_MAX", "SCAN_HEAD", "SCAN_TAIL", "Diagnosis", "classify_failure"]

SCAN_HEAD: Final = 8 * 1024
SCAN_TAIL: Final = 64 * 1024
EVIDENCE_MAX: Final = 200
# Characters of context kept before the match when a long line is cut down to EVIDENCE_MAX.
_EVIDENCE_LEAD: Final = 60
# Growing spans read from the end of the window; see _regions.
_REGION_SIZES: Final = (2 * 1024, 14 * 1024)
_ASCII_LOWER: Final = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)

_SIGKILL: Final = 9
_SIGXCPU: Final = 24
_SIGXFSZ: Final = 25
_CRASH_SIGNALS: Final = frozenset({4, 6, 7, 8, 11})  # SIGILL SIGABRT SIGBUS SIGFPE SIGSEGV
_STOP_SIGNALS: Final = frozenset({1, 2, 3, 15})  # SIGHUP SIGINT SIGQUIT SIGTERM
_MAX_SIGNAL: Final = 64


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """Why a run failed, in a form fit for history rows, JSON output and people."""

    failure_class: FailureClass
    evidence: str | None
    explanation: str
    suggestion: str

    def to_dict(self) -> dict[str, str | None]:
        data = asdict(self)
        data["failure_class"] = self.failure_class.value
        return data


_DEFAULTS: Final[dict[FailureClass, tuple[str, str]]] = {
    FailureClass.RATE_LIMIT: (
        "The service refused the request because too many were sent (rate limit).",
        "Add a retry with backoff, or run less often.",
    ),
    FailureClass.NETWORK: (
        "The script could not reach a server over the network (connection refused, reset or unreachable).",
        "Check that the server is up and the address right, and that the workflow declares network access.",
    ),
    FailureClass.AUTH: (
        "The service rejected the credentials (a missing, wrong or expired login, token or key).",
        "Check the credentials the workflow uses and that they reach it as secrets.",
    ),
    FailureClass.TIMEOUT: (
        "An operation took too long and gave up (time-out).",
        "Retry; if it keeps happening, raise the time limit or make the slow step smaller.",
    ),
    FailureClass.PERMISSION: (
        "The script was not allowed to read, write or run something (permission denied).",
        "Check the file's permissions and owner, or write somewhere the workflow may write.",
    ),
    FailureClass.MISSING_DEPENDENCY: (
        "A program, module or library the script needs is not installed or not on the PATH.",
        "Install the missing package, or fix its name or the PATH.",
    ),
    FailureClass.SYNTAX_ERROR: (
        "The script's code has a syntax error, so it could not run.",
        "Fix the line the error points at, and check the script runs under the right interpreter.",
    ),
    FailureClass.OOM: (
        "The process ran out of memory.",
        "Process the data in smaller pieces, or raise the workflow's memory limit.",
    ),
    FailureClass.DISK_FULL: (
        "There was no room to write: the disk is full, or a quota or file-size limit was reached.",
        "Free some space or write somewhere with more room; check quotas and file-size limits.",
    ),
    FailureClass.API_ERROR: (
        "The remote service returned an error that retrying soon will not fix.",
        "Read the service's error message and check the request and the account.",
    ),
    FailureClass.OTHER: (
        "The run failed for a reason the classifier does not recognise.",
        "Read the last lines of the output for the error message.",
    ),
}


@dataclass(frozen=True, slots=True)
class _Hint:
    failure_class: FailureClass
    explanation: str
    suggestion: str


_TIMED_OUT: Final = _Hint(
    FailureClass.TIMEOUT,
    "The run went over its time limit and was stopped.",
    "Raise the workflow's timeout, or make it do less per run.",
)


_SIGKILLED: Final = _Hint(FailureClass.OTHER, SIGKILL_EXPLANATION, SIGKILL_SUGGESTION)


@dataclass(frozen=True, slots=True)
class _Hit:
    rule: Rule
    evidence: str


def _window(text: str) -> str:
    if len(text) <= SCAN_HEAD + SCAN_TAIL:
        return text
    # The newline keeps a head line and a tail line from fusing into one.
    return f"{text[:SCAN_HEAD]}\n{text[-SCAN_TAIL:]}"


def _evidence(raw: str, line_start: int, match_start: int, match_end: int) -> str:
    line_end = raw.find("\n", match_end)
    line = raw[line_start : len(raw) if line_end < 0 else line_end].strip()
    if len(line) <= EVIDENCE_MAX:
        return line
    # Keep the match in view: on a long line it may sit far from the start.
    offset = line.find(raw[match_start:match_end])
    start = max(0, min(offset - _EVIDENCE_LEAD, len(line) - EVIDENCE_MAX))
    return line[start : start + EVIDENCE_MAX].strip()


def _last_hit(rules: tuple[Rule, ...], raw: str, lowered: str, start: int, end: int) -> _Hit | None:
    """In ``raw[start:end]``: the rule matching on the latest line, the highest-priority one on that line."""
    best: tuple[int, int, int, int, Rule] | None = None  # (line start, -priority, start, end, rule)
    for rule in rules:
        text = lowered if rule.lowered else raw
        for pattern in rule.patterns:
            last = None
            for last in pattern.finditer(text, start, end):  # noqa: B007
                pass
            if last is None:
                continue
            candidate = (raw.rfind("\n", 0, last.start()) + 1, -rule.priority, last.start(), last.end(), rule)
            if best is None or candidate[:2] > best[:2]:
                best = candidate
    if best is None:
        return None
    line_start, _, match_start, match_end, rule = best
    return _Hit(rule, _evidence(raw, line_start, match_start, match_end))


def _regions(raw: str) -> list[tuple[int, int]]:
    """Spans of whole lines, last first, growing: the decisive line is nearly always near the end,
    so most calls stop after the first small span instead of running every rule over the window."""
    regions = []
    end = len(raw)
    for size in _REGION_SIZES:
        if end <= size:
            break
        cut = raw.rfind("\n", 0, end - size) + 1
        if cut == 0:
            break
        regions.append((cut, end))
        end = cut
    regions.append((0, end))
    return regions


def _signal_of(exit_code: int | None, signal: int | None) -> int | None:
    if signal is not None:
        return signal
    if exit_code is None:
        return None
    if exit_code < 0:  # subprocess reports death by signal N as -N
        return -exit_code
    if 128 < exit_code <= 128 + _MAX_SIGNAL:  # shells report it as 128 + N
        return exit_code - 128
    return None


def _exit_hint(exit_code: int | None, signal: int | None) -> _Hint | None:
    if exit_code == 124:
        return _Hint(
            FailureClass.TIMEOUT,
            "A step was stopped by the `timeout` command inside the script (exit 124).",
            "Raise that step's time limit, or make it faster.",
        )
    if exit_code == 126:
        return _Hint(
            FailureClass.PERMISSION,
            "The shell found a command but could not execute it (exit 126: not executable or not permitted).",
            "Make the file executable (chmod +x) or run it through its interpreter.",
        )
    if exit_code == 127:
        return _Hint(
            FailureClass.MISSING_DEPENDENCY,
            "The shell could not find a command, or the interpreter a script names (exit 127).",
            "Install the missing program, or fix its name, path or the script's #! line.",
        )
    sig = _signal_of(exit_code, signal)
    if sig == _SIGKILL:
        return _SIGKILLED
    if sig == _SIGXCPU:
        return _Hint(
            FailureClass.TIMEOUT,
            "The process used up its CPU-time limit and was stopped (SIGXCPU).",
            "Raise the CPU-time limit, or make the work lighter.",
        )
    if sig == _SIGXFSZ:
        return _Hint(
            FailureClass.DISK_FULL,
            "The process tried to write a file bigger than its file-size limit (SIGXFSZ).",
            "Raise the file-size limit, or write smaller files.",
        )
    if sig in _CRASH_SIGNALS:
        return _Hint(
            FailureClass.OTHER,
            f"The program crashed (signal {sig}) instead of reporting an error.",
            "Rerun the crashing command alone; update or reinstall it if it keeps crashing.",
        )
    if sig in _STOP_SIGNALS:
        return _Hint(
            FailureClass.OTHER,
            f"The run was interrupted or terminated by a signal ({sig}).",
            "Run it again; find out what stopped it if this repeats.",
        )
    return None


def _from_hit(hit: _Hit) -> Diagnosis:
    explanation, suggestion = _DEFAULTS[hit.rule.failure_class]
    return Diagnosis(
        failure_class=hit.rule.failure_class,
        evidence=hit.evidence,
        explanation=hit.rule.explanation or explanation,
        suggestion=hit.rule.suggestion or suggestion,
    )


def _from_hint(hint: _Hint, evidence: str | None) -> Diagnosis:
    return Diagnosis(hint.failure_class, evidence, hint.explanation, hint.suggestion)


def _text_hit(stderr: str, stdout: str) -> _Hit | None:
    streams = []
    for text in (stderr, stdout):
        if text:
            raw = _window(text)
            streams.append((raw, raw.translate(_ASCII_LOWER), _regions(raw)))
    for rules in (STRONG_RULES, WEAK_RULES):
        for raw, lowered, regions in streams:
            for start, end in regions:
                hit = _last_hit(rules, raw, lowered, start, end)
                if hit is not None:
                    return hit
    return None


def classify_failure(
    stderr: str,
    stdout: str = "",
    *,
    exit_code: int | None = None,
    timed_out: bool = False,
    signal: int | None = None,
) -> Diagnosis:
    """Classify a failed run from its output and how it ended.

    ``timed_out`` means our runner stopped the run at its time limit; ``signal`` is the signal
    that ended it, when known (otherwise it is read from a negative or 128+N ``exit_code``).
    """
    if timed_out:
        return _from_hint(_TIMED_OUT, None)
    hit = _text_hit(stderr, stdout)
    if hit is not None and hit.rule.failure_class is not FailureClass.OTHER:
        return _from_hit(hit)
    hint = _exit_hint(exit_code, signal)
    evidence = None if hit is None else hit.evidence
    if hint is not None and (hit is None or hint.failure_class is not FailureClass.OTHER):
        return _from_hint(hint, evidence)
    if hit is not None:
        return _from_hit(hit)
    explanation, suggestion = _DEFAULTS[FailureClass.OTHER]
    return Diagnosis(FailureClass.OTHER, None, explanation, suggestion)
