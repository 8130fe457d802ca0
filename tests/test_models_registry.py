"""The model registry: choosing a model, building its client, keys, the scripted test model, prices, errors."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field
from pydantic_ai import Agent, NativeOutput, PromptedOutput, ToolOutput
from pydantic_ai import exceptions as ai

from workflow_agent.agents.schemas import FailureAnalysis, GeneratedWorkflow, PatternReport
from workflow_agent.core.errors import EXIT_MODEL, ConfigError, ModelError, NotFoundError
from workflow_agent.core.types import Language
from workflow_agent.models import (
    DEFAULT_MODEL,
    ResolvedModel,
    estimate_cost,
    model_error,
    registry,
    resolve_model,
)
from workflow_agent.models.pricing import price_of
from workflow_agent.models.scripted import sample, script_for, task_of

ANTHROPIC = {"ANTHROPIC_API_KEY": "sk-ant-test"}


def resolve(spec: str | None, home: Path, **env: str) -> ResolvedModel:
    return resolve_model(spec, home=home, environ=env)


def write_config(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.yaml"
    path.write_text(text)
    return path


# -- choosing -----------------------------------------------------------------------------------
def test_default_is_a_current_claude_model(tmp_path: Path) -> None:
    resolved = resolve(None, tmp_path, **ANTHROPIC)
    assert resolved.name == DEFAULT_MODEL and DEFAULT_MODEL.startswith("anthropic:claude-")
    assert resolved.provider == "anthropic" and resolved.source == "default"
    assert resolved.base_url == "https://api.anthropic.com"
    assert "sk-ant-test" not in repr(resolved), "the key never shows in a repr"


def test_choice_order_flag_then_env_then_config_then_default(tmp_path: Path) -> None:
    write_config(tmp_path, "# my settings\nmodel: anthropic:claude-haiku-5-5\n")
    env = {**ANTHROPIC, "WORKFLOW_MODEL": "test"}
    assert resolve_model("anthropic:claude-opus-5-5", home=tmp_path, environ=env).source == "--model"
    assert resolve_model(None, home=tmp_path, environ=env).name == "test"
    from_config = resolve_model(None, home=tmp_path, environ=ANTHROPIC)
    assert (from_config.name, from_config.source) == ("anthropic:claude-haiku-5-5", "config.yaml")
    assert resolve_model("  ", home=tmp_path, environ=ANTHROPIC).source == "config.yaml"


def test_broken_config_gives_its_config_error(tmp_path: Path) -> None:
    write_config(tmp_path, "model: [unclosed\n")
    with pytest.raises(ConfigError, match="config.yaml"):
        resolve("test", tmp_path)
    write_config(tmp_path, "model: 42\n")
    with pytest.raises(ConfigError, match=r"config.yaml:1: model must be"):
        resolve("test", tmp_path)
    write_config(tmp_path, "api_key_command: [1, 2]\n")
    with pytest.raises(ConfigError, match="api_key_command must be"):
        resolve("test", tmp_path)
    write_config(tmp_path, "api_key_command:\n  mistral: echo x\n")
    with pytest.raises(ConfigError, match="api_key_command must be"):
        resolve("test", tmp_path)


@pytest.mark.parametrize(
    ("spec", "hint"),
    [
        ("gemini:pro", "Valid forms"),
        ("claude-sonnet-5-5", "Did you mean anthropic:claude-sonnet-5-5"),
        ("gpt-4o", "Did you mean openai:gpt-4o"),
    ],
)
def test_unknown_provider_lists_valid_forms(tmp_path: Path, spec: str, hint: str) -> None:
    with pytest.raises(ModelError) as caught:
        resolve(spec, tmp_path)
    assert caught.value.exit_code == EXIT_MODEL
    assert hint in str(caught.value)
    assert "ollama:MODEL" in str(caught.value) and "anthropic:MODEL_ID" in str(caught.value)


def test_provider_without_model_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not say which anthropic model"):
        resolve("anthropic:", tmp_path, **ANTHROPIC)


def test_missing_anthropic_key_says_how_to_set_it_and_how_to_go_local(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as caught:
        resolve("anthropic:claude-sonnet-5-5", tmp_path)
    text = str(caught.value)
    assert caught.value.exit_code == EXIT_MODEL
    assert "ANTHROPIC_API_KEY" in text and "export ANTHROPIC_API_KEY=" in text
    assert "--model ollama:llama3.2" in text
    assert "OPENAI_BASE_URL=" in text and "--model openai:NAME" in text


def test_openai_needs_a_key_unless_a_base_url_is_set(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="OPENAI_API_KEY is not set"):
        resolve("openai:gpt-4o-mini", tmp_path)
    hosted = resolve("openai:gpt-4o-mini", tmp_path, OPENAI_API_KEY="sk-x")
    assert hosted.base_url == "https://api.openai.com/v1" and hosted.provider == "openai"
    local = resolve("openai:qwen2.5", tmp_path, OPENAI_BASE_URL="http://127.0.0.1:8000/v1")
    assert local.name == "openai:qwen2.5" and local.base_url == "http://127.0.0.1:8000/v1"
    client: Any = getattr(local.model, "client")  # noqa: B009
    assert client.api_key == registry.PLACEHOLDER_KEY
    assert client.max_retries == registry.LOCAL_RETRIES and client.timeout == registry.LOCAL_TIMEOUT_S


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("", "http://localhost:11434/v1"),
        ("gpu-box", "http://gpu-box:11434/v1"),
        ("127.0.0.1:9999", "http://127.0.0.1:9999/v1"),
        ("http://10.0.0.5:11434/", "http://10.0.0.5:11434/v1"),
        ("https://ollama.example.com", "https://ollama.example.com/v1"),
        ("http://proxy/ollama/v1", "http://proxy/ollama/v1"),
    ],
)
def test_ollama_endpoint_follows_ollama_host(tmp_path: Path, host: str, url: str) -> None:
    resolved = resolve("ollama:llama3.2", tmp_path, OLLAMA_HOST=host)
    assert (resolved.name, resolved.provider, resolved.base_url) == ("ollama:llama3.2", "ollama", url)
    assert resolved.model.model_name == "llama3.2"


def test_client_knobs_come_from_the_environment(tmp_path: Path) -> None:
    resolved = resolve("anthropic:claude-haiku-5-5", tmp_path, **ANTHROPIC)
    client: Any = getattr(resolved.model, "client")  # noqa: B009
    assert client.max_retries == registry.DEFAULT_RETRIES and client.timeout == registry.DEFAULT_TIMEOUT_S
    tuned = resolve(
        "anthropic:claude-haiku-5-5",
        tmp_path,
        **ANTHROPIC,
        WORKFLOW_MODEL_TIMEOUT="7.5",
        WORKFLOW_MODEL_RETRIES="2",
        ANTHROPIC_BASE_URL="http://127.0.0.1:1",
    )
    client = getattr(tuned.model, "client")  # noqa: B009
    assert (client.timeout, client.max_retries, tuned.base_url) == (7.5, 2, "http://127.0.0.1:1")
    for bad in ({"WORKFLOW_MODEL_TIMEOUT": "soon"}, {"WORKFLOW_MODEL_TIMEOUT": "0"}):
        with pytest.raises(ConfigError, match="WORKFLOW_MODEL_TIMEOUT"):
            resolve("anthropic:claude-haiku-5-5", tmp_path, **ANTHROPIC, **bad)
    with pytest.raises(ConfigError, match="WORKFLOW_MODEL_RETRIES"):
        resolve("anthropic:claude-haiku-5-5", tmp_path, **ANTHROPIC, WORKFLOW_MODEL_RETRIES="many")


# -- api_key_command ----------------------------------------------------------------------------
def test_api_key_command_supplies_the_key(tmp_path: Path) -> None:
    write_config(tmp_path, "api_key_command: printf 'sk-ant-from-command\\n'\n")
    resolved = resolve("anthropic:claude-haiku-5-5", tmp_path)
    assert getattr(resolved.model, "client").api_key == "sk-ant-from-command"  # noqa: B009
    assert resolved.key_source == "api_key_command"
    from_env = resolve("anthropic:claude-haiku-5-5", tmp_path, **ANTHROPIC)
    assert from_env.key_source == "ANTHROPIC_API_KEY", "the environment wins; the command is not run"


def test_api_key_command_per_provider(tmp_path: Path) -> None:
    write_config(tmp_path, "api_key_command:\n  openai: echo sk-openai\n")
    resolved = resolve("openai:gpt-4o-mini", tmp_path)
    assert getattr(resolved.model, "client").api_key == "sk-openai"  # noqa: B009
    with pytest.raises(ModelError, match="ANTHROPIC_API_KEY is not set"):
        resolve("anthropic:claude-haiku-5-5", tmp_path)


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("echo 'vault is locked' >&2; exit 3", "failed with exit status 3"),
        ("true", "printed nothing"),
        ("sleep 5", "did not finish within"),
    ],
)
def test_api_key_command_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, message: str
) -> None:
    monkeypatch.setattr(registry, "KEY_COMMAND_TIMEOUT_S", 0.3)
    write_config(tmp_path, f'api_key_command: "{command}"\n')
    with pytest.raises(ModelError, match=message) as caught:
        resolve("anthropic:claude-haiku-5-5", tmp_path)
    if "exit 3" in command:
        assert "vault is locked" in str(caught.value)


# -- the scripted test model --------------------------------------------------------------------
def test_test_model_writes_a_bash_script_that_echoes_the_task(tmp_path: Path) -> None:
    resolved = resolve("test", tmp_path)
    assert (resolved.name, resolved.provider, resolved.base_url) == ("test", "test", None)
    agent = Agent(resolved.model, output_type=ToolOutput(GeneratedWorkflow, name="submit_workflow"))
    task = "back up ~/notes, don't 'lose' $HOME"
    result = agent.run_sync(f"Task: {task}\n\nMemory: nothing yet")
    workflow = result.output
    assert workflow.language is Language.BASH
    proc = subprocess.run(["bash", "-c", workflow.code], capture_output=True, text=True, check=True)
    assert proc.stdout == task + "\n"
    assert result.usage.requests == 1 and result.usage.input_tokens > 0


@pytest.mark.parametrize("output", [FailureAnalysis, PatternReport, int, list[str], bool])
def test_test_model_answers_any_output_type(tmp_path: Path, output: Any) -> None:
    agent: Agent[None, Any] = Agent(resolve("test", tmp_path).model, output_type=output)
    value = agent.run_sync("Task: anything").output
    assert value is not None


def test_test_model_native_prompted_and_text_output(tmp_path: Path) -> None:
    model = resolve("test", tmp_path).model
    native = Agent(model, output_type=NativeOutput(FailureAnalysis)).run_sync("Task: t").output
    assert 0.0 <= native.confidence <= 1.0
    prompted = Agent(model, output_type=PromptedOutput(PatternReport)).run_sync("Task: t").output
    assert prompted.summary == "(test model) t"
    assert Agent(model).run_sync("explain x\nmore").output == "(test model) This workflow is about: explain x"


def test_test_model_streams_too(tmp_path: Path) -> None:
    model = resolve("test", tmp_path).model

    async def stream() -> tuple[GeneratedWorkflow, str]:
        async with Agent(model, output_type=GeneratedWorkflow).run_stream("Task: stream me") as run:
            workflow = await run.get_output()
        async with Agent(model).run_stream("hello") as run:
            text = await run.get_output()
        return workflow, text

    loop = asyncio.new_event_loop()  # not asyncio.run: it would orphan the loop run_sync keeps
    try:
        workflow, text = loop.run_until_complete(stream())
    finally:
        loop.close()
    assert "echo 'stream me'" in workflow.code
    assert text == "(test model) This workflow is about: hello"


def test_sampler_covers_the_schema_forms() -> None:
    class Inner(BaseModel):
        when: str = Field(json_schema_extra={"format": "date-time"})

    class Odd(BaseModel):
        kind: str = Field(json_schema_extra={"enum": ["python", "ruby"]})
        fixed: str = Field(json_schema_extra={"const": "same"})
        maybe: int | None
        tags: list[str] = Field(min_length=2)
        small: int = Field(ge=3, le=5)
        above: float = Field(gt=1.0)
        below: int = Field(lt=-1)
        short: str = Field(max_length=3)
        long: str = Field(min_length=300)
        inner: Inner
        code: str
        nothing: None

    value = sample(Odd.model_json_schema(), "a task")
    checked = Odd.model_validate(value)
    assert checked.kind == "python" and checked.fixed == "same" and len(checked.tags) == 2
    assert checked.small == 3 and checked.above > 1.0 and checked.below < -1
    assert checked.short == "a t" and len(checked.long) == 300
    assert checked.code == script_for("a task", "bash")
    assert sample({"type": ["null", "string"]}, "t") == "t"
    assert sample({"type": "object", "properties": {"x": {}}, "required": ["x"]}, "t") == {"x": "t"}
    assert sample({"enum": []}, "t") is None
    assert sample({"anyOf": []}, "t") is None
    assert sample(
        {
            "type": "object",
            "properties": {"language": {"const": "python"}, "code": {"type": "string"}},
            "required": ["language", "code"],
        },
        "hi",
    )["code"] == script_for("hi", "python")
    python = subprocess.run(
        [sys.executable, "-c", script_for("it's", "python")], capture_output=True, text=True, check=True
    )
    assert python.stdout == "it's\n"


def test_task_of_reads_the_latest_prompt() -> None:
    from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, UserPromptPart

    assert task_of([]) == "nothing in particular"
    messages: list[ModelMessage] = [
        ModelRequest(parts=[UserPromptPart("Task: first")]),
        ModelResponse(parts=[TextPart("ok")]),
        ModelRequest(parts=[UserPromptPart(["Description: second", "ignored"])]),
    ]
    assert task_of(messages) == "second ignored"
    assert task_of([ModelRequest(parts=[UserPromptPart("   \n")])]) == "nothing in particular"


# -- prices -------------------------------------------------------------------------------------
def test_estimate_cost() -> None:
    assert estimate_cost("anthropic:claude-sonnet-5-5", 1_000_000, 1_000_000) == pytest.approx(12.0)
    assert estimate_cost("claude-haiku-4-5-20251001", 2_000_000, 0) == pytest.approx(2.0)
    assert estimate_cost("claude-opus-5-5", 1_000_000, 0) == pytest.approx(4.0), "longest prefix wins"
    assert estimate_cost("openai:gpt-4o-mini-2024-07-18", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert estimate_cost("ollama:llama3.2", 10**6, 10**6) == 0.0
    assert estimate_cost("test", 10, 10) == 0.0
    assert estimate_cost("openai:qwen2.5-coder", 10, 10) is None
    assert estimate_cost("mystery", 10, 10) is None
    assert price_of("gpt-4o") == (2.5, 10.0)
    assert estimate_cost("claude-sonnet-5-5", -5, 0) == 0.0


# -- error mapping ------------------------------------------------------------------------------
def http_error(category: Any, status: int, name: str = "claude-haiku-5-5") -> ai.ModelHTTPError:
    return ai.ModelHTTPError.for_category(category, status_code=status, model_name=name, body={"x": 1})


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (http_error(ai.ModelAuthenticationError, 401), "the API key was refused"),
        (http_error(ai.ModelNotFoundError, 404), "has no model named 'claude-haiku-5-5'"),
        (http_error(ai.ModelQuotaExceededError, 402), "credit or quota is used up"),
        (http_error(ai.ModelRateLimitError, 429), "still rate-limiting requests"),
        (http_error(ai.ModelOverloadedError, 529), "is overloaded"),
        (http_error(ai.ModelContextWindowExceededError, 400), "too long"),
        (http_error(ai.ModelServerError, 500), "server error"),
        (http_error(ai.ModelRequestRejectedError, 400), "refused the request"),
        (ai.ModelRequestTimeout("m", 3.0), "did not answer in time"),
        (ai.ModelConnectionError("m", "Connection refused"), "cannot reach https://api.anthropic.com"),
        (ai.ModelAPIError("m", "odd"), "refused the request for anthropic:claude-haiku-5-5: odd"),
        (ai.UnexpectedModelBehavior("bad json"), "could not be used: bad json"),
        (ai.UsageLimitExceeded("request_limit of 5"), "more requests than allowed"),
        (ConnectionRefusedError(111, "Connection refused"), "cannot reach"),
        (TimeoutError(), "did not answer in time"),
    ],
)
def test_model_error_maps_provider_failures(tmp_path: Path, exc: BaseException, expected: str) -> None:
    resolved = resolve("anthropic:claude-haiku-5-5", tmp_path, **ANTHROPIC)
    error = model_error(exc, resolved)
    assert isinstance(error, ModelError) and error.exit_code == EXIT_MODEL
    assert expected in str(error)
    assert "sk-ant-test" not in str(error)


def test_model_error_hints_fit_the_provider(tmp_path: Path) -> None:
    refused = ai.ModelConnectionError("m", "")
    ollama = resolve("ollama:llama3.2", tmp_path)
    assert "ollama serve" in str(model_error(refused, ollama))
    assert "ollama pull llama3.2" in str(model_error(http_error(ai.ModelNotFoundError, 404), ollama))
    local = resolve("openai:q", tmp_path, OPENAI_BASE_URL="http://127.0.0.1:9/v1")
    text = str(model_error(refused, local))
    assert "http://127.0.0.1:9/v1" in text and "OPENAI_BASE_URL" in text
    assert "Check the server's API key" in str(
        model_error(http_error(ai.ModelAuthenticationError, 401), ollama)
    )
    write_config(tmp_path, "api_key_command: echo sk-cmd\n")
    by_command = resolve("anthropic:claude-haiku-5-5", tmp_path)
    assert "api_key_command" in str(model_error(http_error(ai.ModelAuthenticationError, 403), by_command))


def test_model_error_passes_other_errors_through(tmp_path: Path) -> None:
    resolved = resolve("test", tmp_path)
    bug = KeyError("not a provider problem")
    with pytest.raises(KeyError) as caught:
        model_error(bug, resolved)
    assert caught.value is bug
    ours = NotFoundError("no workflow x")
    with pytest.raises(NotFoundError):
        model_error(ours, resolved)
    already = ModelError("already mapped")
    assert model_error(already, resolved) is already


def test_model_error_looks_through_wrappers(tmp_path: Path) -> None:
    resolved = resolve("anthropic:claude-haiku-5-5", tmp_path, **ANTHROPIC)
    wrapper = NotFoundError("the coder gave up")
    wrapper.__cause__ = http_error(ai.ModelAuthenticationError, 401)
    assert "the API key was refused" in str(model_error(wrapper, resolved))


def test_model_error_maps_raw_sdk_errors(tmp_path: Path) -> None:
    import anthropic
    import httpx2
    import openai

    resolved = resolve("anthropic:claude-haiku-5-5", tmp_path, **ANTHROPIC)
    request = httpx2.Request("GET", "https://api.anthropic.com/v1/models")

    def status(code: int, message: str = "nope") -> anthropic.APIStatusError:
        response = httpx2.Response(code, request=request)
        return anthropic.APIStatusError(message, response=response, body=None)

    cases = {
        401: "the API key was refused",
        404: "has no model named",
        402: "credit or quota",
        429: "rate-limiting",
        529: "overloaded",
        503: "server error",
        400: "refused the request",
    }
    for code, expected in cases.items():
        assert expected in str(model_error(status(code), resolved)), code
    assert "overloaded" in str(model_error(status(500, "Overloaded"), resolved))
    assert "cannot reach" in str(model_error(anthropic.APIConnectionError(request=request), resolved))
    assert "in time" in str(model_error(openai.APITimeoutError(request=request), resolved))
    assert "cannot reach" in str(model_error(httpx2.ConnectError("refused"), resolved))


def test_importing_the_registry_loads_no_model_library() -> None:
    code = (
        "import sys, workflow_agent.models, workflow_agent.models.check, workflow_agent.models.pricing\n"
        "print([m for m in ('pydantic_ai', 'anthropic', 'openai', 'httpx2') if m in sys.modules])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout.replace("'", '"')) == []
