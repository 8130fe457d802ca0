"""Running one agent call: synchronously, timed, its cost reported as a ``CallRecord``.

Also the small text helpers every prompt uses, so that what reaches a model stays bounded
whatever the size of a script, an output or a memory file.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import cache
from importlib.resources import files
from typing import Final, TypeVar

import pydantic_ai
from pydantic_ai import Agent, UsageLimits, capture_run_messages
from pydantic_ai.exceptions import (
    AgentRunError,
    ModelAPIError,
    UnexpectedModelBehavior,
    UsageLimitExceeded,
)
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import Model

from workflow_agent.agents.schemas import CallRecord

__all__ = [
    "MODEL_FAILURES",
    "OnCall",
    "OnEvent",
    "describe_failure",
    "fence",
    "head_tail",
    "load_prompt",
    "run_agent",
    "tail",
]

OnCall = Callable[[CallRecord], None]
OnEvent = Callable[[str], None]

# The library's first-run banner would land in the middle of our own output (teach shows code and
# asks questions on the terminal): this program owns its output.
pydantic_ai.BANNER_ENABLED = False

DepsT = TypeVar("DepsT")
OutputT = TypeVar("OutputT")

MARKER: Final = "[… {n} characters cut …]"

# What the agents turn into their own errors: the model answered, but not usably. Provider failures
# (ModelAPIError: no key, unreachable, rate limited) propagate unchanged, so that models.errors can
# name the provider, the key variable and the URL in its message.
MODEL_FAILURES: Final = (UnexpectedModelBehavior, UsageLimitExceeded)


@cache
def load_prompt(name: str) -> str:
    """The text of ``prompts/<name>.txt``, shipped inside the package."""
    return (files("workflow_agent.agents") / "prompts" / f"{name}.txt").read_text(encoding="utf-8").strip()


def tail(text: str, limit: int) -> str:
    """The last ``limit`` characters of ``text``, starting at a line when one starts close by."""
    if len(text) <= limit:
        return text
    cut = text[-limit:]
    newline = cut.find("\n")
    if 0 <= newline < limit // 4:  # drop the partial first line unless that loses too much
        cut = cut[newline + 1 :]
    return MARKER.format(n=len(text) - len(cut)) + "\n" + cut


def head_tail(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters, keeping its start and its end (scripts, memory)."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n{MARKER.format(n=len(text) - 2 * half)}\n{text[-half:]}"


def fence(text: str, info: str = "") -> str:
    """``text`` in a Markdown code fence longer than any backtick run inside it."""
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    marks = "`" * max(3, longest + 1)
    return f"{marks}{info}\n{text.rstrip()}\n{marks}"


def describe_failure(exc: AgentRunError) -> str:
    """One sentence for the person: what went wrong with the model call."""
    if isinstance(exc, UsageLimitExceeded):
        return f"the model used more requests than allowed ({exc})"
    if isinstance(exc, ModelAPIError):
        return f"the model provider failed ({exc})"
    if isinstance(exc, UnexpectedModelBehavior):
        return f"the model's answer could not be used ({exc})"
    return f"the model call failed ({exc})"


def run_agent(
    agent: Agent[DepsT, OutputT],
    prompt: str,
    *,
    deps: DepsT,
    purpose: str,
    model: Model,
    on_call: OnCall | None,
    usage_limits: UsageLimits | None = None,
) -> OutputT:
    """Run ``agent`` once and return its output; ``on_call`` hears the cost even when it fails."""
    started = time.perf_counter()
    with capture_run_messages() as messages:
        try:
            result = agent.run_sync(prompt, deps=deps, usage_limits=usage_limits)
        except BaseException:
            # A failed call still cost tokens: count them from the responses that did arrive.
            if on_call is not None:
                on_call(_from_messages(messages, purpose, model.model_name, time.perf_counter() - started))
            raise
    if on_call is not None:
        usage = result.usage
        on_call(
            CallRecord(
                purpose=purpose,
                model=model.model_name,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                duration_s=time.perf_counter() - started,
                requests=usage.requests,
            )
        )
    return result.output


def _from_messages(messages: Sequence[ModelMessage], purpose: str, model: str, duration: float) -> CallRecord:
    responses = [m for m in messages if isinstance(m, ModelResponse)]
    return CallRecord(
        purpose=purpose,
        model=model,
        input_tokens=sum(r.usage.input_tokens for r in responses),
        output_tokens=sum(r.usage.output_tokens for r in responses),
        duration_s=duration,
        requests=len(responses),
    )
