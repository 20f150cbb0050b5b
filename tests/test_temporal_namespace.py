"""Shards sharing a user's Temporal server (issue 23): ``--chaos-temporal-namespace 'ci-{shard}'`` is one
namespace per shard, which the harness registers when the server lacks it; a namespace named outright is
the user's and is never created (a typo in it is an error)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from durable_chaos.explore.shards import ENVIRONMENT
from durable_chaos.infra.engines.base import EngineUnavailable
from durable_chaos.infra.engines.temporal.server import (
    ENV_NAMESPACE,
    ENV_SHARD,
    creates_namespace,
    external_namespace,
    shard_slug,
)


def test_shard_placeholder_names_the_shard(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ENV_SHARD == ENVIRONMENT
    assert [shard_slug(s) for s in ("2/4", " 1/1", None, "x")] == [
        "shard-2-of-4",
        "shard-1-of-1",
        "unsharded",
        "unsharded",
    ]
    monkeypatch.setenv(ENV_NAMESPACE, "ci-{shard}")
    monkeypatch.setenv(ENV_SHARD, "3/4")
    assert (external_namespace(), creates_namespace()) == ("ci-shard-3-of-4", True)
    monkeypatch.setenv(ENV_NAMESPACE, "ci")
    assert (external_namespace(), creates_namespace()) == ("ci", False)


def test_each_shard_gets_a_namespace_of_its_own_on_a_shared_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from temporalio.api.workflowservice.v1 import ListNamespacesRequest
    from temporalio.client import Client

    from durable_chaos.infra.engines.temporal.adapter import TemporalAdapter
    from durable_chaos.infra.engines.temporal.server import DevServer

    with DevServer(tmp_path / "theirs") as theirs:
        monkeypatch.setenv("TEMPORAL_ADDRESS", theirs.address)
        monkeypatch.setenv(ENV_NAMESPACE, "ci-{shard}")
        for shard in ("1/2", "2/2", "2/2"):  # the second 2/2 (a re-run) finds its namespace there
            monkeypatch.setenv(ENV_SHARD, shard)
            adapter = TemporalAdapter()
            adapter.start(tmp_path)
            assert adapter.namespace == f"ci-{shard_slug(shard)}"
            assert (
                adapter.worker_environment(tmp_path)["DURABLE_CHAOS_TEMPORAL_WORKER_NAMESPACE"]
                == adapter.namespace
            )
            adapter.stop()

        async def names() -> set[str]:
            client = await Client.connect(theirs.address)
            listed = await client.workflow_service.list_namespaces(ListNamespacesRequest())
            return {n.namespace_info.name for n in listed.namespaces}

        assert {"ci-shard-1-of-2", "ci-shard-2-of-2"} <= asyncio.run(names())
        monkeypatch.setenv(ENV_NAMESPACE, "ci-typo")  # named outright: the user's, not created
        with pytest.raises(EngineUnavailable, match="cannot use Temporal namespace 'ci-typo'"):
            TemporalAdapter().start(tmp_path)
        assert "ci-typo" not in asyncio.run(names())
