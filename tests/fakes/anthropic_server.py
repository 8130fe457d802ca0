"""A fake Anthropic Messages API on 127.0.0.1: ``POST /v1/messages`` (JSON and SSE) and ``GET /v1/models``.

Script it per test::

    fake.text("hello")                                   # an assistant message with one text block
    fake.tool_use("final_result", {"answer": 42})        # a tool_use block (stop_reason tool_use)
    fake.error(429, "rate_limit_error", "slow down", {"retry-after": "1"})
    fake.overloaded()                                    # 529 overloaded_error

Whether the reply is streamed follows the request's ``stream`` field, as the real API does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

from fakes.base import ErrorReply, FakeServer, Recorded, Response

__all__ = ["FakeAnthropic", "Message"]

MODELS = ("claude-sonnet-5-5", "claude-haiku-5-5", "claude-opus-5-5")


@dataclass(frozen=True)
class Message:
    """One scripted assistant message: content blocks, why it stopped, and its token usage."""

    content: tuple[Mapping[str, Any], ...]
    stop_reason: str = "end_turn"
    input_tokens: int = 12
    output_tokens: int = 7


class FakeAnthropic(FakeServer):
    def __init__(self, models: Sequence[str] = MODELS) -> None:
        super().__init__()
        self.models = list(models)

    # -- scripting --------------------------------------------------------------------------
    def text(self, text: str, *, input_tokens: int = 12, output_tokens: int = 7) -> Self:
        return self.push(Message(({"type": "text", "text": text},), "end_turn", input_tokens, output_tokens))

    def tool_use(
        self, name: str, arguments: Mapping[str, Any], *, input_tokens: int = 12, output_tokens: int = 7
    ) -> Self:
        block = {
            "type": "tool_use",
            "id": f"toolu_{len(self.queue)}_{name}",
            "name": name,
            "input": dict(arguments),
        }
        return self.push(Message((block,), "tool_use", input_tokens, output_tokens))

    def overloaded(self) -> Self:
        return self.error(529, "overloaded_error", "Overloaded")

    def error_body(self, error_type: str, message: str) -> dict[str, Any]:
        return {"type": "error", "error": {"type": error_type, "message": message}}

    # -- serving ----------------------------------------------------------------------------
    def handle(self, request: Recorded) -> Response | Iterator[bytes]:
        path = request.path.split("?", 1)[0]
        if request.method == "GET" and path == "/v1/models":
            if isinstance(self.next_action(peek=True), ErrorReply):
                return self.error_response(self.next_action())
            data = [
                {"type": "model", "id": m, "display_name": m, "created_at": "2026-01-01T00:00:00Z"}
                for m in self.models
            ]
            return self.json_response(
                {"data": data, "has_more": False, "first_id": self.models[0], "last_id": self.models[-1]}
            )
        if request.method != "POST" or path != "/v1/messages":
            return self.json_response(self.error_body("not_found_error", f"no route {path}"), 404)
        action = self.next_action()
        if isinstance(action, ErrorReply):
            return self.error_response(action)
        if not isinstance(action, Message):
            return self.unscripted(request)
        body = request.body if isinstance(request.body, dict) else {}
        model = str(body.get("model", "claude"))
        message_id = f"msg_{len(self.requests)}"
        if body.get("stream"):
            return _events(action, model, message_id)
        return self.json_response(
            {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": list(action.content),
                "stop_reason": action.stop_reason,
                "stop_sequence": None,
                "usage": {"input_tokens": action.input_tokens, "output_tokens": action.output_tokens},
            }
        )


def _sse(event: str, data: Mapping[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _events(message: Message, model: str, message_id: str) -> Iterator[bytes]:
    """The SSE stream the real API sends for ``message``, in small deltas."""
    yield _sse(
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": message.input_tokens, "output_tokens": 1},
            },
        },
    )
    for index, block in enumerate(message.content):
        start: dict[str, Any]
        if block["type"] == "text":
            start = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in _pieces(str(block["text"]))]
        else:
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            deltas = [
                {"type": "input_json_delta", "partial_json": piece}
                for piece in _pieces(json.dumps(block["input"]))
            ]
        yield _sse(
            "content_block_start", {"type": "content_block_start", "index": index, "content_block": start}
        )
        for delta in deltas:
            yield _sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        yield _sse("content_block_stop", {"type": "content_block_stop", "index": index})
    yield _sse(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": message.stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": message.output_tokens},
        },
    )
    yield _sse("message_stop", {"type": "message_stop"})


def _pieces(text: str, size: int = 8) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]
