"""Verdict and finding types, positions of findings, and unparseable code."""

from __future__ import annotations

import json

import pytest

from workflow_agent.core.types import Language
from workflow_agent.execution.safety import Decision, Finding, Severity, Verdict, analyze


@pytest.mark.parametrize(
    ("severity", "decision"),
    [
        (Severity.INFO, Decision.ALLOW),
        (Severity.LOW, Decision.ALLOW),
        (Severity.MEDIUM, Decision.ASK),
        (Severity.HIGH, Decision.DENY),
        (Severity.CRITICAL, Decision.DENY),
    ],
)
def test_severity_maps_to_decision(severity: Severity, decision: Decision) -> None:
    assert severity.decision is decision


def _finding(rule: str, severity: Severity, line: int = 1) -> Finding:
    return Finding(rule_id=rule, severity=severity, line=line, col=1, snippet="x", explanation="y")


def test_verdict_takes_the_strictest_decision_and_sorts_findings() -> None:
    verdict = Verdict.from_findings(
        [_finding("a", Severity.LOW), _finding("b", Severity.HIGH, 3), _finding("c", Severity.MEDIUM)]
    )
    assert verdict.decision is Decision.DENY
    assert [f.rule_id for f in verdict.findings] == ["b", "c", "a"]
    assert Verdict.from_findings([]).decision is Decision.ALLOW
    assert Verdict.from_findings([_finding("a", Severity.LOW)]).decision is Decision.ALLOW


def test_verdict_serialises_to_json() -> None:
    verdict = analyze("rm -rf /", Language.BASH)
    data = json.loads(json.dumps(verdict.to_dict()))
    assert data["decision"] == "deny"
    finding = data["findings"][0]
    assert set(finding) == {"rule_id", "severity", "line", "col", "snippet", "explanation"}
    assert finding["severity"] == "critical"


def test_findings_are_frozen() -> None:
    finding = _finding("a", Severity.LOW)
    with pytest.raises(ValueError, match="frozen"):
        finding.line = 2


def test_line_and_column_point_at_the_command() -> None:
    code = "echo start\nif true; then\n    rm -rf /etc\nfi\n"
    verdict = analyze(code, Language.BASH)
    finding = verdict.findings[0]
    assert (finding.line, finding.col) == (3, 12)
    assert "rm -rf /etc" in finding.snippet


def test_column_counts_characters_not_bytes() -> None:
    code = "echo 'héllo wörld'; rm -rf ~"
    finding = analyze(code, Language.BASH).findings[0]
    assert finding.line == 1
    assert finding.col == code.index("~") + 1  # the deleted path; 2 more if bytes were counted


def test_nested_code_is_reported_at_its_string() -> None:
    verdict = analyze("ls\nbash -c 'echo hi; rm -rf /'", Language.BASH)
    finding = verdict.findings[0]
    assert (finding.line, finding.col) == (2, 9)
    assert finding.rule_id == "fs.delete-root"


def test_python_positions() -> None:
    verdict = analyze("import shutil\n\n\nshutil.rmtree('/')\n", Language.PYTHON)
    assert (verdict.findings[0].line, verdict.findings[0].col) == (4, 1)


def test_unparseable_bash_asks_and_shows_the_error() -> None:
    verdict = analyze("if then fi (", Language.BASH)
    assert verdict.decision is Decision.ASK
    assert verdict.findings[0].rule_id == "parse.error"
    assert "does not parse" in verdict.findings[0].explanation


def test_unparseable_bash_is_still_searched_for_danger() -> None:
    verdict = analyze("git log &&& rm -rf /", Language.BASH)
    assert verdict.decision is Decision.DENY
    assert {f.rule_id for f in verdict.findings} == {"parse.error", "fs.delete-root"}


def test_missing_heredoc_body_is_a_parse_error() -> None:
    assert analyze("python3 <<EOF", Language.BASH).decision is Decision.ASK


def test_unparseable_python_asks_with_the_line() -> None:
    verdict = analyze("x = 1\ndef broken(:\n", Language.PYTHON)
    assert verdict.decision is Decision.ASK
    assert verdict.findings[0].line == 2
    assert "line 2" in verdict.findings[0].explanation


def test_empty_code_is_allowed() -> None:
    assert analyze("", Language.BASH).findings == []
    assert analyze("", Language.PYTHON).decision is Decision.ALLOW


def test_long_snippets_are_shortened() -> None:
    verdict = analyze("rm -rf / " + "x" * 300, Language.BASH)
    assert len(verdict.findings[0].snippet) <= 120
