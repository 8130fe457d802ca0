"""Typed outputs of the agents, shared with the app layer (no model library imported here)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, Field

from workflow_agent.core.types import FailureClass, Language, Param, Permissions


class GeneratedWorkflow(BaseModel):
    """What the coder returns for a task: the script and everything the user approves with it."""

    language: Language
    code: str
    summary: str = Field(description="One paragraph: what the script does, step by step, in plain words.")
    permissions: Permissions = Field(default_factory=Permissions)
    params: list[Param] = Field(default_factory=list)
    test: WorkflowTest | None = None


class WorkflowTest(BaseModel):
    """A check the coder proposes with a workflow (used by `workflow test`, a later issue)."""

    setup: str = ""
    params: dict[str, str] = Field(default_factory=dict)
    expect_exit: int = 0
    expect_output: str | None = None


class FailureAnalysis(BaseModel):
    """The reviewer's reading of one failed run."""

    failure_class: FailureClass
    root_cause: str
    suggested_fix: str
    confidence: float = Field(ge=0.0, le=1.0)


class PatternReport(BaseModel):
    """The reviewer's reading of a workflow's recurring failures."""

    summary: str
    systemic_issues: list[str] = Field(default_factory=list)
    improvements: list[str] = Field(default_factory=list)
    learned_facts: list[str] = Field(
        default_factory=list, description="Short facts worth remembering in CLAUDE.md."
    )


@dataclass(frozen=True)
class CallRecord:
    """One model call, for the llm_calls table: what it was for and what it cost."""

    purpose: str  # "generate", "repair", "improve", "explain", "analyze_failure", "patterns", ...
    model: str
    input_tokens: int
    output_tokens: int
    duration_s: float
    requests: int = 1


GeneratedWorkflow.model_rebuild()
