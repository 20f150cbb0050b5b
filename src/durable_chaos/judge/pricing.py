"""Dollars for tokens, through genai-prices, for each model in the ledger.

Prices are looked up per exchange (model name and usage as recorded). A model genai-prices does not
know is reported by name and left out of the dollar figures: tokens only, said plainly, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

from durable_chaos.judge.evidence import Evidence


@dataclass(frozen=True)
class Cost:
    """Dollar figures of a trial; ``None`` when no exchange of that kind could be priced."""

    golden: float | None
    spent: float | None
    naive_restart: float | None
    saved: float | None
    unpriced_models: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "currency": "USD",
            "golden": self.golden,
            "spent": self.spent,
            "naive_restart": self.naive_restart,
            "saved": self.saved,
            "unpriced_models": self.unpriced_models,
        }


@lru_cache(maxsize=256)
def unit_price(
    model: str,
    input_tokens: int,
    output_tokens: int,
    provider: str | None = None,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> Decimal | None:
    """The price of one exchange, or None when genai-prices does not know the model.

    ``provider`` is the genai-prices provider id (``openai``, ``anthropic``, ``google``: see
    ``durable_chaos.providers.price_provider``); unset, genai-prices guesses it from the model.
    ``input_tokens`` includes the cached ones (genai-prices' convention), which are priced at the
    provider's cache-read and cache-write rates."""
    try:
        from genai_prices import Usage, calc_price
    except ImportError:  # pragma: no cover - genai-prices is a dependency
        return None
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
    if cache_read_tokens:
        usage.cache_read_tokens = cache_read_tokens
    if cache_write_tokens:
        usage.cache_write_tokens = cache_write_tokens
    try:
        result = calc_price(usage, model_ref=model, provider_id=provider)
    except LookupError:
        return None
    return Decimal(str(result.total_price))


def entry_price(entry: dict[str, Any]) -> Decimal | None:
    """The price of one ledger entry (model, provider and usage as recorded), None if unknown."""
    model = str(entry.get("model") or "")
    if not model:
        return None
    usage = entry["usage"]
    return unit_price(
        model,
        usage["input_tokens"],
        usage["output_tokens"],
        entry.get("provider"),
        usage.get("cache_read_tokens", 0),
        usage.get("cache_write_tokens", 0),
    )


def price(entries: list[dict[str, Any]], unpriced: set[str]) -> Decimal | None:
    """Total price of ledger entries; models without a price are added to ``unpriced``."""
    total: Decimal | None = None
    for entry in entries:
        value = entry_price(entry)
        if value is None:
            unpriced.add(str(entry.get("model") or "") or "(unknown model)")
            continue
        total = (total or Decimal(0)) + value
    return total


def cost(evidence: Evidence, naive_restart_tokens: int, golden_tokens: int) -> Cost:
    """Dollars of the golden run, of the faulted run, and of a naive restart (priced at the golden run's
    average price per token, since the restart would repeat the golden run's exchanges)."""
    unpriced: set[str] = set()
    golden = price(evidence.golden_ledger(), unpriced)
    spent = price(evidence.faulted_ledger(), unpriced)
    naive: Decimal | None = None
    if golden is not None and golden_tokens:
        naive = golden * Decimal(naive_restart_tokens) / Decimal(golden_tokens)
    saved = naive - spent if naive is not None and spent is not None and evidence.faulted.completed else None
    if saved is None and naive is not None and spent is not None:
        saved = Decimal(0)
    return Cost(
        golden=_round(golden),
        spent=_round(spent),
        naive_restart=_round(naive),
        saved=_round(saved),
        unpriced_models=sorted(unpriced),
    )


def _round(value: Decimal | None) -> float | None:
    return None if value is None else float(round(value, 6))
