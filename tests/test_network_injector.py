"""The network injector helper: spec validation, and apply/remove against the embedded Toxiproxy."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from durable_chaos.faults.injectors.network import ToxicSpec, apply_toxic, remove_toxic, toxic
from durable_chaos.infra.toxiproxy.client import ToxiproxyClient, ToxiproxyNotFound
from durable_chaos.infra.toxiproxy.embedded import ToxiproxyProcess


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"type": "lag"}, "unknown toxic type 'lag'"),
        ({"type": "latency", "stream": "both"}, "stream must be"),
        ({"type": "latency", "toxicity": 1.5}, "toxicity must be between 0 and 1"),
        ({"type": "latency", "attributes": {"delay": 5}}, "latency toxic has no attribute 'delay'"),
        (
            {"type": "latency", "attributes": {"latency": 1.5}},
            "latency.latency must be a non-negative integer",
        ),
        ({"type": "down", "attributes": {"timeout": 1}}, "'down' network fault takes no attributes"),
    ],
)
def test_bad_specs_fail_loudly(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ToxicSpec(**kwargs)


def test_default_name_follows_toxiproxy() -> None:
    assert ToxicSpec("timeout", stream="upstream").toxic_name == "timeout_upstream"
    assert ToxicSpec("timeout", name="stall").toxic_name == "stall"


@pytest.fixture(scope="module")
def client() -> Iterator[ToxiproxyClient]:
    with ToxiproxyProcess() as server, ToxiproxyClient(server.url or "", timeout=3) as toxiproxy:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            upstream = f"127.0.0.1:{sock.getsockname()[1]}"
        toxiproxy.create_proxy("inj", upstream)
        yield toxiproxy


def test_toxic_context_applies_then_removes(client: ToxiproxyClient) -> None:
    spec = ToxicSpec("latency", {"latency": 100, "jitter": 10}, stream="upstream", toxicity=0.5)
    with toxic(client, "inj", spec) as applied:
        (listed,) = client.toxics("inj")
        assert (listed.name, listed.stream, listed.toxicity) == ("latency_upstream", "upstream", 0.5)
        assert listed.attributes == {"latency": 100, "jitter": 10}
        assert applied.name == "latency_upstream"
    assert client.toxics("inj") == []


def test_toxic_removed_even_when_the_block_fails_or_it_is_already_gone(client: ToxiproxyClient) -> None:
    with pytest.raises(RuntimeError, match="boom"), toxic(client, "inj", ToxicSpec("timeout")):
        client.reset()  # removes the toxic under us: removal must not mask the block's error
        raise RuntimeError("boom")
    assert client.toxics("inj") == []


def test_apply_and_remove_functions(client: ToxiproxyClient) -> None:
    applied = apply_toxic(client, "inj", ToxicSpec("reset_peer", {"timeout": 0}, name="rst"))
    assert [t.name for t in client.toxics("inj")] == ["rst"]
    remove_toxic(client, applied)
    with pytest.raises(ToxiproxyNotFound):
        remove_toxic(client, applied)
    remove_toxic(client, applied, missing_ok=True)


def test_down_disables_then_enables(client: ToxiproxyClient) -> None:
    with toxic(client, "inj", ToxicSpec("down")):
        assert client.get_proxy("inj").enabled is False
    assert client.get_proxy("inj").enabled is True
