"""Dollar figures through genai-prices: known models priced, unknown ones named, never guessed."""

from __future__ import annotations

from typing import Any

from durable_chaos.infra.engines.base import RunOutcome
from durable_chaos.judge.evidence import Evidence
from durable_chaos.judge.pricing import cost, unit_price


def entry(role: str, t: float, model: str, inp: int, out: int) -> dict[str, Any]:
    return {
        "t": t,
        "role": role,
        "fingerprint": f"{model}-{t}",
        "model": model,
        "usage": {"input_tokens": inp, "output_tokens": out},
    }


def evidence(ledger: list[dict[str, Any]], completed: bool = True) -> Evidence:
    return Evidence(RunOutcome("golden", True, "x"), RunOutcome("faulted", completed, "x"), [], ledger)


def test_known_model_is_priced_per_exchange() -> None:
    price = unit_price("gpt-4o", 1000, 100)
    assert price is not None and price > 0


def test_naive_restart_is_priced_at_the_golden_runs_rate() -> None:
    ledger = [entry("golden", 1, "gpt-4o", 1000, 100), entry("faulted", 2, "gpt-4o", 1000, 100)]
    result = cost(evidence(ledger), naive_restart_tokens=2200, golden_tokens=1100)
    assert result.golden is not None and result.spent == result.golden
    assert result.naive_restart is not None and abs(result.naive_restart - 2 * result.golden) < 1e-6
    assert result.saved is not None and abs(result.saved - result.golden) < 1e-6
    assert result.unpriced_models == []


def test_unknown_model_is_named_and_left_unpriced() -> None:
    ledger = [entry("golden", 1, "my-private-model", 10, 1), entry("faulted", 2, "my-private-model", 10, 1)]
    result = cost(evidence(ledger), naive_restart_tokens=22, golden_tokens=11)
    assert result.golden is None and result.spent is None and result.saved is None
    assert result.unpriced_models == ["my-private-model"]


def test_a_run_that_did_not_complete_saved_nothing() -> None:
    ledger = [entry("golden", 1, "gpt-4o", 1000, 100), entry("faulted", 2, "gpt-4o", 500, 0)]
    assert cost(evidence(ledger, completed=False), 2200, 1100).saved == 0.0
