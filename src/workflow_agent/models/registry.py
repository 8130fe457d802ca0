"""Which model to use, and the pydantic-ai ``Model`` for it: one registry, the fake model included.

A spec is ``provider:id`` (``anthropic:claude-sonnet-5-5``, ``openai:gpt-4o-mini``,
``ollama:llama3.2``) or ``test``. It comes from ``--model``, else ``WORKFLOW_MODEL``, else
``model:`` in ``$WORKFLOW_HOME/config.yaml``, else ``DEFAULT_MODEL``.

We build the SDK clients ourselves, so every knob is explicit and read from the ``environ`` passed
in (never from globals): retries (the SDKs retry 408/409/429/5xx/529 and refused connections,
honouring ``retry-after``), the per-attempt timeout, and the base URL. pydantic-ai, anthropic and
openai are imported only when a model is built, so importing this module stays cheap.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from workflow_agent.core.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from pydantic_ai.models import Model

__all__ = [
    "DEFAULT_MODEL",
    "PROVIDERS",
    "ResolvedModel",
    "UserModelConfig",
    "choose_spec",
    "load_user_config",
    "resolve_model",
]

DEFAULT_MODEL: Final = "anthropic:claude-sonnet-5-5"
ANTHROPIC_URL: Final = "https://api.anthropic.com"
OPENAI_URL: Final = "https://api.openai.com/v1"
OLLAMA_URL: Final = "http://localhost:11434/v1"
# Attempts after the first, for the SDKs' own retry loop (429, 529 overloaded, 5xx, refused connections).
DEFAULT_RETRIES: Final = 4
# A server on this machine that refuses a connection is not running; retrying only delays the message.
LOCAL_RETRIES: Final = 1
# Seconds per attempt. Local models on a CPU are slow, so they get longer.
DEFAULT_TIMEOUT_S: Final = 120.0
LOCAL_TIMEOUT_S: Final = 600.0
KEY_COMMAND_TIMEOUT_S: Final = 15.0
# Sent to local OpenAI-compatible servers, which ignore it; the SDK refuses an empty key.
PLACEHOLDER_KEY: Final = "not-needed"
PROVIDERS: Final = ("anthropic", "openai", "ollama", "test")
FORMS: Final = (
    "anthropic:MODEL_ID (needs ANTHROPIC_API_KEY), openai:MODEL_ID (OPENAI_API_KEY, or OPENAI_BASE_URL "
    "for any OpenAI-compatible server), ollama:MODEL (a local Ollama), or test (a scripted fake)"
)


@dataclass(frozen=True)
class ResolvedModel:
    """A model ready for ``pydantic_ai.Agent(model=resolved.model)``, and where it came from."""

    name: str  # "anthropic:claude-…", "openai:gpt-4o-mini", "ollama:llama3.2", "test"
    model: Model = field(repr=False)
    provider: str  # "anthropic" | "openai" | "ollama" | "test"
    base_url: str | None
    source: str = "default"  # "--model", "WORKFLOW_MODEL", "config.yaml" or "default"
    key_source: str | None = None  # the env var or "api_key_command" the key came from; never the key


@dataclass(frozen=True)
class UserModelConfig:
    """The model settings of ``$WORKFLOW_HOME/config.yaml``."""

    path: Path
    model: str | None = None
    # provider -> shell command printing the API key; "*" applies to every hosted provider.
    key_commands: Mapping[str, str] = field(default_factory=dict)

    def key_command(self, provider: str) -> str | None:
        return self.key_commands.get(provider) or self.key_commands.get("*")


@dataclass(frozen=True)
class _Request:
    model_id: str
    environ: Mapping[str, str]
    config: UserModelConfig


def load_user_config(home: Path) -> UserModelConfig:
    """Read ``model:`` and ``api_key_command:`` from ``home/config.yaml`` (absent file: nothing set)."""
    from workflow_agent.storage.yamldoc import key_line, load_document

    path = home / "config.yaml"
    if not path.is_file():
        return UserModelConfig(path)
    doc = load_document(path)

    def bad(key: str, expected: str) -> ConfigError:
        line = key_line(doc, (key,))
        where = f"{path}:{line}" if line else str(path)
        return ConfigError(f"{where}: {key} must be {expected}", hint="Fix the file by hand.")

    model = doc.get("model")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise bad("model", "a model name such as anthropic:claude-sonnet-5-5")
    raw = doc.get("api_key_command")
    commands: dict[str, str] = {}
    if isinstance(raw, str) and raw.strip():
        commands["*"] = raw
    elif isinstance(raw, Mapping):
        for provider, command in raw.items():
            if provider not in ("anthropic", "openai") or not isinstance(command, str) or not command.strip():
                raise bad("api_key_command", "a command, or a mapping of anthropic/openai to commands")
            commands[str(provider)] = command
    elif raw is not None:
        raise bad("api_key_command", "a command, or a mapping of anthropic/openai to commands")
    return UserModelConfig(path, model.strip() if model else None, commands)


def choose_spec(spec: str | None, *, environ: Mapping[str, str], config: UserModelConfig) -> tuple[str, str]:
    """The spec to use and where it came from: --model, WORKFLOW_MODEL, config.yaml, then the default."""
    if spec is not None and spec.strip():
        return spec.strip(), "--model"
    if environ.get("WORKFLOW_MODEL", "").strip():
        return environ["WORKFLOW_MODEL"].strip(), "WORKFLOW_MODEL"
    if config.model:
        return config.model, "config.yaml"
    return DEFAULT_MODEL, "default"


def resolve_model(spec: str | None, *, home: Path, environ: Mapping[str, str] | None = None) -> ResolvedModel:
    """The model ``spec`` names (or the configured one), with its client built; ModelError if unusable."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    config = load_user_config(home)
    chosen, source = choose_spec(spec, environ=env, config=config)
    provider, colon, model_id = chosen.partition(":")
    provider = provider.strip().lower()
    builder = _BUILDERS.get(provider)
    if builder is None:
        raise ModelError(f"unknown model {chosen!r} (from {source})", hint=_forms_hint(chosen))
    if provider != "test" and not (colon and model_id.strip()):
        raise ModelError(
            f"model {chosen!r} (from {source}) does not say which {provider} model to use",
            hint=f"Write it as {provider}:MODEL_ID. Valid forms: {FORMS}.",
        )
    resolved = builder(_Request(model_id.strip(), env, config))
    return ResolvedModel(
        name=resolved.name,
        model=resolved.model,
        provider=resolved.provider,
        base_url=resolved.base_url,
        source=source,
        key_source=resolved.key_source,
    )


def _forms_hint(spec: str) -> str:
    lowered = spec.lower()
    if lowered.startswith("claude"):
        return f"Did you mean anthropic:{spec}? Valid forms: {FORMS}."
    if lowered.startswith(("gpt", "o1", "o3", "o4")):
        return f"Did you mean openai:{spec}? Valid forms: {FORMS}."
    return f"Valid forms: {FORMS}."


# -- knobs ------------------------------------------------------------------------------------
def _float_env(environ: Mapping[str, str], key: str, default: float) -> float:
    raw = environ.get(key, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{key}={raw!r} is not a number of seconds") from None
    if not value > 0:
        raise ConfigError(f"{key}={raw!r} must be more than 0 seconds")
    return value


def _retries(environ: Mapping[str, str], base_url: str) -> int:
    raw = environ.get("WORKFLOW_MODEL_RETRIES", "").strip()
    if not raw:
        return LOCAL_RETRIES if is_local(base_url) else DEFAULT_RETRIES
    try:
        return max(int(raw), 0)
    except ValueError:
        raise ConfigError(f"WORKFLOW_MODEL_RETRIES={raw!r} is not a whole number") from None


def _timeout(environ: Mapping[str, str], base_url: str) -> float:
    default = LOCAL_TIMEOUT_S if is_local(base_url) else DEFAULT_TIMEOUT_S
    return _float_env(environ, "WORKFLOW_MODEL_TIMEOUT", default)


def is_local(base_url: str) -> bool:
    """Whether ``base_url`` points at this machine (a local model server)."""
    host = (urlsplit(base_url).hostname or "").lower()
    return host in ("localhost", "0.0.0.0", "::1") or host.startswith("127.")  # noqa: S104


def ollama_base_url(environ: Mapping[str, str]) -> str:
    """Ollama's OpenAI-compatible endpoint, from OLLAMA_HOST ("host", "host:port" or a URL) or the default."""
    host = environ.get("OLLAMA_HOST", "").strip().rstrip("/")
    if not host:
        return OLLAMA_URL
    if "://" not in host:
        # Ollama's own convention: a bare host means plain HTTP on port 11434.
        host = f"http://{host}"
        if urlsplit(host).port is None:
            host += ":11434"
    return host if urlsplit(host).path else f"{host}/v1"


# -- keys -------------------------------------------------------------------------------------
def _missing_key(provider: str, variable: str, config: UserModelConfig) -> ModelError:
    example = "sk-ant-…" if provider == "anthropic" else "sk-…"
    return ModelError(
        f"no API key for {provider}: {variable} is not set",
        hint=(
            f"Set it with `export {variable}={example}` (or add `api_key_command: <command that prints "
            f"the key>` to {config.path}), or use a local model instead: `--model ollama:llama3.2` "
            "(Ollama), or `OPENAI_BASE_URL=http://localhost:8000/v1 workflow … --model openai:NAME` "
            "(vLLM, llama.cpp server, LM Studio). `--model test` needs nothing."
        ),
    )


def api_key(provider: str, variable: str, request: _Request) -> tuple[str | None, str | None]:
    """The key and where it came from: the environment, else the configured api_key_command."""
    key = request.environ.get(variable, "").strip()
    if key:
        return key, variable
    command = request.config.key_command(provider)
    if command is None:
        return None, None
    return run_key_command(command, provider, request.config.path), "api_key_command"


def run_key_command(command: str, provider: str, config_path: Path) -> str:
    """Run ``api_key_command``; its stdout is the key. Nothing it prints is logged or stored."""
    where = f"api_key_command for {provider} (in {config_path})"
    try:
        proc = subprocess.run(
            ["/bin/sh", "-c", command],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=KEY_COMMAND_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ModelError(
            f"{where} did not finish within {KEY_COMMAND_TIMEOUT_S:g} s",
            hint="Check that the command runs without asking for input.",
        ) from None
    except OSError as exc:
        raise ModelError(f"{where} could not start: {exc.strerror}") from None
    if proc.returncode != 0:
        last = next((line for line in reversed(proc.stderr.splitlines()) if line.strip()), "")
        raise ModelError(
            f"{where} failed with exit status {proc.returncode}",
            hint=f"It said: {last.strip()[:200]}" if last else "Run the command by hand to see why.",
        )
    key = proc.stdout.strip()
    if not key:
        raise ModelError(f"{where} printed nothing", hint="The command must print the API key on stdout.")
    return key


# -- providers --------------------------------------------------------------------------------
def _anthropic(request: _Request) -> ResolvedModel:
    key, key_source = api_key("anthropic", "ANTHROPIC_API_KEY", request)
    if key is None:
        raise _missing_key("anthropic", "ANTHROPIC_API_KEY", request.config)
    base_url = request.environ.get("ANTHROPIC_BASE_URL", "").strip() or ANTHROPIC_URL

    from anthropic import AsyncAnthropic
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.providers.anthropic import AnthropicProvider

    client = AsyncAnthropic(
        api_key=key,
        base_url=base_url,
        max_retries=_retries(request.environ, base_url),
        timeout=_timeout(request.environ, base_url),
    )
    model = AnthropicModel(request.model_id, provider=AnthropicProvider(anthropic_client=client))
    return ResolvedModel(f"anthropic:{request.model_id}", model, "anthropic", base_url, key_source=key_source)


def _openai_model(request: _Request, provider: str, base_url: str, key: str) -> Model:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(
        api_key=key,
        base_url=base_url,
        max_retries=_retries(request.environ, base_url),
        timeout=_timeout(request.environ, base_url),
    )
    if provider == "ollama":
        from pydantic_ai.models.ollama import OllamaModel
        from pydantic_ai.providers.ollama import OllamaProvider

        return OllamaModel(request.model_id, provider=OllamaProvider(openai_client=client))
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    return OpenAIChatModel(request.model_id, provider=OpenAIProvider(openai_client=client))


def _openai(request: _Request) -> ResolvedModel:
    custom_url = request.environ.get("OPENAI_BASE_URL", "").strip()
    key, key_source = api_key("openai", "OPENAI_API_KEY", request)
    if key is None:
        if not custom_url:
            raise _missing_key("openai", "OPENAI_API_KEY", request.config)
        key = PLACEHOLDER_KEY  # local servers (vLLM, llama.cpp, LM Studio) usually want none
    base_url = custom_url or OPENAI_URL
    model = _openai_model(request, "openai", base_url, key)
    return ResolvedModel(f"openai:{request.model_id}", model, "openai", base_url, key_source=key_source)


def _ollama(request: _Request) -> ResolvedModel:
    base_url = ollama_base_url(request.environ)
    model = _openai_model(request, "ollama", base_url, PLACEHOLDER_KEY)
    return ResolvedModel(f"ollama:{request.model_id}", model, "ollama", base_url)


def _test(request: _Request) -> ResolvedModel:
    from workflow_agent.models.scripted import scripted_model

    return ResolvedModel("test", scripted_model(), "test", None)


_BUILDERS: dict[str, Callable[[_Request], ResolvedModel]] = {
    "anthropic": _anthropic,
    "openai": _openai,
    "ollama": _ollama,
    "test": _test,
}
