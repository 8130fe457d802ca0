"""The coder agent, driven by scripted FunctionModels: what it sends, what it checks, what it returns."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic_ai.exceptions import (
    AgentRunError,
    ModelAPIError,
    UnexpectedModelBehavior,
    UsageLimitExceeded,
)
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from workflow_agent.agents import tools as coder_tools
from workflow_agent.agents.coder import Coder, CoderError, CoderTools
from workflow_agent.agents.runner import describe_failure, fence, head_tail, load_prompt, tail
from workflow_agent.agents.schemas import CallRecord, GeneratedWorkflow
from workflow_agent.core.errors import EXIT_MODEL, ValidationError
from workflow_agent.core.types import Language, Param, Permissions, Workflow, WorkflowConfig
from workflow_agent.execution.safety import analyze

BACKUP = """#!/usr/bin/env bash
# Nightly copy of the notes folder; SRC and DEST come from the environment.
set -euo pipefail
SRC="${SRC:-$HOME/notes}"
DEST="${DEST:-./backup}"
echo "Copying $SRC to $DEST"
mkdir -p "$DEST"
cp -r "$SRC/." "$DEST/"
echo "Done"
"""

BROKEN = """#!/usr/bin/env bash
set -euo pipefail
if [ -d "$HOME" ]; then
  echo "missing fi"
"""

DANGEROUS = """#!/usr/bin/env bash
set -euo pipefail
rm -rf ~
"""

Step = Callable[[list[ModelMessage], AgentInfo], ModelResponse]


@dataclass
class Script:
    """A FunctionModel that plays ``steps`` in order (the last one repeats) and keeps what it was sent."""

    steps: list[Step]
    requests: list[list[ModelMessage]] = field(default_factory=list)
    infos: list[AgentInfo] = field(default_factory=list)

    def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        self.requests.append(list(messages))
        self.infos.append(info)
        step = self.steps[min(len(self.requests) - 1, len(self.steps) - 1)]
        return step(messages, info)

    @property
    def model(self) -> FunctionModel:
        return FunctionModel(self, model_name="scripted")

    @property
    def calls(self) -> int:
        return len(self.requests)

    def user_prompt(self) -> str:
        first = self.requests[0][0]
        assert isinstance(first, ModelRequest)
        return "\n".join(str(p.content) for p in first.parts if isinstance(p, UserPromptPart))

    def sent_back(self, index: int) -> str:
        """What the agent sent the model in request ``index`` (tool results, retry prompts)."""
        last = self.requests[index][-1]
        assert isinstance(last, ModelRequest)
        texts = []
        for part in last.parts:
            if isinstance(part, (ToolReturnPart, RetryPromptPart)):
                texts.append(
                    part.model_response() if isinstance(part, RetryPromptPart) else str(part.content)
                )
        return "\n".join(texts)


def submit(code: str = BACKUP, language: str = "bash", **extra: Any) -> Step:
    args: dict[str, Any] = {"language": language, "code": code, "summary": "Copies the notes.", **extra}

    def step(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        assert [t.name for t in info.output_tools] == ["submit_workflow"]
        return ModelResponse(parts=[ToolCallPart("submit_workflow", args)])

    return step


def call(tool: str, **args: Any) -> Step:
    def step(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[ToolCallPart(tool, args)])

    return step


def text(answer: str) -> Step:
    def step(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[TextPart(answer)])

    return step


def workflow(code: str = BACKUP, **config: Any) -> Workflow:
    settings: dict[str, Any] = {
        "name": "notes-backup",
        "description": "copy my notes to ./backup",
        "params": [Param(name="DEST", default="./backup", description="where copies go")],
        "permissions": Permissions(write=["./backup"]),
        "version": 2,
        **config,
    }
    return Workflow(config=WorkflowConfig(**settings), code=code)


# -- generate -------------------------------------------------------------------------------------


def test_generate_returns_the_checked_workflow_with_params_and_permissions() -> None:
    script = Script(
        [
            submit(
                params=[{"name": "DEST", "description": "where copies go", "default": "./backup"}],
                permissions={"write": ["./backup"], "read": ["~/notes"]},
                test={"setup": "mkdir -p notes", "params": {"DEST": "out"}, "expect_output": "Done"},
            )
        ]
    )
    events: list[str] = []
    result = Coder(script.model).generate("back up my notes", on_event=events.append)
    assert isinstance(result, GeneratedWorkflow)
    assert result.language is Language.BASH
    assert result.code == BACKUP
    assert result.params == [Param(name="DEST", description="where copies go", default="./backup")]
    assert result.permissions.write == ["./backup"]
    assert result.permissions.network is False
    assert result.test is not None and result.test.params == {"DEST": "out"}
    assert script.calls == 1
    assert events[:2] == ["writing the script", "checking syntax"]
    assert events[2].startswith("safety check: ")
    assert not any(e.startswith("retrying") for e in events)
    # The rules of the system prompt reach the model as instructions.
    assert "set -euo pipefail" in (script.infos[0].instructions or "")
    assert "Task: back up my notes" in script.user_prompt()


def test_a_syntax_error_goes_back_to_the_model_and_the_fix_is_returned() -> None:
    script = Script([submit(BROKEN), submit(BACKUP)])
    events: list[str] = []
    result = Coder(script.model).generate("back up my notes", on_event=events.append)
    assert result.code == BACKUP
    assert script.calls == 2
    assert "bash syntax error" in script.sent_back(1)
    retries = [e for e in events if e.startswith("retrying: ")]
    assert len(retries) == 1 and "syntax error" in retries[0]


def test_a_script_denied_every_time_raises_after_max_rounds_and_returns_nothing() -> None:
    script = Script([submit(DANGEROUS)])
    events: list[str] = []
    calls: list[CallRecord] = []
    coder = Coder(script.model, on_call=calls.append, max_rounds=3)
    with pytest.raises(CoderError) as caught:
        coder.generate("clean up my home", on_event=events.append)
    error = caught.value
    assert error.exit_code == EXIT_MODEL
    assert "3 attempts" in error.message and "safety policy would refuse" in error.message
    assert "Nothing was saved" in str(error)
    assert script.calls == 3
    assert "rm" in script.sent_back(1)
    # "retrying" is announced for the rounds that follow, not after the last one.
    assert sum(e.startswith("retrying: ") for e in events) == 2
    assert any(e.startswith("safety check: deny") for e in events)
    # The failed call still cost tokens, and the cost is reported.
    assert len(calls) == 1 and calls[0].requests == 3 and calls[0].input_tokens > 0


def test_max_rounds_one_means_no_second_attempt() -> None:
    script = Script([submit(BROKEN), submit(BACKUP)])
    with pytest.raises(CoderError, match="1 attempt;"):
        Coder(script.model, max_rounds=1).generate("x")
    assert script.calls == 1
    with pytest.raises(ValueError, match="max_rounds"):
        Coder(script.model, max_rounds=0)


def test_ask_verdicts_pass_through_for_the_person_to_see() -> None:
    ask = BACKUP + 'curl -fsS "https://example.com/ping"\n'
    script = Script([submit(ask, permissions={"network": True})])
    events: list[str] = []
    result = Coder(script.model).generate("ping", on_event=events.append)
    assert result.code == ask
    verdict_event = next(e for e in events if e.startswith("safety check: "))
    assert not verdict_event.startswith("safety check: deny")


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (submit("   \n"), "empty"),
        (submit("#!/usr/bin/env python3\nprint('hi')\n"), "does not match language"),
        (
            submit(
                'set -euo pipefail\nmkdir -p "{{DEST}}"\n',
                params=[{"name": "DEST", "default": "./out"}],
            ),
            "environment variables",
        ),
    ],
)
def test_other_unusable_answers_are_sent_back(bad: Step, reason: str) -> None:
    script = Script([bad, submit(BACKUP)])
    events: list[str] = []
    assert Coder(script.model).generate("x", on_event=events.append).code == BACKUP
    assert reason in script.sent_back(1)
    assert any(reason in e for e in events if e.startswith("retrying: "))


def test_python_scripts_are_checked_as_python_and_get_a_final_newline() -> None:
    code = "#!/usr/bin/env python3\nimport os\nprint(os.environ.get('NAME', 'x'))"
    script = Script([submit("def broken(:\n", language="python"), submit(code, language="python")])
    result = Coder(script.model).generate("print a name")
    assert result.language is Language.PYTHON
    assert result.code == code + "\n"
    assert "python syntax error" in script.sent_back(1)


def test_invalid_declared_secret_is_a_validation_retry() -> None:
    script = Script(
        [submit(permissions={"secrets": ["not a name"]}), submit(permissions={"secrets": ["TOKEN"]})]
    )
    result = Coder(script.model).generate("x")
    assert result.permissions.secrets == ["TOKEN"]
    assert "environment variable name" in script.sent_back(1)


def test_memory_reaches_the_model() -> None:
    script = Script([submit()])
    memory = "# notes-backup\n- The NAS is mounted at /mnt/nas only after 02:05.\n"
    Coder(script.model).generate("back up my notes", memory=memory)
    prompt = script.user_prompt()
    assert "The NAS is mounted at /mnt/nas only after 02:05." in prompt
    assert "learned" in prompt


def test_long_memory_keeps_both_ends() -> None:
    script = Script([submit()])
    memory = "FIRST-FACT\n" + "filler line\n" * 5000 + "LAST-FACT\n"
    Coder(script.model).generate("x", memory=memory)
    prompt = script.user_prompt()
    assert "FIRST-FACT" in prompt and "LAST-FACT" in prompt
    assert len(prompt) < 12_000


def test_on_call_gets_a_record_with_tokens() -> None:
    script = Script([submit()])
    calls: list[CallRecord] = []
    Coder(script.model, on_call=calls.append).generate("back up my notes")
    assert len(calls) == 1
    record = calls[0]
    assert record.purpose == "generate"
    assert record.model == "scripted"
    assert record.input_tokens > 0 and record.output_tokens > 0
    assert record.requests == 1
    assert 0 <= record.duration_s < 10


def test_regenerate_shows_the_previous_draft_and_the_feedback() -> None:
    script = Script([submit()])
    calls: list[CallRecord] = []
    previous = GeneratedWorkflow(language=Language.BASH, code="echo OLD-DRAFT\n", summary="old")
    Coder(script.model, on_call=calls.append).generate(
        "back up my notes", previous=previous, feedback="keep only 7 copies"
    )
    prompt = script.user_prompt()
    assert "echo OLD-DRAFT" in prompt and "keep only 7 copies" in prompt
    assert calls[0].purpose == "regenerate"


# -- tools ----------------------------------------------------------------------------------------


def test_the_model_can_call_check_safety_then_answer() -> None:
    script = Script([call("check_safety", language="bash", code=DANGEROUS), submit(BACKUP)])
    events: list[str] = []
    calls: list[CallRecord] = []
    result = Coder(script.model, on_call=calls.append).generate("clean up", on_event=events.append)
    assert result.code == BACKUP
    report = script.sent_back(1)
    assert report.startswith("deny:") and "line 3" in report
    assert any(e.startswith("safety check: deny") for e in events)
    assert calls[0].requests == 2


def test_check_syntax_reports_bash_and_python_errors() -> None:
    script = Script(
        [
            call("check_syntax", language="bash", code=BROKEN),
            call("check_syntax", language="python", code="x = (\n"),
            call("check_syntax", language="bash", code=BACKUP),
            submit(),
        ]
    )
    events: list[str] = []
    Coder(script.model).generate("x", on_event=events.append)
    assert "bash syntax error" in script.sent_back(1)
    assert "parser:" in script.sent_back(1)  # tree-sitter's view of the same mistake
    assert "python syntax error: line 1" in script.sent_back(2)
    assert script.sent_back(3) == "ok: no syntax errors."
    assert events.count("checking syntax") == 4  # three tool calls and the final check


@pytest.mark.skipif(not coder_tools.shellcheck_available(), reason="shellcheck not installed")
def test_run_shellcheck_returns_its_warnings() -> None:
    script = Script([call("run_shellcheck", code="#!/bin/bash\necho $1\n"), submit()])
    Coder(script.model).generate("x")
    assert "SC2086" in script.sent_back(1)
    assert "run_shellcheck" in [t.name for t in script.infos[0].function_tools]
    assert coder_tools.shellcheck_report(BACKUP) == "ok: shellcheck found nothing."


def test_shellcheck_report_handles_timeouts_and_a_missing_program(monkeypatch: pytest.MonkeyPatch) -> None:
    if coder_tools.shellcheck_available():
        assert "did not finish" in coder_tools.shellcheck_report(BACKUP * 2000, timeout=0.001)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert not coder_tools.shellcheck_available()
    assert coder_tools.shellcheck_report(BACKUP) == "shellcheck is not installed here."


def test_disabled_tools_are_not_offered() -> None:
    script = Script([submit()])
    coder = Coder(script.model, tools=CoderTools(syntax=False, shellcheck=False, safety=False))
    coder.generate("x")
    assert coder.tool_names == []
    assert script.infos[0].function_tools == []


def test_injected_dry_run_runs_only_allowed_code() -> None:
    ran: list[GeneratedWorkflow] = []

    def dry_run(candidate: GeneratedWorkflow) -> str:
        ran.append(candidate)
        return "exit 0\nDone"

    safe = {"language": "bash", "code": BACKUP, "summary": "s"}
    denied = {"language": "bash", "code": DANGEROUS, "summary": "s"}
    broken = {"language": "bash", "code": BROKEN, "summary": "s"}
    script = Script(
        [
            call("dry_run", workflow=safe),
            call("dry_run", workflow=denied),
            call("dry_run", workflow=broken),
            submit(),
        ]
    )
    events: list[str] = []
    Coder(script.model, tools=CoderTools(dry_run=dry_run)).generate("x", on_event=events.append)
    assert [w.code for w in ran] == [BACKUP]
    assert script.sent_back(1) == "exit 0\nDone"
    assert script.sent_back(2).startswith("not run: the safety check says deny")
    assert script.sent_back(3).startswith("not run: bash syntax error")
    assert events.count("dry run") == 3


def test_tool_calls_are_bounded_per_answer() -> None:
    many = [ToolCallPart("check_syntax", {"language": "bash", "code": BACKUP}) for _ in range(10)]

    def burst(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=many)

    script = Script([burst, submit()])
    Coder(script.model).generate("x")
    answers = script.sent_back(1).splitlines()
    assert answers.count("ok: no syntax errors.") == coder_tools.MAX_TOOL_CALLS
    assert sum("budget" in a for a in answers) == 10 - coder_tools.MAX_TOOL_CALLS


def test_a_model_that_never_stops_calling_tools_hits_the_request_limit() -> None:
    script = Script([call("check_safety", language="bash", code=BACKUP)])
    calls: list[CallRecord] = []
    with pytest.raises(CoderError, match="more requests than allowed") as caught:
        Coder(script.model, on_call=calls.append, max_rounds=2).generate("x")
    assert isinstance(caught.value.__cause__, UsageLimitExceeded)
    assert script.calls == 2 + coder_tools.MAX_TOOL_CALLS + 2
    assert calls[0].requests == script.calls


def test_text_instead_of_the_output_tool_is_a_model_error() -> None:
    script = Script([text("Here is your script: echo hi")])
    with pytest.raises(CoderError, match="could not write the script: the model's answer could not be used"):
        Coder(script.model).generate("x")
    assert script.calls == 3


def test_provider_failures_pass_through_for_the_models_layer_to_explain() -> None:
    def down(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        raise ModelAPIError("scripted", "connection refused")

    calls: list[CallRecord] = []
    with pytest.raises(ModelAPIError, match="connection refused"):
        Coder(FunctionModel(down), on_call=calls.append).generate("x")
    assert calls[0].requests == 0 and calls[0].purpose == "generate"
    with pytest.raises(ModelAPIError):
        Coder(FunctionModel(down)).explain(workflow())


# -- improve and explain --------------------------------------------------------------------------


def test_improve_sends_the_analysis_and_current_code_and_returns_new_code() -> None:
    new_code = BACKUP.replace('echo "Done"', 'echo "Done, keeping 7 copies"')
    script = Script([submit(new_code, params=[{"name": "DEST", "default": "./backup"}])])
    calls: list[CallRecord] = []
    events: list[str] = []
    result = Coder(script.model, on_call=calls.append).improve(
        workflow(),
        analysis="Run #4 failed: cp: cannot stat '/home/u/notes/.': No such file or directory",
        memory="- SRC is sometimes missing on Mondays.",
        on_event=events.append,
    )
    assert result.code == new_code
    prompt = script.user_prompt()
    assert "cannot stat '/home/u/notes/.'" in prompt
    assert "SRC is sometimes missing on Mondays." in prompt
    assert 'cp -r "$SRC/." "$DEST/"' in prompt  # the current script
    assert "version 2" in prompt and "DEST" in prompt and '"write": ["./backup"]' in prompt
    assert calls[0].purpose == "improve"
    assert events[0] == "writing the script"


def test_explain_returns_plain_text() -> None:
    script = Script([text("  It copies your notes folder into ./backup.  ")])
    calls: list[CallRecord] = []
    answer = Coder(script.model, on_call=calls.append).explain(workflow(params=[]))
    assert answer == "It copies your notes folder into ./backup."
    assert 'cp -r "$SRC/." "$DEST/"' in script.user_prompt()
    assert "- none" in script.user_prompt()
    assert calls[0].purpose == "explain"
    assert script.infos[0].function_tools == []


def test_explain_failures_become_coder_errors() -> None:
    script = Script([call("no_such_tool")])
    with pytest.raises(CoderError, match="could not explain 'notes-backup'"):
        Coder(script.model).explain(workflow())


def test_improve_refuses_a_script_too_long_to_return_whole() -> None:
    script = Script([submit()])
    with pytest.raises(ValidationError, match="too long for the model to rewrite") as caught:
        Coder(script.model).improve(workflow(code="echo hi\n" * 3000), analysis="x")
    assert "workflow edit notes-backup" in str(caught.value)
    assert script.calls == 0


def test_an_improve_prompt_stays_bounded() -> None:
    script = Script([submit()])
    Coder(script.model).improve(
        workflow(code="echo hi\n" * 1900, description="d" * 50_000),
        analysis="a" * 100_000,
        memory="m" * 100_000,
    )
    assert len(script.user_prompt()) + len(script.infos[0].instructions or "") < 40_000


# -- helpers and packaging ------------------------------------------------------------------------


def test_text_helpers_bound_their_input() -> None:
    assert tail("short", 10) == "short"
    cut = tail("\n".join(f"line {i}" for i in range(1000)), 100)
    assert cut.endswith("line 999") and "characters cut" in cut and len(cut) < 140
    assert head_tail("a" * 50 + "b" * 50, 20).startswith("a" * 10)
    assert head_tail("a" * 50 + "b" * 50, 20).endswith("b" * 10)
    assert head_tail("abc", 20) == "abc"
    assert fence("echo ```", "bash") == "````bash\necho ```\n````"
    assert fence("x") == "```\nx\n```"
    assert "idempotent" in load_prompt("coder")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (UsageLimitExceeded("limit"), "more requests than allowed"),
        (ModelAPIError("m", "down"), "provider failed"),
        (UnexpectedModelBehavior("odd"), "could not be used"),
        (AgentRunError("other"), "the model call failed"),
    ],
)
def test_describe_failure(error: AgentRunError, expected: str) -> None:
    assert expected in describe_failure(error)


def test_schemas_and_the_package_do_not_import_pydantic_ai() -> None:
    # In a child process, which must stay small: other tests measure the peak RSS of children.
    code = (
        "import sys, workflow_agent.agents, workflow_agent.agents.schemas\n"
        "assert 'pydantic_ai' not in sys.modules, 'pydantic_ai imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_package_loads_its_classes_on_first_use() -> None:
    import workflow_agent.agents as package

    assert package.Coder is Coder and package.CoderTools is CoderTools
    assert package.compare_executions.__module__ == "workflow_agent.agents.reviewer"
    with pytest.raises(AttributeError, match="Nope"):
        package.Nope  # noqa: B018


def test_findings_text_lists_at_most_ten_findings() -> None:
    verdict = analyze("#!/usr/bin/env bash\n" + "rm -rf /\n" * 12, Language.BASH)
    lines = coder_tools.findings_text(verdict).splitlines()
    assert len(lines) == 11 and lines[-1] == "- … and 2 more"
    assert coder_tools.safety_report(analyze("echo hi\n", Language.BASH)).startswith("allow:")
