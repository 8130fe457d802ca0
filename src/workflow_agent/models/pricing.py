"""What a model call cost, estimated from list prices per million tokens.

A small table, not a price service: it covers the models people are likely to pick and says
"unknown" (None) for the rest rather than guess. Local models cost nothing. Prices as listed by
the providers (and genai-prices) when this table was written; cached-input discounts are ignored,
so estimates err on the high side.
"""

from __future__ import annotations

from typing import Final

__all__ = ["PRICES", "estimate_cost", "price_of"]

# model id prefix -> (USD per million input tokens, USD per million output tokens). The longest
# matching prefix wins, so dated ids ("claude-haiku-4-5-20251001") find their family.
PRICES: Final[dict[str, tuple[float, float]]] = {
    # Anthropic
    "claude-fable-5": (8.0, 40.0),
    "claude-opus-5": (5.0, 25.0),
    "claude-opus-5-5": (4.0, 20.0),
    "claude-opus-4": (5.0, 25.0),
    "claude-sonnet-5": (2.0, 10.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-haiku-5-5": (0.5, 2.5),
    "claude-haiku-4-5": (1.0, 5.0),
    # OpenAI
    "gpt-5.5": (10.0, 45.0),
    "gpt-5": (1.25, 10.0),
    "gpt-5-mini": (0.25, 2.0),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.4, 1.6),
    "gpt-4o": (2.5, 10.0),
    "gpt-4o-mini": (0.15, 0.6),
}
# Providers whose models run on the user's own machine (or are fakes): free.
FREE_PROVIDERS: Final = ("ollama", "test")


def price_of(model_name: str) -> tuple[float, float] | None:
    """(input, output) USD per million tokens for ``model_name`` ("provider:id" or a bare id)."""
    provider, colon, model_id = model_name.partition(":")
    if not colon:
        provider, model_id = "", model_name
    if provider in FREE_PROVIDERS or model_name == "test":
        return (0.0, 0.0)
    model_id = model_id.strip().lower()
    matches = [prefix for prefix in PRICES if model_id == prefix or model_id.startswith(prefix + "-")]
    if not matches:
        return None
    return PRICES[max(matches, key=len)]


def estimate_cost(model_name: str, input_tokens: int, output_tokens: int) -> float | None:
    """Estimated USD for one call; None when the model's price is unknown, 0.0 for local models."""
    price = price_of(model_name)
    if price is None:
        return None
    per_input, per_output = price
    return (max(input_tokens, 0) * per_input + max(output_tokens, 0) * per_output) / 1_000_000
