"""What `workflow models` reports: the models configured here, and whether each one answers.

A check asks the provider for its model list (``GET {base}/v1/models``) with a short timeout and
no retries, through the same SDK client the agents would use, so a key, a base URL and a running
server are all tested at once. Keys are never printed: only whether one is there.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from workflow_agent.core.errors import ModelError
from workflow_agent.models.registry import (
    DEFAULT_MODEL,
    PLACEHOLDER_KEY,
    ResolvedModel,
    choose_spec,
    is_local,
    load_user_config,
    ollama_base_url,
    resolve_model,
)

if TYPE_CHECKING:
    from workflow_agent.models.registry import UserModelConfig

__all__ = ["CHECK_TIMEOUT_S", "ModelStatus", "check_model", "list_configured"]

CHECK_TIMEOUT_S: Final = 5.0
# Looking for an Ollama nobody configured must not slow `workflow models` down.
OLLAMA_PROBE_TIMEOUT_S: Final = 0.5
SERVED_LIMIT: Final = 20
_KEY_VARS: Final = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}


@dataclass(frozen=True)
class ModelStatus:
    """One configured model as `workflow models` shows it."""

    name: str
    provider: str
    base_url: str | None
    key_present: bool | None  # None: this provider needs no key
    reachable: bool | None  # None: not checked
    detail: str
    source: str = (
        "default"  # "--model", "WORKFLOW_MODEL", "config.yaml", "default", "ollama", "OPENAI_BASE_URL"
    )
    active: bool = False  # the model used when --model is not given
    error: str | None = None  # why the model cannot be used at all (no key, unknown provider, ...)

    @property
    def usable(self) -> bool:
        """Nothing known to stop it: built, a key where one is needed, and answering if checked."""
        return self.error is None and self.key_present is not False and self.reachable is not False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_model(resolved: ResolvedModel, timeout: float = CHECK_TIMEOUT_S) -> ModelStatus:
    """Ask the provider behind ``resolved`` for its models; say whether it answered and what it said."""
    status = ModelStatus(
        name=resolved.name,
        provider=resolved.provider,
        base_url=resolved.base_url,
        key_present=_key_present(resolved),
        reachable=None,
        detail="",
        source=resolved.source,
    )
    if resolved.provider == "test":
        return replace(status, reachable=True, detail="built in: a scripted fake that needs no network")
    client = getattr(resolved.model, "client", None)
    if client is None:  # pragma: no cover - every registered provider has an SDK client
        return replace(status, detail="cannot be checked")
    try:
        served = _run_apart(_list_models(client, timeout))
    except Exception as exc:
        return replace(status, reachable=False, detail=_failure(exc, resolved))
    model_id = resolved.name.partition(":")[2]
    if not served or model_id in served or resolved.provider == "anthropic":
        # Anthropic also serves aliases it does not list, so its list proves nothing either way.
        return replace(status, reachable=True, detail="answers")
    shown = ", ".join(served[:5]) + (", …" if len(served) > 5 else "")
    return replace(
        status, reachable=True, detail=f"answers, but does not list {model_id!r} (it serves: {shown})"
    )


def _run_apart(coroutine: Coroutine[Any, Any, list[str]]) -> list[str]:
    """Run ``coroutine`` on a loop of its own, leaving the thread's current loop alone.

    ``asyncio.run`` would unset the loop pydantic-ai's ``run_sync`` keeps for the thread, which then
    dies unclosed; a private loop, closed here, touches nothing else.
    """
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _list_models(client: Any, timeout: float) -> list[str]:
    import httpx2

    # A client of its own, closed here: connections must not outlive this event loop.
    async with httpx2.AsyncClient(timeout=timeout) as http:
        quick = client.with_options(http_client=http, max_retries=0, timeout=timeout)
        page = await quick.models.list()
        return [str(item.id) for item in page.data]


def _failure(exc: Exception, resolved: ResolvedModel) -> str:
    from workflow_agent.models.errors import model_error

    try:
        return model_error(exc, resolved).message
    except Exception:
        return f"{type(exc).__name__}: {exc}"[:300]


def _key_present(resolved: ResolvedModel) -> bool | None:
    if resolved.provider in ("test", "ollama"):
        return None
    if resolved.key_source is None:
        # openai: with a base URL of its own and no key, a placeholder is sent.
        client = getattr(resolved.model, "client", None)
        return getattr(client, "api_key", PLACEHOLDER_KEY) != PLACEHOLDER_KEY
    return True


def list_configured(
    home: Path,
    environ: Mapping[str, str] | None = None,
    *,
    check: bool = False,
    timeout: float = CHECK_TIMEOUT_S,
) -> list[ModelStatus]:
    """Every model configured here, the active one first; with ``check``, whether each answers.

    Configured means: the one in use (WORKFLOW_MODEL, else config.yaml, else the default), the
    others of those three, and the models a local server offers (Ollama at OLLAMA_HOST or, when
    checking, at localhost:11434 if it answers quickly; an OpenAI-compatible server at a local
    OPENAI_BASE_URL).
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    config = load_user_config(home)
    active, active_source = choose_spec(None, environ=env, config=config)
    specs: list[tuple[str, str]] = [(active, active_source)]
    for spec, source in (
        (env.get("WORKFLOW_MODEL", ""), "WORKFLOW_MODEL"),
        (config.model or "", "config.yaml"),
    ):
        specs.append((spec.strip(), source))
    specs.append((DEFAULT_MODEL, "default"))
    seen: set[str] = set()
    result: list[ModelStatus] = []
    for spec, source in specs:
        if not spec or spec in seen:
            continue
        seen.add(spec)
        status = _status(spec, source, home, env, config, check=check, timeout=timeout)
        result.append(replace(status, active=spec == active))
    for status in _local_servers(env, check=check):
        if status.name not in seen:
            seen.add(status.name)
            result.append(status)
    return result


def _status(
    spec: str,
    source: str,
    home: Path,
    environ: Mapping[str, str],
    config: UserModelConfig,
    *,
    check: bool,
    timeout: float,
) -> ModelStatus:
    provider = spec.partition(":")[0]
    try:
        resolved = resolve_model(spec, home=home, environ=environ)
    except ModelError as exc:
        variable = _KEY_VARS.get(provider)
        missing = variable is not None and not environ.get(variable) and config.key_command(provider) is None
        return ModelStatus(
            name=spec,
            provider=provider,
            base_url=None,
            key_present=False if missing else None,
            reachable=None,
            detail=exc.message,
            source=source,
            error=exc.message,
        )
    resolved = replace(resolved, source=source)
    if check:
        return check_model(resolved, timeout)
    return ModelStatus(
        name=resolved.name,
        provider=resolved.provider,
        base_url=resolved.base_url,
        key_present=_key_present(resolved),
        reachable=None,
        detail="not checked",
        source=source,
    )


def _local_servers(environ: Mapping[str, str], *, check: bool) -> list[ModelStatus]:
    """Models offered by Ollama and by a local OpenAI-compatible server, when there is one."""
    found: list[ModelStatus] = []
    ollama_set = bool(environ.get("OLLAMA_HOST", "").strip())
    if ollama_set or check:
        base = ollama_base_url(environ)
        timeout = CHECK_TIMEOUT_S if ollama_set else OLLAMA_PROBE_TIMEOUT_S
        found += _served("ollama", base, None, "ollama", timeout, probe=check, announced=ollama_set)
    custom = environ.get("OPENAI_BASE_URL", "").strip()
    if custom and is_local(custom):
        key = environ.get("OPENAI_API_KEY") or None
        found += _served(
            "openai", custom, key, "OPENAI_BASE_URL", CHECK_TIMEOUT_S, probe=check, announced=True
        )
    return found


def _served(
    provider: str,
    base_url: str,
    key: str | None,
    source: str,
    timeout: float,
    *,
    probe: bool,
    announced: bool,
) -> list[ModelStatus]:
    placeholder = ModelStatus(
        name=f"{provider}:MODEL",
        provider=provider,
        base_url=base_url,
        key_present=None,
        reachable=None,
        detail=f"use --model {provider}:NAME",
        source=source,
    )
    if not probe:
        return [placeholder]
    try:
        names = _get_model_ids(base_url, key, timeout)
    except Exception as exc:
        if not announced:
            return []  # nobody said there was one; nothing answered
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return [replace(placeholder, reachable=False, detail=f"cannot reach {base_url}: {reason}")]
    if not names:
        return [replace(placeholder, reachable=True, detail="answers, but serves no models yet")]
    return [
        replace(placeholder, name=f"{provider}:{name}", reachable=True, detail="served here")
        for name in names[:SERVED_LIMIT]
    ]


def _get_model_ids(base_url: str, key: str | None, timeout: float) -> list[str]:
    import httpx2

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = httpx2.get(f"{base_url.rstrip('/')}/models", headers=headers, timeout=timeout)
    response.raise_for_status()
    data = response.json().get("data", [])
    return [str(item["id"]) for item in data if isinstance(item, dict) and "id" in item]
