"""Result types of the static safety analysis: severities, decisions, findings and the verdict."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Decision(StrEnum):
    """What the caller should do with the code."""

    ALLOW = "allow"
    ASK = "ask"
    DENY = "deny"

    @property
    def rank(self) -> int:
        """Position in the order from least to most severe."""
        return _DECISION_RANK[self]


_DECISION_RANK = {Decision.ALLOW: 0, Decision.ASK: 1, Decision.DENY: 2}


class Severity(StrEnum):
    """How bad a finding is; each level maps to one decision (see ``decision``)."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Position in the order from least to most severe."""
        return _SEVERITY_RANK[self]

    @property
    def decision(self) -> Decision:
        """CRITICAL/HIGH deny, MEDIUM asks, LOW/INFO are notes that still allow."""
        if self.rank >= _SEVERITY_RANK[Severity.HIGH]:
            return Decision.DENY
        if self is Severity.MEDIUM:
            return Decision.ASK
        return Decision.ALLOW


_SEVERITY_RANK = {
    Severity.INFO: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}


class Finding(BaseModel):
    """One reason for concern, anchored at a 1-based line and column of the analysed code."""

    model_config = ConfigDict(frozen=True)

    rule_id: str
    severity: Severity
    line: int = Field(ge=1)
    col: int = Field(ge=1)
    snippet: str
    explanation: str

    @property
    def decision(self) -> Decision:
        """What this finding alone would mean for the run."""
        return self.severity.decision


class Verdict(BaseModel):
    """The outcome of ``analyze``: the strictest decision over all findings, and the findings."""

    model_config = ConfigDict(frozen=True)

    decision: Decision
    findings: list[Finding] = Field(default_factory=list)

    @classmethod
    def from_findings(cls, findings: list[Finding]) -> Verdict:
        """Build a verdict whose decision is the maximum over the findings (ALLOW when none)."""
        ordered = sorted(findings, key=lambda f: (-f.severity.rank, f.line, f.col, f.rule_id))
        decision = Decision.ALLOW
        for finding in ordered:
            if finding.decision.rank > decision.rank:
                decision = finding.decision
        return cls(decision=decision, findings=ordered)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for ``--json`` output."""
        return self.model_dump(mode="json")
