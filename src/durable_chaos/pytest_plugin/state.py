"""The session's state, kept in ``config.stash``: one key per fact, shared by the hooks
(:mod:`durable_chaos.pytest_plugin.plugin`), the items (:mod:`~durable_chaos.pytest_plugin.items`) and the
session's end (:mod:`~durable_chaos.pytest_plugin.summary`, :mod:`~durable_chaos.pytest_plugin.exit_status`).

Light: imports nothing of the harness (the runner is imported when the first trial needs it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path  # noqa: F401 - in a StashKey string

    from durable_chaos.explore.shards import Shard  # noqa: F401 - in a StashKey string
    from durable_chaos.pytest_plugin.xdist import Controller  # noqa: F401 - in a StashKey string
    from durable_chaos.report.gate import GateConfig, GateOutcome  # noqa: F401 - in a StashKey string
    from durable_chaos.run.results import TrialResult  # noqa: F401 - in a StashKey string
    from durable_chaos.run.runner import TrialRunner  # noqa: F401 - in a StashKey string

RESULTS_KEY = pytest.StashKey["list[TrialResult]"]()
SHARED_SERVERS_KEY = pytest.StashKey["Path"]()
"""The directory of the engine servers this controller shares with its xdist workers
(:mod:`durable_chaos.infra.shared_servers`), when it owns one."""
RUNNER_KEY = pytest.StashKey["TrialRunner"]()
GATE_KEY = pytest.StashKey["GateConfig"]()
OUTCOME_KEY = pytest.StashKey["GateOutcome"]()
SCENARIO_ERRORS_KEY = pytest.StashKey[list[str]]()
FILES_KEY = pytest.StashKey[int]()
"""How many scenario files were collected."""
PLANNED_KEY = pytest.StashKey[list[str]]()
"""The node ids of the trials the session selected to run (after deselection)."""
RECEIVED_KEY = pytest.StashKey[set[str]]()
"""The node ids of the trials that produced a result."""
SKIPPED_KEY = pytest.StashKey[set[str]]()
"""The node ids of the items pytest skipped before they ran (a skip marker); under xdist, on the
controller, from the workers' reports."""
CURRENT_TEST_KEY = pytest.StashKey[str]()
"""The node id of the test running now (regression files are named after it)."""
TIMEOUT_KEY = pytest.StashKey[float]()
"""``--chaos-timeout``, validated."""
LOOKALIKES_KEY = pytest.StashKey[list[str]]()
"""Files pytest offered that look like scenarios but are not (``path:line: why``)."""
COLLECTED_KEY = pytest.StashKey[set[str]]()
"""The real paths of the scenario files collected."""
IGNORED_KEY = pytest.StashKey[list[str]]()
"""Under ``--chaos``: scenario files below the paths given that pytest never offered."""
FIXTURE_TESTS_KEY = pytest.StashKey[int]()
"""Under ``--chaos``: how many selected tests use the ``chaos`` fixture (they run trials too)."""
SHARD_KEY = pytest.StashKey["Shard"]()
"""``--chaos-shard K/N``, validated."""
SPLIT_KEY = pytest.StashKey[dict[str, object]]()
"""Under ``--chaos-shard``: the whole unsplit run's ``fingerprint`` and number of ``tests`` (under xdist,
on the controller, as the workers reported it)."""
DURATIONS_KEY = pytest.StashKey[dict[str, float]]()
"""``--chaos-shard-durations``: the recorded seconds by test id the split balances (empty: hash split)."""
TIMES_KEY = pytest.StashKey[dict[str, float]]()
"""Under ``--chaos-shard``: this session's seconds by test id (setup, call and teardown), for the next
run's ``--chaos-shard-durations``."""
CONTROLLER_KEY = pytest.StashKey["Controller"]()
"""Under pytest-xdist, on the controller: the results and counts the workers report."""


def runner_for(config: pytest.Config) -> TrialRunner:
    """The session's trial runner (made on first use, closed at the session's end)."""
    from durable_chaos.run.runner import TrialRunner

    if RUNNER_KEY not in config.stash:
        config.stash[RUNNER_KEY] = TrialRunner(
            record=config.getoption("chaos_record"),
            keep_artifacts=config.getoption("chaos_keep_artifacts"),
            timeout=config.stash[TIMEOUT_KEY],
        )
    return config.stash[RUNNER_KEY]
