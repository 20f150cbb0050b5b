"""``--chaos-shard K/N`` in a pytest session: after every other selection (``-k``, ``-m``,
``--chaos-engine``), keep the tests of shard K (:func:`durable_chaos.explore.shards.split`) and report
the others to pytest as deselected. Every test of the session is split, not only the scenario files'
trials: a test using the ``chaos`` fixture runs (and is reported) in exactly one shard too. The whole
list's fingerprint goes to the session's JSON report (:func:`shard_record`), which ``durable-chaos
merge`` checks.
"""

from __future__ import annotations

from typing import Any

import pytest

from durable_chaos.pytest_plugin.state import SHARD_KEY, SPLIT_KEY


def apply_shard(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep shard K's items; the others are deselected (``pytest_deselected``)."""
    shard = config.stash.get(SHARD_KEY, None)
    if shard is None:
        return
    from durable_chaos.explore.shards import fingerprint, split

    ids = [item.nodeid for item in items]
    kept = set(split(ids, shard))
    config.stash[SPLIT_KEY] = {"fingerprint": fingerprint(ids), "tests": len(set(ids))}
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
    and size of the whole unsplit run, the trials this shard owned, whether it completed, and the session
    facts a merge needs to judge the whole run as one session would (``facts``)."""
    shard = config.stash.get(SHARD_KEY, None)
    if shard is None:
        return None
    whole = whole_run(config) or {}
    return {
        "index": shard.index,
        "total": shard.total,
        "fingerprint": whole.get("fingerprint"),
        "tests": whole.get("tests"),
        "complete": complete and whole.get("fingerprint") is not None,
        **facts,
    }


__all__ = ["apply_shard", "shard_record", "whole_run"]
