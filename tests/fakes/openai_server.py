"""A fake OpenAI API on 127.0.0.1: ``POST /v1/chat/completions`` (JSON and SSE chunks) and ``GET /v1/models``.

The same wire protocol Ollama, vLLM, llama.cpp server and LM Studio speak. Script it per test::

    fake.text("hello")
    fake.tool_call("final_result", {"answer": 42})
    fake.error(429, "rate_limit_exceeded", "slow down", {"retry-after": "1"})
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

from fakes.base import ErrorReply, FakeServer, Recorded, Response

__all__ = ["Completion", "FakeOpenAI"]

MODELS = ("gpt-4o-mini", "llama3.2")
CREATED = 1_767_225_600


@dataclass(frozen=True)
class Completion:
    """One scripted assistant message: text, or tool calls (name, arguments)."""

    text: str | None = None
    tool_calls: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    prompt_tokens: int = 11
    completion_tokens: int = 6

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"


class FakeOpenAI(FakeServer):
    def __init__(self, models: Sequence[str] = MODELS) -> None:
        super().__init__()
        self.models = list(models)

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    # -- scripting --------------------------------------------------------------------------
    def text(self, text: str, *, prompt_tokens: int = 11, completion_tokens: int = 6) -> Self:
        return self.push(Completion(text, (), prompt_tokens, completion_tokens))

    def tool_call(
        self, name: str, arguments: Mapping[str, Any], *, prompt_tokens: int = 11, completion_tokens: int = 6
    ) -> Self:
        return self.push(Completion(None, ((name, dict(arguments)),), prompt_tokens, completion_tokens))

    def error_body(self, error_type: str, message: str) -> dict[str, Any]:
        return {"error": {"message": message, "type": error_type, "param": None, "code": error_type}}

    # -- serving ----------------------------------------------------------------------------
    def handle(self, request: Recorded) -> Response | Iterator[bytes]:
        path = request.path.split("?", 1)[0]
        if request.method == "GET" and path == "/v1/models":
            if isinstance(self.next_action(peek=True), ErrorReply):
                return self.error_response(self.next_action())
            data = [{"id": m, "object": "model", "created": CREATED, "owned_by": "fake"} for m in self.models]
            return self.json_response({"object": "list", "data": data})
        if request.method != "POST" or path != "/v1/chat/completions":
            return self.json_response(self.error_body("not_found", f"no route {path}"), 404)
        action = self.next_action()
        if isinstance(action, ErrorReply):
            return self.error_response(action)
        if not isinstance(action, Completion):
            return self.unscripted(request)
        body = request.body if isinstance(request.body, dict) else {}
        model = str(body.get("model", "gpt"))
        completion_id = f"chatcmpl-{len(self.requests)}"
        usage = {
            "prompt_tokens": action.prompt_tokens,
            "completion_tokens": action.completion_tokens,
            "total_tokens": action.prompt_tokens + action.completion_tokens,
        }
        if body.get("stream"):
            return _chunks(action, model, completion_id, usage)
        message: dict[str, Any] = {"role": "assistant", "content": action.text}
        if action.tool_calls:
            message["tool_calls"] = [
                {
                    "id": f"call_{i}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
                for i, (name, args) in enumerate(action.tool_calls)
            ]
        return self.json_response(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": CREATED,
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": action.finish_reason}],
                "usage": usage,
            }
        )


def _chunks(action: Completion, model: str, completion_id: str, usage: Mapping[str, int]) -> Iterator[bytes]:
    def chunk(delta: Mapping[str, Any], finish: str | None = None) -> bytes:
        data = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "choices": [{"index": 0, "delta": dict(delta), "finish_reason": finish}],
        }
        return f"data: {json.dumps(data)}\n\n".encode()

    yield chunk({"role": "assistant", "content": ""})
    text = action.text or ""
    for start in range(0, len(text), 8):
        yield chunk({"content": text[start : start + 8]})
    for index, (name, args) in enumerate(action.tool_calls):
        opening = {
            "index": index,
            "id": f"call_{index}",
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        yield chunk({"tool_calls": [opening]})
        encoded = json.dumps(args)
        for start in range(0, len(encoded), 8):
            piece = {"index": index, "function": {"arguments": encoded[start : start + 8]}}
            yield chunk({"tool_calls": [piece]})
    yield chunk({}, action.finish_reason)
    final = {"id": completion_id, "object": "chat.completion.chunk", "created": CREATED, "model": model}
    yield f"data: {json.dumps({**final, 'choices': [], 'usage': dict(usage)})}\n\n".encode()
    yield b"data: [DONE]\n\n"
