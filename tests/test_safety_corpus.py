"""The analyzer against the shared corpora: dangerous commands are caught, everyday ones are not."""

from __future__ import annotations

import os
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from workflow_agent.core.types import Language
from workflow_agent.execution.safety import Decision, analyze
from workflow_agent.execution.safety.corpus import ENV_VAR, Case, CorpusMissing, cases_dir, load_corpus

CASES = Path(os.environ.get(ENV_VAR) or Path(__file__).resolve().parents[1].parent / "shared" / "cases")


def _load(name: str) -> list[Case]:
    try:
        return load_corpus(name, CASES)
    except CorpusMissing as exc:
        pytest.fail(f"{exc} (the safety targets cannot be checked without it)")


def _decisions(name: str) -> tuple[Counter[Decision], list[str]]:
    counts: Counter[Decision] = Counter()
    misses = []
    for case in _load(name):
        decision = analyze(case.command, Language.BASH).decision
        counts[decision] += 1
        wrong = decision is Decision.ALLOW if name == "dangerous" else decision is not Decision.ALLOW
        if wrong:
            misses.append(f"{decision.value}: {case.command[:100]!r}")
    return counts, misses


def test_dangerous_commands_are_denied_or_asked() -> None:
    counts, misses = _decisions("dangerous")
    total = sum(counts.values())
    assert total > 200
    caught = (counts[Decision.DENY] + counts[Decision.ASK]) / total
    assert caught >= 0.97, "\n".join(misses)


def test_benign_commands_run_without_friction() -> None:
    counts, misses = _decisions("benign")
    total = sum(counts.values())
    assert total > 500
    assert counts[Decision.DENY] / total <= 0.02, "\n".join(misses)
    assert counts[Decision.ASK] / total <= 0.10, "\n".join(misses)


def test_gray_commands_are_mostly_not_denied() -> None:
    counts, _ = _decisions("gray")
    total = sum(counts.values())
    # Policy-dependent rows: asking is ideal, but either side can be defended; a flood of
    # denials would mean the rules treat ordinary risk as catastrophe.
    assert counts[Decision.DENY] / total <= 0.15


@pytest.mark.parametrize("name", ["dangerous", "benign", "gray"])
def test_finding_texts_are_printable_on_every_row(name: str) -> None:
    bad = []
    for case in _load(name):
        for finding in analyze(case.command, Language.BASH).findings:
            text = finding.snippet + finding.explanation
            if any(unicodedata.category(c) == "Cc" for c in text):
                bad.append(f"{case.command[:60]!r}: {finding.rule_id} {text!r}")
    assert not bad, "\n".join(bad)


def test_missing_corpus_is_an_error_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(CorpusMissing, match=ENV_VAR):
        load_corpus("dangerous", tmp_path)


def test_cases_dir_honours_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert cases_dir() == tmp_path
    monkeypatch.delenv(ENV_VAR)
    assert cases_dir().parts[-2:] == ("shared", "cases")


def test_load_corpus_reads_rows(tmp_path: Path) -> None:
    (tmp_path / "dangerous.jsonl").write_text(
        '{"command": "rm -rf /", "category": "x:y"}\n\n{"command": "ls"}\n', encoding="utf-8"
    )
    rows = load_corpus("dangerous", tmp_path)
    assert rows == [Case("rm -rf /", "x:y"), Case("ls")]
