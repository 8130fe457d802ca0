"""The coder: writes a workflow script from a sentence, improves one from its history, explains one.

The model may call deterministic checks while it writes (``tools.py``); whatever it returns is
checked again here, in the output validator: a syntax error or a script the safety policy would
deny goes back to the model with the reason, at most ``max_rounds`` times in all. A script the
policy would only *ask* about passes: the person sees those findings before approving.
"""

from __future__ import annotations

import json
from typing import Final

from pydantic_ai import Agent, ModelRetry, RunContext, ToolOutput, UsageLimits
from pydantic_ai.exceptions import UnexpectedModelBehavior
from pydantic_ai.models import Model

from workflow_agent.agents.runner import (
    MODEL_FAILURES,
    OnCall,
    OnEvent,
    describe_failure,
    fence,
    head_tail,
    load_prompt,
    run_agent,
)
from workflow_agent.agents.schemas import GeneratedWorkflow
from workflow_agent.agents.tools import MAX_TOOL_CALLS, CoderTools, Session, findings_text, register_tools
from workflow_agent.core.errors import EXIT_MODEL, ValidationError, WorkflowError
from workflow_agent.core.types import Language, Workflow
from workflow_agent.execution.safety import Decision, analyze
from workflow_agent.execution.syntax import syntax_error

__all__ = ["Coder", "CoderError", "CoderTools"]

# Bounds on what one prompt carries (characters): an improve prompt, the largest, stays under 40 KB
# with the instructions. Scripts are rarely near CODE_LIMIT; improve refuses longer ones.
DESCRIPTION_LIMIT: Final = 2_000
MEMORY_LIMIT: Final = 8_000
CODE_LIMIT: Final = 16_000
NOTE_LIMIT: Final = 8_000

_NO_SAVE_HINT: Final = (
    "Nothing was saved. Try again, describe the task differently, or choose another model with --model."
)


class CoderError(WorkflowError):
    """The model could not produce a usable script (or could not be reached); nothing was saved."""

    exit_code = EXIT_MODEL


class Coder:
    """Writes, improves and explains workflow scripts with ``model``."""

    def __init__(
        self,
        model: Model,
        *,
        tools: CoderTools | None = None,
        on_call: OnCall | None = None,
        max_rounds: int = 3,
    ) -> None:
        if max_rounds < 1:
            raise ValueError("max_rounds must be at least 1")
        self.model = model
        self.on_call = on_call
        self.max_rounds = max_rounds
        self.writer: Agent[Session, GeneratedWorkflow] = Agent(
            model,
            output_type=ToolOutput(
                GeneratedWorkflow,
                name="submit_workflow",
                description="Return the finished workflow: language, code, summary, params, permissions.",
            ),
            deps_type=Session,
            instructions=load_prompt("coder"),
            # Output retries: the rounds after the first. Tool retries only cover malformed tool calls.
            retries={"output": max_rounds - 1, "tools": 2},
            name="coder",
        )
        self.writer.output_validator(_validate)
        self.tool_names = register_tools(self.writer, tools if tools is not None else CoderTools())
        self.explainer: Agent[None, str] = Agent(
            model, output_type=str, instructions=load_prompt("explain"), name="explainer"
        )

    def generate(
        self,
        description: str,
        *,
        memory: str = "",
        feedback: str | None = None,
        previous: GeneratedWorkflow | None = None,
        on_event: OnEvent | None = None,
    ) -> GeneratedWorkflow:
        """A new script for ``description``; with ``previous``/``feedback``, a revision of that draft."""
        parts = [f"Task: {head_tail(description.strip(), DESCRIPTION_LIMIT)}"]
        if memory.strip():
            parts.append(_memory(memory))
        if previous is not None:
            parts.append(
                f"The person read this draft ({previous.language.value}) and wants changes:\n"
                + fence(head_tail(previous.code, CODE_LIMIT), previous.language.value)
            )
        if feedback:
            parts.append(f"The person's feedback:\n{head_tail(feedback.strip(), NOTE_LIMIT)}")
        if previous is not None or feedback:
            parts.append("Write a new version that does what the feedback asks; return the whole script.")
        purpose = "regenerate" if previous is not None or feedback else "generate"
        return self._write("\n\n".join(parts), purpose, on_event)

    def improve(
        self, workflow: Workflow, *, analysis: str, memory: str = "", on_event: OnEvent | None = None
    ) -> GeneratedWorkflow:
        """A better version of ``workflow``, guided by ``analysis`` (failures, patterns, feedback)."""
        if len(workflow.code) > CODE_LIMIT:
            # The model must return the whole script; a script cut down to fit would come back cut.
            raise ValidationError(
                f"{workflow.name!r} is too long for the model to rewrite "
                f"({len(workflow.code):,} characters; the limit is {CODE_LIMIT:,})",
                hint=f"Edit it by hand (`workflow edit {workflow.name}`), or split it into smaller ones.",
            )
        parts = [
            f"Improve the workflow {workflow.name!r} (version {workflow.config.version}).",
            _describe(workflow),
            f"What to change, and why:\n{head_tail(analysis.strip(), NOTE_LIMIT)}",
        ]
        if memory.strip():
            parts.append(_memory(memory))
        parts.append(
            "Change what the analysis asks for and keep what already works. Keep the parameter names "
            "(the person's settings use them) and the language, unless the analysis shows the language "
            "is the problem. Return the whole script."
        )
        return self._write("\n\n".join(parts), "improve", on_event)

    def explain(self, workflow: Workflow) -> str:
        """What ``workflow`` does, in plain words."""
        prompt = f"Explain the workflow {workflow.name!r}.\n\n{_describe(workflow)}"
        try:
            text = run_agent(
                self.explainer, prompt, deps=None, purpose="explain", model=self.model, on_call=self.on_call
            )
        except MODEL_FAILURES as exc:
            raise CoderError(
                f"could not explain {workflow.name!r}: {describe_failure(exc)}",
                hint="Check the model settings and try again.",
            ) from exc
        return text.strip()

    def _write(self, prompt: str, purpose: str, on_event: OnEvent | None) -> GeneratedWorkflow:
        session = Session(on_event=on_event, max_rounds=self.max_rounds)
        session.event("writing the script")
        limits = UsageLimits(request_limit=self.max_rounds + MAX_TOOL_CALLS + 2)
        try:
            result = run_agent(
                self.writer,
                prompt,
                deps=session,
                purpose=purpose,
                model=self.model,
                on_call=self.on_call,
                usage_limits=limits,
            )
        except MODEL_FAILURES as exc:
            if isinstance(exc, UnexpectedModelBehavior) and session.problems:
                message = (
                    f"the model did not produce a script that passes the checks in {session.rounds} "
                    f"attempt{'s' if session.rounds != 1 else ''}; last problem: {session.problems[-1]}"
                )
            else:
                message = f"could not write the script: {describe_failure(exc)}"
            raise CoderError(message, hint=_NO_SAVE_HINT) from exc
        return result


def _validate(ctx: RunContext[Session], output: GeneratedWorkflow) -> GeneratedWorkflow:
    """Send back code that does not parse or that the policy would deny; pass everything else."""
    session = ctx.deps
    session.rounds += 1
    code = output.code
    if not code.strip():
        _retry(session, "the script is empty; return the whole script in `code`")
    shebang = code.lstrip().split("\n", 1)[0]
    if shebang.startswith("#!") and ("python" in shebang) != (output.language is Language.PYTHON):
        _retry(session, f"the #! line {shebang!r} does not match language {output.language.value!r}")
    session.event("checking syntax")
    error = syntax_error(code, output.language)
    if error is not None:
        _retry(session, f"{output.language.value} syntax error: {error}")
    for param in output.params:
        if "{{" + param.name in code or "{{ " + param.name in code:
            _retry(
                session,
                f"parameter {param.name} is pasted in as a {{{{placeholder}}}}; parameters arrive as "
                f"environment variables, so read ${param.name} (bash) or os.environ (python)",
            )
    verdict = analyze(code, output.language)
    count = len(verdict.findings)
    session.event(f"safety check: {verdict.decision.value} ({count} finding{'' if count == 1 else 's'})")
    if verdict.decision is Decision.DENY:
        denied = [f for f in verdict.findings if f.decision is Decision.DENY]
        _retry(
            session,
            "the safety policy would refuse this script:\n"
            + findings_text(verdict.model_copy(update={"findings": denied})),
        )
    if not code.endswith("\n"):
        output = output.model_copy(update={"code": code + "\n"})
    return output


def _retry(session: Session, reason: str) -> None:
    session.problems.append(reason)
    if session.rounds < session.max_rounds:
        session.event(f"retrying: {reason.splitlines()[0]}")
    raise ModelRetry(reason)


def _memory(memory: str) -> str:
    # The newest facts are appended at the end of CLAUDE.md, so a long memory keeps both ends.
    return "What this workflow has learned from earlier runs and fixes (its memory file):\n" + fence(
        head_tail(memory.strip(), MEMORY_LIMIT), "markdown"
    )


def _describe(workflow: Workflow) -> str:
    config = workflow.config
    params = (
        "\n".join(
            f"- {p.name}: {p.description or 'no description'}"
            + (f" (default {p.default!r})" if p.default is not None else "")
            + (" (required)" if p.required else "")
            for p in config.params
        )
        or "- none"
    )
    permissions = json.dumps(config.permissions.model_dump(exclude_defaults=True), sort_keys=True)
    return (
        f"Task it was taught: {head_tail(config.description, DESCRIPTION_LIMIT) or '(no description)'}\n"
        f"Language: {config.language.value}; timeout: {config.timeout} s\n"
        f"Parameters (environment variables):\n{params}\n"
        f"Permissions: {permissions}\n"
        f"Current script:\n{fence(head_tail(workflow.code, CODE_LIMIT), config.language.value)}"
    )
