"""A scenario's ``explore:`` table: Hypothesis generates fault plans over the golden run's units, runs
each as a trial (through the Python API's :class:`~durable_chaos.python_api.Chaos`, so on the
session's runner and golden-run cache), and shrinks a failure to the minimal schedule, written out as a
regression scenario. One pytest item per engine.

Seeded with the session's chaos seed when there is one (as ``@seed``); the example database is not used
(one inner test serves every scenario, so its database key would mix them up): the regression file keeps
what was found.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, seed, settings

from durable_chaos import strategies
from durable_chaos.python_api import Chaos, ChaosOutcome
from durable_chaos.scenario.model import Plan, Scenario


def explore(chaos: Chaos, scenario: Scenario, engine: str) -> tuple[ChaosOutcome, bool]:
    """Run the exploration; the minimal failing trial's outcome and True, or the last trial's and False."""
    table = scenario.explore
    assert table is not None
    units = chaos.units(scenario, engine)
    plans = strategies.fault_plans(
        units=units, kinds=table.kinds, max_faults=table.max_faults, statuses=table.statuses
    )
    outcomes: list[ChaosOutcome] = []
    failures: list[ChaosOutcome] = []

    @settings(
        max_examples=table.max_examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(plan=plans)
    def schedules_hold(plan: Plan) -> None:
        outcome = chaos.run(scenario, plan, engine=engine)
        outcomes.append(outcome)
        if outcome.verdict != "pass":
            failures.append(outcome)
            outcome.assert_held()

    test: Any = schedules_hold if chaos.seed is None else seed(chaos.seed)(schedules_hold)
    try:
        test()
    except AssertionError:
        return failures[-1], True
    return outcomes[-1], False
