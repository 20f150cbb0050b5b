"""Property-based tests of the breaker agent, written as a user writes them: generated fault plans
(``durable_chaos.strategies``) run by the ``chaos`` fixture. Copied into a pytester directory by
tests/test_hypothesis_mode.py beside the agent, its cassette and the two scenario files."""

from pathlib import Path

from hypothesis import HealthCheck, given, settings

from durable_chaos import strategies

HERE = Path(__file__).parent
KNOWN_BAD = HERE / "breaker.yaml"
FIXED = HERE / "breaker_fixed.yaml"
EXPLORE = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FAULTS = {"kinds": ["http_error", "tool_error"], "statuses": [429], "max_faults": 3}


@EXPLORE
@given(plan=strategies.fault_plans(scenario=KNOWN_BAD, **FAULTS))
def test_breaker_bills_each_query_once(chaos, plan):
    chaos.run(KNOWN_BAD, plan).assert_held("completes", "output_matches_golden")


@settings(EXPLORE, max_examples=10)
@given(plan=strategies.fault_plans(scenario=FIXED, **FAULTS))
def test_fixed_breaker_bills_each_query_once(chaos, plan):
    chaos.run(FIXED, plan).assert_held("completes", "output_matches_golden")
