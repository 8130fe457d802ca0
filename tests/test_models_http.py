"""The real provider clients (anthropic, openai SDKs through pydantic-ai) against fake servers on 127.0.0.1."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_ai import Agent, NativeOutput, ToolOutput

from conftest import Cli
from fakes.anthropic_server import FakeAnthropic
from fakes.fixtures import ANTHROPIC_TEST_KEY, OPENAI_TEST_KEY
from fakes.openai_server import FakeOpenAI
from workflow_agent.core.errors import EXIT_MODEL, ModelError
from workflow_agent.models import ResolvedModel, check_model, list_configured, model_error, resolve_model

SONNET = "anthropic:claude-sonnet-5-5"

pytestmark = pytest.mark.usefixtures("allow_model_requests")


class Verdict(BaseModel):
    answer: int
    reason: str


@pytest.fixture(autouse=True)
def _no_outside_model_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("ANTHROPIC_BASE_URL", "OLLAMA_HOST", "WORKFLOW_MODEL_TIMEOUT", "WORKFLOW_MODEL_RETRIES"):
        monkeypatch.delenv(key, raising=False)


def resolve(spec: str, home: Path, env: dict[str, str], **extra: str) -> ResolvedModel:
    return resolve_model(spec, home=home, environ={**env, **extra})


def call(resolved: ResolvedModel, agent: Agent[None, Any], prompt: str = "hi") -> Any:
    """How the flows call a model: any failure comes back as one ModelError."""
    try:
        return agent.run_sync(prompt).output
    except Exception as exc:
        raise model_error(exc, resolved) from exc


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        block
        for message in body["messages"]
        if isinstance(message["content"], list)
        for block in message["content"]
        if block.get("type") == "tool_result"
    ]


# -- Anthropic ----------------------------------------------------------------------------------
def test_anthropic_text(fake_anthropic: FakeAnthropic, anthropic_env: dict[str, str], tmp_path: Path) -> None:
    resolved = resolve(SONNET, tmp_path, anthropic_env)
    fake_anthropic.text("hello from the fake", input_tokens=21, output_tokens=4)
    result = Agent(resolved.model, instructions="be brief").run_sync("say hello")
    assert result.output == "hello from the fake"
    assert (result.usage.input_tokens, result.usage.output_tokens) == (21, 4)
    [request] = fake_anthropic.requests_to("/v1/messages")
    auth = request.headers.get("x-api-key") or request.headers.get("authorization", "")
    assert auth.endswith(ANTHROPIC_TEST_KEY)
    assert request.headers["anthropic-version"]
    assert request.body["model"] == "claude-sonnet-5-5"
    assert "say hello" in json.dumps(request.body["messages"])


@pytest.mark.parametrize("model_id", ["claude-sonnet-5-5", "claude-haiku-5-5"])
def test_anthropic_structured_output_through_an_output_tool(
    fake_anthropic: FakeAnthropic, anthropic_env: dict[str, str], tmp_path: Path, model_id: str
) -> None:
    resolved = resolve(f"anthropic:{model_id}", tmp_path, anthropic_env)
    fake_anthropic.tool_use("submit", {"answer": 42, "reason": "because"})
    agent = Agent(resolved.model, output_type=ToolOutput(Verdict, name="submit"))
    assert agent.run_sync("decide").output == Verdict(answer=42, reason="because")
    body = fake_anthropic.requests[-1].body
    assert [tool["name"] for tool in body["tools"]] == ["submit"]
    assert body["tools"][0]["input_schema"]["required"] == ["answer", "reason"]


def test_anthropic_native_structured_output(
    fake_anthropic: FakeAnthropic, anthropic_env: dict[str, str], tmp_path: Path
) -> None:
    resolved = resolve(SONNET, tmp_path, anthropic_env)
    fake_anthropic.text('{"answer": 7, "reason": "json"}')
    assert Agent(resolved.model, output_type=NativeOutput(Verdict)).run_sync("x").output.answer == 7
    assert fake_anthropic.requests[-1].body["output_config"]["format"]["type"] == "json_schema"


def test_anthropic_tool_round(
    fake_anthropic: FakeAnthropic, anthropic_env: dict[str, str], tmp_path: Path
) -> None:
    resolved = resolve(SONNET, tmp_path, anthropic_env)
    agent: Agent[None, str] = Agent(resolved.model)
    seen: list[str] = []

    @agent.tool_plain
    def disk_free(mount: str) -> str:
        """Free space on a mount point."""
        seen.append(mount)
        return "12 GB free"

    fake_anthropic.tool_use("disk_free", {"mount": "/home"}).text("You have 12 GB free.")
    result = agent.run_sync("how much space?")
    assert result.output == "You have 12 GB free." and seen == ["/home"]
    first, second = fake_anthropic.requests_to("/v1/messages")
    assert [tool["name"] for tool in first.body["tools"]] == ["disk_free"]
    [returned] = tool_results(second.body)
    assert "12 GB free" in json.dumps(returned["content"])
    assert result.usage.requests == 2


def test_anthropic_429_is_retried_after_retry_after(
    fake_anthropic: FakeAnthropic, anthropic_env: dict[str, str], tmp_path: Path
) -> None:
    resolved = resolve(SONNET, tmp_path, anthropic_env)
    fake_anthropic.error(429, "rate_limit_error", "slow down", {"retry-after": "1"}).text("made it")
    assert call(resolved, Agent(resolved.model)) == "made it"
    first, second = fake_anthropic.requests_to("/v1/messages")
    assert second.at - first.at >= 1.0, "the SDK waited as retry-after asked"
    assert second.headers["x-stainless-retry-count"] == "1"


def test_anthropic_529_overloaded_is_retried(
    fake_anthropic: FakeAnthropic, anthropic_env: dict[str, str], tmp_path: Path
) -> None:
    resolved = resolve(SONNET, tmp_path, anthropic_env)
    fake_anthropic.overloaded().text("back")
    assert call(resolved, Agent(resolved.model)) == "back"
    assert len(fake_anthropic.requests_to("/v1/messages")) == 2


def test_anthropic_retries_run_out(
    fake_anthropic: FakeAnthropic, anthropic_env: dict[str, str], tmp_path: Path
) -> None:
    resolved = resolve(SONNET, tmp_path, anthropic_env, WORKFLOW_MODEL_RETRIES="1")
    fake_anthropic.overloaded().overloaded()
    with pytest.raises(ModelError, match=r"is overloaded .* after 1 retries \(HTTP 529\)"):
        call(resolved, Agent(resolved.model))
    fake_anthropic.queue.clear()
    fake_anthropic.error(429, "rate_limit_error", "slow", {"retry-after-ms": "10"})
    fake_anthropic.error(429, "rate_limit_error", "slow", {"retry-after-ms": "10"})
    with pytest.raises(ModelError, match="still rate-limiting"):
        call(resolved, Agent(resolved.model))


def test_anthropic_401_says_the_key_was_refused(
    fake_anthropic: FakeAnthropic, anthropic_env: dict[str, str], tmp_path: Path
) -> None:
    resolved = resolve(SONNET, tmp_path, anthropic_env)
    fake_anthropic.error(401, "authentication_error", "invalid x-api-key")
    with pytest.raises(ModelError) as caught:
        call(resolved, Agent(resolved.model))
    assert caught.value.exit_code == EXIT_MODEL
    assert "the API key was refused" in str(caught.value) and "ANTHROPIC_API_KEY" in str(caught.value)
    assert ANTHROPIC_TEST_KEY not in str(caught.value)
    assert len(fake_anthropic.requests) == 1, "a refused key is not retried"


def test_anthropic_unknown_model_is_named(
    fake_anthropic: FakeAnthropic, anthropic_env: dict[str, str], tmp_path: Path
) -> None:
    resolved = resolve("anthropic:claude-nonesuch-9", tmp_path, anthropic_env)
    fake_anthropic.error(404, "not_found_error", "model: claude-nonesuch-9")
    with pytest.raises(ModelError) as caught:
        call(resolved, Agent(resolved.model))
    assert "no model named 'claude-nonesuch-9'" in str(caught.value)
    assert "workflow models" in str(caught.value)


def test_anthropic_unreachable_names_the_url(anthropic_env: dict[str, str], tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    resolved = resolve(SONNET, tmp_path, anthropic_env, ANTHROPIC_BASE_URL=url, WORKFLOW_MODEL_RETRIES="0")
    with pytest.raises(ModelError) as caught:
        call(resolved, Agent(resolved.model))
    assert f"cannot reach {url}" in str(caught.value)
    assert "ANTHROPIC_BASE_URL" in str(caught.value)


def test_anthropic_timeout(
    fake_anthropic: FakeAnthropic, anthropic_env: dict[str, str], tmp_path: Path
) -> None:
    resolved = resolve(
        SONNET, tmp_path, anthropic_env, WORKFLOW_MODEL_TIMEOUT="0.3", WORKFLOW_MODEL_RETRIES="0"
    )
    fake_anthropic.stall(1.0).text("too late")
    with pytest.raises(ModelError, match="(?s)did not answer in time.*WORKFLOW_MODEL_TIMEOUT"):
        call(resolved, Agent(resolved.model))


def test_anthropic_malformed_output_is_repaired(
    fake_anthropic: FakeAnthropic, anthropic_env: dict[str, str], tmp_path: Path
) -> None:
    resolved = resolve(SONNET, tmp_path, anthropic_env)
    fake_anthropic.tool_use("submit", {"answer": "many"})  # wrong type, and reason missing
    fake_anthropic.tool_use("submit", {"answer": 3, "reason": "fixed"})
    agent = Agent(resolved.model, output_type=ToolOutput(Verdict, name="submit"), retries={"output": 1})
    assert call(resolved, agent) == Verdict(answer=3, reason="fixed")
    [complaint] = tool_results(fake_anthropic.requests[-1].body)
    assert complaint.get("is_error") is True and "answer" in json.dumps(complaint["content"])


def test_anthropic_malformed_output_beyond_retries(
    fake_anthropic: FakeAnthropic, anthropic_env: dict[str, str], tmp_path: Path
) -> None:
    resolved = resolve(SONNET, tmp_path, anthropic_env)
    fake_anthropic.tool_use("submit", {"answer": "many"}).tool_use("submit", {"answer": "still"})
    agent = Agent(resolved.model, output_type=ToolOutput(Verdict, name="submit"), retries={"output": 1})
    with pytest.raises(ModelError, match="could not be used"):
        call(resolved, agent)


# -- OpenAI-compatible --------------------------------------------------------------------------
def test_openai_text(fake_openai: FakeOpenAI, openai_env: dict[str, str], tmp_path: Path) -> None:
    resolved = resolve("openai:gpt-4o-mini", tmp_path, openai_env)
    fake_openai.text("hi from openai", prompt_tokens=30, completion_tokens=3)
    result = Agent(resolved.model).run_sync("hello")
    assert result.output == "hi from openai" and result.usage.input_tokens == 30
    [request] = fake_openai.requests_to("/v1/chat/completions")
    assert request.headers["authorization"] == f"Bearer {OPENAI_TEST_KEY}"
    assert request.body["model"] == "gpt-4o-mini"


def test_openai_tool_call_output(fake_openai: FakeOpenAI, openai_env: dict[str, str], tmp_path: Path) -> None:
    resolved = resolve("openai:gpt-4o-mini", tmp_path, openai_env)
    fake_openai.tool_call("submit", {"answer": 5, "reason": "tool"})
    agent = Agent(resolved.model, output_type=ToolOutput(Verdict, name="submit"))
    assert call(resolved, agent) == Verdict(answer=5, reason="tool")
    assert fake_openai.requests[-1].body["tools"][0]["function"]["name"] == "submit"


def test_openai_streamed_tool_call(
    fake_openai: FakeOpenAI, openai_env: dict[str, str], tmp_path: Path
) -> None:
    resolved = resolve("openai:gpt-4o-mini", tmp_path, openai_env)
    fake_openai.tool_call("submit", {"answer": 6, "reason": "streamed"})
    agent = Agent(resolved.model, output_type=ToolOutput(Verdict, name="submit"))

    async def run() -> Verdict:
        async with agent.run_stream("x") as stream:
            return await stream.get_output()

    assert run_apart(run()) == Verdict(answer=6, reason="streamed")
    assert fake_openai.requests[-1].body["stream"] is True
    fake_openai.text("streamed text")

    async def text() -> str:
        async with Agent(resolved.model).run_stream("x") as stream:
            return await stream.get_output()

    assert run_apart(text()) == "streamed text"


def test_openai_429_is_retried(fake_openai: FakeOpenAI, openai_env: dict[str, str], tmp_path: Path) -> None:
    resolved = resolve("openai:gpt-4o-mini", tmp_path, openai_env)
    fake_openai.error(429, "rate_limit_exceeded", "slow down", {"retry-after": "1"}).text("ok now")
    assert call(resolved, Agent(resolved.model)) == "ok now"
    first, second = fake_openai.requests_to("/v1/chat/completions")
    assert second.at - first.at >= 1.0


def test_openai_401(fake_openai: FakeOpenAI, openai_env: dict[str, str], tmp_path: Path) -> None:
    resolved = resolve("openai:gpt-4o-mini", tmp_path, openai_env)
    fake_openai.error(401, "invalid_api_key", "Incorrect API key provided")
    with pytest.raises(ModelError, match="the API key was refused") as caught:
        call(resolved, Agent(resolved.model))
    assert "OPENAI_API_KEY" in str(caught.value)


def test_keyless_local_server_gets_a_placeholder_key(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    resolved = resolve("openai:llama3.2", tmp_path, {"OPENAI_BASE_URL": fake_openai.base_url})
    fake_openai.text("local answer")
    assert call(resolved, Agent(resolved.model)) == "local answer"
    assert fake_openai.requests[-1].headers["authorization"] == "Bearer not-needed"


def test_ollama_talks_openai_to_ollama_host(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    resolved = resolve("ollama:llama3.2", tmp_path, {"OLLAMA_HOST": f"127.0.0.1:{fake_openai.port}"})
    assert resolved.base_url == fake_openai.base_url
    fake_openai.tool_call("submit", {"answer": 1, "reason": "ollama"})
    agent = Agent(resolved.model, output_type=ToolOutput(Verdict, name="submit"))
    assert call(resolved, agent).reason == "ollama"
    assert fake_openai.requests[-1].body["model"] == "llama3.2"


def test_ollama_not_running(tmp_path: Path) -> None:
    resolved = resolve("ollama:llama3.2", tmp_path, {"OLLAMA_HOST": f"127.0.0.1:{free_port()}"})
    with pytest.raises(ModelError, match="(?s)cannot reach http://127.0.0.1:.*ollama serve"):
        call(resolved, Agent(resolved.model))


# -- checks and `workflow models` ---------------------------------------------------------------
def test_check_model_reaches_each_provider(
    fake_anthropic: FakeAnthropic, fake_openai: FakeOpenAI, anthropic_env: dict[str, str], tmp_path: Path
) -> None:
    status = check_model(resolve(SONNET, tmp_path, anthropic_env))
    assert (status.reachable, status.key_present, status.detail) == (True, True, "answers")
    [listing] = fake_anthropic.requests_to("/v1/models")
    auth = listing.headers.get("x-api-key") or listing.headers.get("authorization", "")
    assert auth.endswith(ANTHROPIC_TEST_KEY)
    fake_anthropic.error(401, "authentication_error", "invalid x-api-key")
    refused = check_model(resolve(SONNET, tmp_path, anthropic_env))
    assert refused.reachable is False and "the API key was refused" in refused.detail
    local = {"OPENAI_BASE_URL": fake_openai.base_url}
    missing = check_model(resolve("openai:qwen", tmp_path, local))
    assert (
        missing.reachable is True
        and "does not list 'qwen'" in missing.detail
        and missing.key_present is False
    )
    served = check_model(resolve("ollama:llama3.2", tmp_path, {"OLLAMA_HOST": fake_openai.url}))
    assert (served.reachable, served.detail, served.key_present) == (True, "answers", None)
    gone = check_model(resolve("ollama:llama3.2", tmp_path, {"OLLAMA_HOST": f"127.0.0.1:{free_port()}"}), 1.0)
    assert gone.reachable is False and "cannot reach" in gone.detail
    assert check_model(resolve("test", tmp_path, {})).reachable is True


def test_list_configured_finds_local_servers(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    env = {"OLLAMA_HOST": fake_openai.url, "OPENAI_BASE_URL": fake_openai.base_url, "WORKFLOW_MODEL": "test"}
    statuses = list_configured(tmp_path, env, check=True)
    names = [s.name for s in statuses]
    assert names[0] == "test" and statuses[0].active and statuses[0].source == "WORKFLOW_MODEL"
    assert "ollama:llama3.2" in names and "openai:gpt-4o-mini" in names
    assert all(s.reachable for s in statuses if s.provider in ("ollama", "openai"))
    unchecked = list_configured(tmp_path, env, check=False)
    assert {s.name for s in unchecked if s.provider != "anthropic"} == {
        "test",
        "ollama:MODEL",
        "openai:MODEL",
    }
    fake_openai.models = []
    empty = list_configured(tmp_path, {"OLLAMA_HOST": fake_openai.url}, check=True)
    assert any(s.detail == "answers, but serves no models yet" for s in empty)
    gone = {"OLLAMA_HOST": f"127.0.0.1:{free_port()}"}
    [ollama] = [s for s in list_configured(tmp_path, gone, check=True) if s.provider == "ollama"]
    assert ollama.reachable is False and "cannot reach" in ollama.detail


def run_apart(coroutine: Any) -> Any:
    import asyncio

    loop = asyncio.new_event_loop()  # not asyncio.run: it would orphan the loop run_sync keeps
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


@pytest.fixture
def no_local_ollama(monkeypatch: pytest.MonkeyPatch) -> None:
    # Point the localhost probe at a closed port, so a real Ollama on this machine cannot change the result.
    from workflow_agent.models import registry

    monkeypatch.setattr(registry, "OLLAMA_URL", f"http://127.0.0.1:{free_port()}/v1")


@pytest.mark.usefixtures("no_local_ollama")
def test_workflow_models_json_reports_a_missing_key(cli: Cli) -> None:
    result = cli("models", "--json")
    assert result.exit_code == EXIT_MODEL, "the model in use cannot be used"
    report = json.loads(result.stdout)
    [active] = [m for m in report["models"] if m["active"]]
    assert active["name"] == report["default"] == report["active"]
    assert active["key_present"] is False and "ANTHROPIC_API_KEY" in active["detail"]
    assert "ANTHROPIC_API_KEY" in active["error"]
    assert all(m["provider"] != "ollama" for m in report["models"])


@pytest.mark.usefixtures("no_local_ollama")
def test_workflow_models_json_with_the_fake_server(
    cli: Cli, fake_anthropic: FakeAnthropic, anthropic_env: dict[str, str]
) -> None:
    result = cli("models", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    [active] = [m for m in report["models"] if m["active"]]
    assert (active["reachable"], active["key_present"], active["base_url"]) == (
        True,
        True,
        fake_anthropic.url,
    )
    assert ANTHROPIC_TEST_KEY not in result.stdout + result.stderr
    table = cli("models", "--no-check")
    assert table.exit_code == 0 and "not checked" in table.stdout and "set" in table.stdout


@pytest.mark.usefixtures("no_local_ollama")
def test_workflow_models_fails_for_an_unknown_provider(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKFLOW_MODEL", "gemini:pro")
    result = cli("models", "--json", "--no-check")
    assert result.exit_code == EXIT_MODEL
    [active] = [m for m in json.loads(result.stdout)["models"] if m["active"]]
    assert active["name"] == "gemini:pro" and "unknown model" in active["error"]


@pytest.mark.usefixtures("no_local_ollama")
def test_workflow_models_table_marks_the_active_model(cli: Cli, tmp_path: Path, workflow_home: Path) -> None:
    workflow_home.mkdir(parents=True, exist_ok=True)
    (workflow_home / "config.yaml").write_text("model: test\n")
    result = cli("models")
    assert result.exit_code == 0
    first = result.stdout.splitlines()[1]
    assert first.startswith("*") and "test" in first and "config.yaml" in first
