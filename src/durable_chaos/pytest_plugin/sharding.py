"""``--chaos-shard K/N`` in a pytest session: after every other selection (``-k``, ``-m``,
``--chaos-engine``), keep the tests of shard K (:func:`durable_chaos.explore.shards.split`) and report
the others to pytest as deselected. Every test of the session is split, not only the scenario files'
trials: a test using the ``chaos`` fixture runs (and is reported) in exactly one shard too. The whole
list's fingerprint goes to the session's JSON report (:func:`shard_record`), which ``durable-chaos
merge`` checks.

``--chaos-shard-durations FILE`` balances the split by recorded durations
(:func:`durable_chaos.explore.shards.balanced_assignment`); each shard's JSON report records its tests'
seconds (``shard.durations``: setup, call and teardown, from pytest's reports) and the merged report all
of them, which the next run reads.
"""

from __future__ import annotations

from typing import Any

import pytest

from durable_chaos.pytest_plugin.state import DURATIONS_KEY, SHARD_KEY, SPLIT_KEY, TIMES_KEY

NOTES_KEY = pytest.StashKey[list[str]]()
"""Lines for the report header about the recorded durations read."""


def load_durations(config: pytest.Config) -> None:
    """``--chaos-shard-durations``: read the recorded durations (exit 2 naming a bad file)."""
    from durable_chaos.explore.shards import ShardError, read_durations

    paths = config.getoption("chaos_shard_durations", None) or []
    try:
        durations, notes = read_durations(paths)
    except ShardError as exc:
        pytest.exit(f"durable-chaos: {exc}", returncode=2)
    config.stash[DURATIONS_KEY] = durations
    config.stash[NOTES_KEY] = notes
    config.pluginmanager.register(DurationRecorder(config), "durable-chaos-durations")


def header_lines(config: pytest.Config) -> list[str]:
    """The report header's lines about the split's recorded durations (files that were missing)."""
    notes: list[str] = config.stash.get(NOTES_KEY, [])
    return list(notes)


class DurationRecorder:
    """Under ``--chaos-shard``: each test's seconds (its setup, call and teardown reports; under xdist the
    controller sees the workers' reports), for the next run's ``--chaos-shard-durations``."""

    def __init__(self, config: pytest.Config) -> None:
        self.times = config.stash.setdefault(TIMES_KEY, {})

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.times[report.nodeid] = self.times.get(report.nodeid, 0.0) + float(report.duration or 0.0)


def apply_shard(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep shard K's items; the others are deselected (``pytest_deselected``)."""
    shard = config.stash.get(SHARD_KEY, None)
    if shard is None:
        return
    from durable_chaos.explore.shards import fingerprint, split, split_name

    ids = [item.nodeid for item in items]
    durations = config.stash.get(DURATIONS_KEY, None)
    kept = set(split(ids, shard, durations))
    config.stash[SPLIT_KEY] = {
        "fingerprint": fingerprint(ids),
        "tests": len(set(ids)),
        "split": split_name(ids, durations),
    }
    deselected = [item for item in items if item.nodeid not in kept]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item.nodeid in kept]


def whole_run(config: pytest.Config) -> dict[str, object] | None:
    """The unsplit run's fingerprint and size: this process's, or under xdist the workers' report."""
    from durable_chaos.pytest_plugin.state import CONTROLLER_KEY

    controller = config.stash.get(CONTROLLER_KEY, None)
    if controller is not None:
        return controller.split
    return config.stash.get(SPLIT_KEY, None)


def shard_record(config: pytest.Config, facts: dict[str, Any], *, complete: bool) -> dict[str, Any] | None:
    """The JSON report's ``shard`` section (None without ``--chaos-shard``): the shard, the fingerprint
    and size of the whole unsplit run, how it was split, the trials this shard owned, whether it
    completed, its tests' seconds, and the session facts a merge needs to judge the whole run as one
    session would (``facts``)."""
    shard = config.stash.get(SHARD_KEY, None)
    if shard is None:
        return None
    whole = whole_run(config) or {}
    return {
        "index": shard.index,
        "total": shard.total,
        "fingerprint": whole.get("fingerprint"),
        "tests": whole.get("tests"),
        "split": whole.get("split"),
        "complete": complete and whole.get("fingerprint") is not None,
        "durations": {test_id: round(s, 3) for test_id, s in sorted(config.stash.get(TIMES_KEY, {}).items())},
        **facts,
    }


__all__ = ["DurationRecorder", "apply_shard", "header_lines", "load_durations", "shard_record", "whole_run"]
