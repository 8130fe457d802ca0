"""Scripted models that check the harness itself, never the product: ``oracle`` and ``noop``.

``oracle`` answers every coder request with the reference solution of the task whose instruction
is in the prompt, so a working harness must score 100 % with it; ``noop`` answers with ``true``, so a
working harness must score 0 %. Both are pydantic-ai FunctionModels and fill the output tool the
way the built-in ``test`` model does (models/scripted.py). They are resolved inside ``eval`` only:
they are not in the model registry and their scores say nothing about any real model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from pydantic_ai.messages import ModelMessage, ModelResponse
    from pydantic_ai.models import Model
    from pydantic_ai.models.function import AgentInfo

    from workflow_agent.eval.harness import Task

__all__ = ["NOOP", "ORACLE", "SELF_TESTS", "noop_model", "oracle_model", "prompt_of", "workflow_args"]

ORACLE: Final = "oracle"
NOOP: Final = "noop"
SELF_TESTS: Final = (ORACLE, NOOP)
UNKNOWN_TASK: Final = "echo 'oracle: no task matches this prompt' >&2\nexit 1"


def workflow_args(code: str, summary: str) -> dict[str, Any]:
    """Arguments for the coder's output tool: a bash workflow with default permissions."""
    return {
        "language": "bash",
        "code": f"#!/usr/bin/env bash\n{code.strip()}\n",
        "summary": summary,
        "permissions": {},
        "params": [],
    }


def prompt_of(messages: list[ModelMessage]) -> str:
    """The text of the latest user prompt (the coder puts ``Task: <description>`` in it)."""
    from pydantic_ai.messages import ModelRequest, UserPromptPart

    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart):
                    return part.content if isinstance(part.content, str) else " ".join(map(str, part.content))
    return ""


def _model(name: str, answer: Callable[[str], tuple[str, str]]) -> Model:
    """A FunctionModel that calls the code-bearing output tool with ``answer(task)``."""
    from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart
    from pydantic_ai.models.function import FunctionModel

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        code, summary = answer(prompt_of(messages))
        tools = [t for t in info.output_tools if "code" in t.parameters_json_schema.get("properties", {})]
        if not tools:
            return ModelResponse(parts=[TextPart(f"({name} model) {summary}")], model_name=name)
        call = ToolCallPart(tools[0].name, workflow_args(code, summary))
        return ModelResponse(parts=[call], model_name=name)

    return FunctionModel(respond, model_name=name)


def oracle_model(tasks: Sequence[Task]) -> Model:
    """Answers each task with its reference solution (the longest instruction that matches wins)."""
    by_instruction = sorted(
        ((t.instruction.strip(), t) for t in tasks if t.instruction.strip()),
        key=lambda item: len(item[0]),
        reverse=True,
    )

    def answer(prompt: str) -> tuple[str, str]:
        for instruction, found in by_instruction:
            if f"Task: {instruction}" in prompt:
                return found.reference_solution, f"(oracle) reference solution of {found.id}"
        return UNKNOWN_TASK, "(oracle) no task matched"

    return _model(ORACLE, answer)


def noop_model() -> Model:
    """Answers every task with a script that does nothing."""
    return _model(NOOP, lambda prompt: ("true", "(noop) does nothing"))
