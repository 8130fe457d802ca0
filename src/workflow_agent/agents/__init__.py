"""The agents: the only package that knows a model exists.

``Coder`` writes, improves and explains scripts; ``Reviewer`` reads failed runs and histories;
``compare_executions`` compares two runs without a model. Their outputs are the types in
``schemas``, which import no model library. The classes are loaded on first use, so importing
``workflow_agent.agents.schemas`` (as ``workflow run`` does) never imports pydantic-ai.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from workflow_agent.agents.schemas import (
    CallRecord,
    FailureAnalysis,
    GeneratedWorkflow,
    PatternReport,
    WorkflowTest,
)

if TYPE_CHECKING:
    from workflow_agent.agents.coder import Coder, CoderError, CoderTools
    from workflow_agent.agents.reviewer import Comparison, Reviewer, ReviewerError, compare_executions

__all__ = [
    "CallRecord",
    "Coder",
    "CoderError",
    "CoderTools",
    "Comparison",
    "FailureAnalysis",
    "GeneratedWorkflow",
    "PatternReport",
    "Reviewer",
    "ReviewerError",
    "WorkflowTest",
    "compare_executions",
]

_LAZY = {
    "Coder": "coder",
    "CoderError": "coder",
    "CoderTools": "coder",
    "Comparison": "reviewer",
    "Reviewer": "reviewer",
    "ReviewerError": "reviewer",
    "compare_executions": "reviewer",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)
