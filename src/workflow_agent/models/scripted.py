"""The ``test`` model: a scripted, deterministic stand-in for a real one, registered like a real one.

It never leaves the process. For any output tool (or native/prompted output schema) it answers with
data that validates against the schema; for a coder request (a schema with a ``code`` field) that
data is a small bash script that echoes the task. Plain-text requests get one sentence about the task.
So `workflow teach x "..." --model test` runs the whole flow with no key and no network.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from pydantic_ai.messages import ModelMessage, ModelResponse
    from pydantic_ai.models import Model
    from pydantic_ai.models.function import AgentInfo, DeltaToolCalls

__all__ = ["TEST_MODEL_NAME", "sample", "scripted_model", "task_of"]

TEST_MODEL_NAME: Final = "test"
TASK_LIMIT: Final = 200
_TASK_PREFIXES: Final = ("task:", "description:")
# Fields that read as prose: the scripted answer puts the task there so a person can see where it came from.
_PROSE: Final = frozenset({"summary", "description", "root_cause", "suggested_fix", "explanation"})

JsonSchema = Mapping[str, Any]


def scripted_model() -> Model:
    """A FunctionModel named ``test`` that answers every request deterministically."""
    from pydantic_ai.models.function import FunctionModel

    return FunctionModel(_respond, stream_function=_respond_stream, model_name=TEST_MODEL_NAME)


def task_of(messages: list[ModelMessage]) -> str:
    """The task the latest user prompt asks about: its ``Task:`` line, else its first non-empty line."""
    from pydantic_ai.messages import ModelRequest, UserPromptPart

    for message in reversed(messages):
        if not isinstance(message, ModelRequest):
            continue
        for part in message.parts:
            if isinstance(part, UserPromptPart):
                text = part.content if isinstance(part.content, str) else " ".join(map(str, part.content))
                return _task_line(text)
    return "nothing in particular"


def _task_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.lower().startswith(_TASK_PREFIXES):
            lines = [line.split(":", 1)[1].strip()]
            break
    first = lines[0] if lines else "nothing in particular"
    return first[:TASK_LIMIT]


def _answer(messages: list[ModelMessage], info: AgentInfo) -> tuple[str, dict[str, Any]] | str:
    """A tool call (name, arguments) for structured output, or text."""
    task = task_of(messages)
    if info.output_tools:
        tools = info.output_tools
        tool = next((t for t in tools if "code" in t.parameters_json_schema.get("properties", {})), tools[0])
        args = sample(tool.parameters_json_schema, task)
        return tool.name, args if isinstance(args, dict) else {"response": args}
    output_object = info.model_request_parameters.output_object
    if output_object is not None:
        return json.dumps(sample(output_object.json_schema, task))
    return f"(test model) This workflow is about: {task}"


def _respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart

    answer = _answer(messages, info)
    if isinstance(answer, str):
        return ModelResponse(parts=[TextPart(answer)], model_name=TEST_MODEL_NAME)
    name, args = answer
    return ModelResponse(parts=[ToolCallPart(name, args)], model_name=TEST_MODEL_NAME)


async def _respond_stream(
    messages: list[ModelMessage], info: AgentInfo
) -> AsyncIterator[str | DeltaToolCalls]:
    from pydantic_ai.models.function import DeltaToolCall

    answer = _answer(messages, info)
    if isinstance(answer, str):
        yield answer
        return
    name, args = answer
    yield {0: DeltaToolCall(name=name, json_args=json.dumps(args))}


def script_for(task: str, language: str = "bash") -> str:
    """A script that only repeats ``task``: harmless, valid, and easy to recognise in a test."""
    if language == "python":
        return f'"""Written by the test model."""\n\nprint({task!r})\n'
    return f"#!/usr/bin/env bash\n# Written by the test model.\nset -euo pipefail\necho {shlex.quote(task)}\n"


def sample(schema: JsonSchema, task: str) -> Any:
    """A value that validates against ``schema`` (the subset pydantic emits), filled in from ``task``."""
    return _Sampler(schema.get("$defs", {}), task).value(schema, "", {})


class _Sampler:
    def __init__(self, defs: Mapping[str, JsonSchema], task: str) -> None:
        self.defs = defs
        self.task = task

    def _deref(self, schema: JsonSchema) -> JsonSchema:
        seen = 0
        while "$ref" in schema and seen < 32:
            schema = self.defs.get(str(schema["$ref"]).rsplit("/", 1)[-1], {})
            seen += 1
        return schema

    def value(self, schema: JsonSchema, field: str, siblings: Mapping[str, Any]) -> Any:
        schema = self._deref(schema)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            options = list(schema["enum"])
            return "bash" if "bash" in options else options[0] if options else None
        for key in ("anyOf", "oneOf", "allOf"):
            if key in schema:
                choices = [self._deref(s) for s in schema[key]]
                usable = [c for c in choices if c.get("type") != "null"] or choices
                return self.value(usable[0], field, siblings) if usable else None
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind == "object" or (kind is None and "properties" in schema):
            return self._object(schema)
        if kind == "array":
            item = schema.get("items", {})
            return [self.value(item, field, {}) for _ in range(int(schema.get("minItems", 0)))]
        if kind == "integer":
            return int(self._number(schema, 0))
        if kind == "number":
            return self._number(schema, 0.5)
        if kind == "boolean":
            return False
        if kind == "null":
            return None
        return self._string(schema, field, siblings)

    def _object(self, schema: JsonSchema) -> dict[str, Any]:
        result: dict[str, Any] = {}
        required = set(schema.get("required", ()))
        for name, sub in schema.get("properties", {}).items():
            if name in required:
                result[name] = self.value(sub, name, result)
        return result

    @staticmethod
    def _number(schema: JsonSchema, preferred: float) -> float:
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        value = preferred
        if low is not None and value <= low:
            value = low + (1 if "exclusiveMinimum" in schema else 0)
        if high is not None and value >= high:
            value = high - (1 if "exclusiveMaximum" in schema else 0)
        return float(value)

    def _string(self, schema: JsonSchema, field: str, siblings: Mapping[str, Any]) -> str:
        if field == "code":
            text = script_for(self.task, str(siblings.get("language", "bash")))
        elif field in _PROSE:
            text = f"(test model) {self.task}"
        elif schema.get("format") == "date-time":
            text = "2000-01-01T00:00:00Z"
        else:
            text = self.task
        max_length = schema.get("maxLength")
        if max_length is not None:
            text = text[: int(max_length)]
        return text.ljust(int(schema.get("minLength", 0)), "x")
