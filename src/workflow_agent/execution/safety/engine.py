"""The analysis engine behind ``safety.analyze``: parses, walks and applies the rules."""

from __future__ import annotations

import gc

from workflow_agent.core.types import Language

from . import rules_exec, rules_fs, rules_net, rules_system, rules_vcs
from .bash import analyze_bash
from .context import Ctx, Facts, Point, Sink
from .embedded import scan_code
from .model import Verdict
from .python import analyze_python

_RULE_MODULES = (rules_exec, rules_fs, rules_net, rules_system, rules_vcs)  # imported to register rules


def analyze(code: str, language: Language) -> Verdict:
    """Analyse ``code`` written in ``language`` and return the verdict with its findings."""
    # One analysis makes many short-lived objects and no garbage worth collecting half-way:
    # pausing the cyclic collector saves about a third of the time on large Python scripts.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _analyze(code, language)
    finally:
        if collecting:
            gc.enable()


def _analyze(code: str, language: Language) -> Verdict:
    sink = Sink(code)
    ctx = Ctx(sink=sink, facts=Facts(), nested=_nested)
    if language is Language.PYTHON:
        analyze_python(code, ctx)
    else:
        analyze_bash(code, ctx)
    rules_net.secrets_and_network(ctx)
    return Verdict.from_findings(sink.findings)


def _nested(language: str, code: str, point: Point, parent: Ctx) -> None:
    ctx = parent.child(point)
    if language == "bash":
        analyze_bash(code, ctx)
    elif language == "python":
        analyze_python(code, ctx)
    else:
        scan_code(ctx, language, code, point)
