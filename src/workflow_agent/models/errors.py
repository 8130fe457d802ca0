"""Provider failures as one ModelError (exit 4) that says what happened and what to do next.

``model_error(exc, resolved)`` *returns* a ModelError for anything a model provider can throw:
pydantic-ai's categorised errors (``ModelAPIError`` and its subclasses, ``UnexpectedModelBehavior``,
``UsageLimitExceeded``), the anthropic/openai SDK errors and httpx2 transport errors that escape
pydantic-ai (``workflow models`` calls the SDKs directly), and the OS's connection errors. It looks
through ``__cause__`` too, so an error our agents wrapped still gets the specific message.

Anything else (our own WorkflowErrors, programming errors) is *re-raised unchanged* from inside
``model_error``, so the usual call site needs no special case::

    try:
        result = coder.generate(task)
    except Exception as exc:
        raise model_error(exc, resolved) from exc
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

from workflow_agent.core.errors import ModelError

if TYPE_CHECKING:
    from workflow_agent.models.registry import ResolvedModel

__all__ = ["model_error"]

_PROVIDER_NAMES: Final = {
    "anthropic": "Anthropic",
    "openai": "the OpenAI-compatible server",
    "ollama": "Ollama",
}
_KEY_VARS: Final = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}
_URL_VARS: Final = {"anthropic": "ANTHROPIC_BASE_URL", "openai": "OPENAI_BASE_URL", "ollama": "OLLAMA_HOST"}
_OTHER_MODEL: Final = "or choose another model with --model (see `workflow models`)"


def model_error(exc: BaseException, resolved: ResolvedModel) -> ModelError:
    """The ModelError for a provider failure; re-raises ``exc`` itself when it is not one."""
    for candidate in _chain(exc):
        mapped = _map(candidate, resolved)
        if mapped is not None:
            return mapped
    if isinstance(exc, ModelError):
        return exc
    raise exc


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__


def _where(resolved: ResolvedModel) -> str:
    name = _PROVIDER_NAMES.get(resolved.provider, resolved.provider)
    return f"{name} at {resolved.base_url}" if resolved.base_url else name


def _model_id(resolved: ResolvedModel) -> str:
    return resolved.name.partition(":")[2] or resolved.name


def _retries(resolved: ResolvedModel) -> str:
    client = getattr(resolved.model, "client", None)
    count = getattr(client, "max_retries", None)
    return f"after {count} retries" if isinstance(count, int) and count > 0 else "(no retries left)"


def _map(exc: BaseException, resolved: ResolvedModel) -> ModelError | None:
    from pydantic_ai import exceptions as ai

    if isinstance(exc, ai.ModelAPIError):
        return _api_error(exc, resolved)
    if isinstance(exc, ai.UsageLimitExceeded):
        return ModelError(
            f"the model {resolved.name} needed more requests than allowed ({exc})",
            hint=f"Describe the task more simply, {_OTHER_MODEL}.",
        )
    if isinstance(exc, ai.UnexpectedModelBehavior):
        return ModelError(
            f"the answer from {resolved.name} could not be used: {exc.message}",
            hint=f"Try again (answers vary), {_OTHER_MODEL}; small local models often "
            "cannot follow the output format.",
        )
    return _sdk_error(exc, resolved)


def _api_error(exc: BaseException, resolved: ResolvedModel) -> ModelError:
    """pydantic-ai's categorised provider errors."""
    from pydantic_ai import exceptions as ai

    status = getattr(exc, "status_code", None)
    message = str(getattr(exc, "message", exc))
    kinds: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], str], ...] = (
        (ai.ModelAuthenticationError, "auth"),
        (ai.ModelNotFoundError, "not_found"),
        (ai.ModelQuotaExceededError, "quota"),
        (ai.ModelRateLimitError, "rate_limit"),
        (ai.ModelOverloadedError, "overloaded"),
        (ai.ModelContextWindowExceededError, "too_long"),
        ((ai.ModelRequestTimeout, ai.ModelTimeoutError), "timeout"),
        (ai.ModelConnectionError, "unreachable"),
        ((ai.ModelUnavailableError, ai.ModelServerError), "server"),
    )
    kind = next((name for types, name in kinds if isinstance(exc, types)), "rejected")
    return _by_kind(kind, resolved, status, message)


def _status_kind(status: int, message: str) -> str:
    """The kind of an HTTP error the SDK raised directly."""
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not_found"
    if status == 402:
        return "quota"
    if status == 429:
        return "rate_limit"
    if status == 529 or "overloaded" in message.lower():
        return "overloaded"
    return "server" if status >= 500 else "rejected"


def _by_kind(kind: str, resolved: ResolvedModel, status: int | None, message: str) -> ModelError:
    where = _where(resolved)
    code = f" (HTTP {status})" if status else ""
    if kind == "auth":
        return _auth(resolved, code)
    if kind == "not_found":
        return _not_found(resolved, code)
    if kind == "unreachable":
        return _unreachable(resolved, message)
    if kind == "timeout":
        return ModelError(
            f"{where} did not answer in time for {resolved.name}",
            hint="Try again; for a slow local model raise WORKFLOW_MODEL_TIMEOUT (seconds per attempt).",
        )
    if kind == "quota":
        return ModelError(
            f"{where} refused the request: the account's credit or quota is used up{code}",
            hint=f"Add credit or raise the limit in the provider's console, {_OTHER_MODEL}.",
        )
    if kind == "rate_limit":
        return ModelError(
            f"{where} is still rate-limiting requests for {resolved.name} {_retries(resolved)}{code}",
            hint=f"Wait a minute and try again, {_OTHER_MODEL}.",
        )
    if kind == "overloaded":
        return ModelError(
            f"{where} is overloaded and could not serve {resolved.name} {_retries(resolved)}{code}",
            hint=f"Try again in a few minutes, {_OTHER_MODEL}.",
        )
    if kind == "too_long":
        return ModelError(
            f"the request is too long for {resolved.name}{code}",
            hint="Shorten the task or the workflow's CLAUDE.md, or use a model with a larger context window.",
        )
    if kind == "server":
        return ModelError(
            f"{where} failed with a server error for {resolved.name} {_retries(resolved)}{code}",
            hint=f"Try again later, {_OTHER_MODEL}.",
        )
    return ModelError(
        f"{where} refused the request for {resolved.name}{code}: {message}"[:600],
        hint=f"Check the model settings, {_OTHER_MODEL}.",
    )


def _auth(resolved: ResolvedModel, code: str) -> ModelError:
    variable = _KEY_VARS.get(resolved.provider)
    if resolved.key_source == "api_key_command":
        fix = "Check what api_key_command in config.yaml prints"
    elif variable:
        fix = f"Check {variable} (a new key can be made in the provider's console)"
    else:
        fix = "Check the server's API key settings"
    return ModelError(
        f"the API key was refused by {_where(resolved)}{code}",
        hint=f"{fix}, and that the key may use {resolved.name}; {_OTHER_MODEL}.",
    )


def _not_found(resolved: ResolvedModel, code: str) -> ModelError:
    model_id = _model_id(resolved)
    if resolved.provider == "ollama":
        extra = f"Download it with `ollama pull {model_id}`, or pick one `ollama list` shows"
    else:
        extra = f"Check the name; a wrong {_URL_VARS.get(resolved.provider, 'base URL')} gives this error too"
    return ModelError(
        f"{_where(resolved)} has no model named {model_id!r}{code}",
        hint=f"{extra}. `workflow models` lists what is configured.",
    )


def _unreachable(resolved: ResolvedModel, detail: str) -> ModelError:
    url = resolved.base_url or "the provider"
    if resolved.provider == "ollama":
        hint = "Start Ollama (`ollama serve`), or set OLLAMA_HOST to where it listens."
    elif resolved.provider == "openai":
        hint = (
            "Check OPENAI_BASE_URL and that the server is running (e.g. vLLM, llama.cpp server, LM Studio)."
        )
    else:
        hint = f"Check your network connection, or {_URL_VARS.get(resolved.provider, 'the base URL')}."
    detail = detail.strip().splitlines()[0][:200] if detail.strip() else "connection failed"
    return ModelError(f"cannot reach {url} for {resolved.name}: {detail}", hint=hint)


def _sdk_error(exc: BaseException, resolved: ResolvedModel) -> ModelError | None:
    """Errors straight from the SDKs, httpx2 or the OS (the calls pydantic-ai does not wrap)."""
    import anthropic
    import httpx2
    import openai

    if isinstance(exc, (anthropic.APIStatusError, openai.APIStatusError)):
        return _by_kind(_status_kind(exc.status_code, exc.message), resolved, exc.status_code, exc.message)
    timeouts = (anthropic.APITimeoutError, openai.APITimeoutError, httpx2.TimeoutException, TimeoutError)
    if isinstance(exc, timeouts):
        return _by_kind("timeout", resolved, None, str(exc))
    if isinstance(exc, (anthropic.APIConnectionError, openai.APIConnectionError, httpx2.TransportError)):
        return _unreachable(resolved, str(exc.__cause__ or exc))
    if isinstance(exc, ConnectionError):
        return _unreachable(resolved, str(exc))
    return None
