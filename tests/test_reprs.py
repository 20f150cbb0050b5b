"""Public objects print as one short line, in repr and in Hypothesis's falsifying examples (which print
a dataclass's fields unless the object prints itself: the 'chaos' fixture once made a 1 MB example)."""

from __future__ import annotations

from hypothesis.vendor.pretty import pretty

from durable_chaos.python_api import Chaos, ChaosOutcome
from durable_chaos.run.results import TrialResult
from durable_chaos.scenario.model import Scenario
from durable_chaos.scenario.trial_specs import TrialSpec


def big_result() -> TrialResult:
    scenario = Scenario.model_validate(
        {
            "schema_version": 1,
            "name": "analyst",
            "agent": "m:agent",
            "prompt": "p",
            "engines": ["prefect"],
            "cassette": "c.yaml",
            "plans": [{"name": "kill"}],
        }
    )
    events = [
        {"event": "invoke", "unit": {"name": "tool", "ordinal": i}, "payload": "x" * 100} for i in range(5000)
    ]
    return TrialResult(TrialSpec(scenario, "prefect", scenario.plans[0]), "fail", "violated", events=events)


def test_the_chaos_fixture_its_outcomes_and_trial_results_print_short() -> None:
    result = big_result()
    chaos = Chaos(runner=lambda: None, seed=7)  # type: ignore[arg-type, return-value]
    chaos._outcomes[("key",)] = ChaosOutcome(result)
    chaos.trials = 1
    for obj, text in (
        (chaos, "<chaos fixture: seed 7, 1 trial(s) run>"),
        (ChaosOutcome(result), "<ChaosOutcome analyst[prefect-kill]: fail>"),
        (result, "<TrialResult analyst[prefect-kill]: fail>"),
    ):
        assert repr(obj) == text and pretty(obj) == text
