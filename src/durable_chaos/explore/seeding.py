"""The session's chaos seed (``--chaos-seed``) and how it reaches Hypothesis.

The seed in use is ``--chaos-seed N`` when given, else Hypothesis's ``--hypothesis-seed`` when that is
a number, else none: the ``@given`` tests then run as Hypothesis runs them by itself (a fresh random
seed each run, the example database replaying earlier failures first, the loaded settings profile).

With ``--chaos-seed N`` every ``@given`` test that uses the ``chaos`` fixture is seeded with N the way
Hypothesis's own ``@seed(N)`` seeds it (so, as with ``@seed``, it neither reads nor writes the example
database): the same seed generates the same fault schedules, and cassette replay makes their trials
give the same verdicts. Other Hypothesis tests are left alone. The seed is printed in the terminal
header and summary, recorded in the JSON report and in every regression file written.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

CHAOS_FIXTURE = "chaos"


def seed_in_use(config: pytest.Config) -> tuple[int | None, str]:
    """The seed and where it came from (``--chaos-seed``, ``--hypothesis-seed``, or ``none``)."""
    given = config.getoption("chaos_seed", None)
    if given is not None:
        return int(given), "--chaos-seed"
    hypothesis_seed = config.getoption("hypothesis_seed", None)
    if hypothesis_seed is not None:
        try:
            return int(hypothesis_seed), "--hypothesis-seed"
        except ValueError:
            return None, "--hypothesis-seed"
    return None, "none"


def header_line(config: pytest.Config) -> str:
    seed, source = seed_in_use(config)
    if seed is None:
        how = (
            "Hypothesis's own (a non-numeric --hypothesis-seed)"
            if source == "--hypothesis-seed"
            else "none (Hypothesis seeds @given tests itself; --chaos-seed N repeats the fault schedules)"
        )
        return f"durable-chaos seed: {how}"
    return f"durable-chaos seed: {seed} (from {source}; --chaos-seed {seed} generates the same schedules)"


def seed_chaos_tests(config: pytest.Config, items: list[pytest.Item]) -> int:
    """Seed the ``@given`` tests that use the ``chaos`` fixture with ``--chaos-seed``; how many."""
    given = config.getoption("chaos_seed", None)
    if given is None or "hypothesis" not in sys.modules:  # no @given test was imported
        return 0
    from hypothesis import is_hypothesis_test, seed

    seeded = 0
    for item in items:
        function: Any = getattr(getattr(item, "obj", None), "__func__", getattr(item, "obj", None))
        if CHAOS_FIXTURE in getattr(item, "fixturenames", ()) and is_hypothesis_test(function):
            seed(int(given))(function)
            seeded += 1
    return seeded
