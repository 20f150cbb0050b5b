"""The private APIs used outside the engines (vcrpy's ``Cassette._save``, the MCP SDK's stdio spawn) are
checked hooks: each resolves on the installed versions, and a broken one (the library changed) is an
error naming the library, its version and the hook, never a crash or a silent no-op."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from durable_chaos.faults import private_apis as fault_hooks
from durable_chaos.faults.injectors.mcp import kill_server, spawn_hook_present
from durable_chaos.infra import private_apis as infra_hooks
from durable_chaos.infra.cassettes import CassetteError, cassette_traffic
from durable_chaos.patching import Hook, check_hooks, library_version

HOOKS = (*infra_hooks.HOOKS, *fault_hooks.HOOKS)


@pytest.mark.parametrize("hook", HOOKS, ids=lambda hook: hook.target)
def test_every_hook_resolves_on_the_installed_versions(hook: Hook) -> None:
    assert hook.problem() is None
    assert check_hooks(list(HOOKS)) == {}


def test_a_broken_vcrpy_hook_refuses_recording_naming_vcrpy_and_the_hook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vcr.cassette import Cassette

    monkeypatch.delattr(Cassette, "_save")
    cassette = tmp_path / "cassettes" / "c.yaml"
    with pytest.raises(CassetteError) as raised, cassette_traffic(cassette, "record"):
        pytest.fail("recording started with a broken hook")
    message = str(raised.value)
    assert f"vcrpy {library_version('vcrpy')}" in message
    assert "vcr.cassette:Cassette._save" in message and str(cassette) in message
    assert not cassette.exists()
    assert check_hooks(list(infra_hooks.HOOKS)) == {"recording": message.split("recorded: ", 1)[1]}


def test_a_broken_mcp_hook_makes_server_exit_an_error_naming_the_sdk_and_the_hook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mcp.client import stdio

    monkeypatch.delattr(stdio, "_create_platform_compatible_process")
    assert not spawn_hook_present()
    toolset = SimpleNamespace(id="shop", client=SimpleNamespace(transport=SimpleNamespace(args=["nowhere"])))
    with pytest.raises(RuntimeError) as raised:
        kill_server(toolset)
    message = str(raised.value)
    assert f"mcp {library_version('mcp')}" in message
    assert "mcp.client.stdio:_create_platform_compatible_process" in message
    assert "mcp_server_exit" in check_hooks(list(fault_hooks.HOOKS))
