"""Model providers: one registry for Claude, OpenAI-compatible servers, Ollama and the scripted fake.

Importing this package is cheap: pydantic-ai and the SDKs load only when a model is built.
"""

from __future__ import annotations

from workflow_agent.models.check import ModelStatus, check_model, list_configured
from workflow_agent.models.errors import model_error
from workflow_agent.models.pricing import estimate_cost
from workflow_agent.models.registry import DEFAULT_MODEL, PROVIDERS, ResolvedModel, resolve_model

__all__ = [
    "DEFAULT_MODEL",
    "PROVIDERS",
    "ModelStatus",
    "ResolvedModel",
    "check_model",
    "estimate_cost",
    "list_configured",
    "model_error",
    "resolve_model",
]
