"""The golden run is made once per scenario, engine and session, and reused by later trials."""

from __future__ import annotations

from pathlib import Path

from durable_chaos.run.results import TrialResult
from durable_chaos.run.runner import TrialRunner
from durable_chaos.scenario.read import load_scenario
from durable_chaos.scenario.trial_specs import TrialSpec

EXAMPLES = Path(__file__).resolve().parent.parent / "scenarios" / "data_analyst"


def held(result: TrialResult) -> dict[str, bool | None]:
    return {name: verdict.held for name, verdict in result.verdicts.items()}


def test_later_trials_reuse_the_golden_run_and_judge_the_same(tmp_path: Path) -> None:
    scenario = load_scenario(EXAMPLES / "tool_error.yaml")
    specs = [TrialSpec(scenario, "prefect", plan) for plan in scenario.plans[:2]]
    fresh = TrialRunner(root=tmp_path / "fresh", reuse_golden=False)
    cached = TrialRunner(root=tmp_path / "cached")
    try:
        with_cache = [cached.run(spec) for spec in specs]
        assert len(cached.goldens) == 1
        a, b = fresh.run(specs[1]), with_cache[1]  # the second trial reused the first one's golden run
        assert (a.verdict, held(a), a.calls, a.tokens) == (b.verdict, held(b), b.calls, b.tokens)
        second = with_cache[1]
        golden_events = [e for e in second.events if e["role"] == "golden"]
        assert golden_events and all(e["pid"] for e in golden_events)  # copied into the trial's own history
    finally:
        fresh.close()
        cached.close()
