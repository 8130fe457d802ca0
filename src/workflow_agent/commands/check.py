"""`workflow check`: the static safety verdict for a workflow or a file, with findings on lines."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from workflow_agent import render
from workflow_agent.commands.common import read_script, store
from workflow_agent.core.errors import EXIT_OK, EXIT_REFUSED, ValidationError
from workflow_agent.core.types import Language
from workflow_agent.execution.safety import Decision, Verdict, analyze
from workflow_agent.execution.syntax import detect_language

DECISION_STYLE = {Decision.ALLOW: "bold green", Decision.ASK: "bold yellow", Decision.DENY: "bold red"}
SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


def print_verdict(verdict: Verdict, label: str, *, stream: Console | None = None) -> None:
    console = stream or render.out
    headline = render.Text.assemble(
        f"{label}: ", (verdict.decision.value.upper(), DECISION_STYLE[verdict.decision])
    )
    if not verdict.findings:
        headline.append("  no findings")
    console.print(headline)
    for finding in verdict.findings:
        console.print(
            render.Text.assemble(
                f"  {finding.line}:{finding.col}  ",
                (finding.severity.value, SEVERITY_STYLE.get(finding.severity.value, "")),
                f"  {finding.rule_id}",
            )
        )
        console.print(render.Text(f"      {finding.snippet}", style="dim"))
        console.print(f"      {finding.explanation}")


def check_command(name: str | None, file: Path | None, language: str | None, json_out: bool) -> int:
    if (name is None) == (file is None):
        raise ValidationError("give a workflow NAME or --file PATH (one of them)")
    if name is not None:
        workflow = store().load(name)
        code, lang, label = workflow.code, workflow.config.language, name
    else:
        code, filename = read_script(file, None)
        lang = Language(language.lower()) if language else detect_language(filename, code)
        label = str(file)
    verdict = analyze(code, lang)
    if json_out:
        render.print_json({"target": label, "language": lang.value, **verdict.to_dict()})
    else:
        print_verdict(verdict, label)
    return EXIT_REFUSED if verdict.decision is Decision.DENY else EXIT_OK
