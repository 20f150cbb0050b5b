"""The engine protocol's promises: engines are found through the registry, no engine is named outside
its package, private hooks fail loudly (never silently), and a target that cannot run on its engine is
a configuration error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from durable_chaos.infra.engines import (
    EngineUnavailable,
    adapter_for,
    engine_spec,
    engine_specs,
    missing_modules,
)
from durable_chaos.infra.engines.base import EngineRules
from durable_chaos.patching import Hook, check_hooks, library_version

SRC = Path(__file__).resolve().parents[1] / "src" / "durable_chaos"
ENGINE_WORDS = re.compile(
    r"^\s*(import|from)\s+(prefect|dbos|temporalio|restate)\b|['\"](prefect|dbos|temporal|restate)['\"]",
    re.IGNORECASE,
)


def test_every_shipped_engine_is_registered_with_a_light_spec() -> None:
    specs = engine_specs()
    assert {"prefect", "dbos"} <= set(specs)
    for name, spec in specs.items():
        assert spec.name == name and isinstance(spec.rules, EngineRules)
        assert spec.options().model_dump() is not None  # every option has a default
        assert spec.durability_modules


def test_no_engine_is_named_outside_the_engine_packages() -> None:
    offenders = []
    folders = ("scenario", "run", "judge", "explore", "report", "pytest_plugin", "faults")
    outside = [path for folder in folders for path in sorted((SRC / folder).rglob("*.py"))]
    # Top-level modules too, except extras.py: naming each extra (engines among them) is its one job.
    outside += [path for path in sorted(SRC.glob("*.py")) if path.name != "extras.py"]
    for path in outside:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if ENGINE_WORDS.search(line):
                offenders.append(f"{path.relative_to(SRC)}:{number}: {line.strip()}")
    assert offenders == []


def test_an_unregistered_engine_is_a_clear_error() -> None:
    with pytest.raises(EngineUnavailable, match="engine 'airflow' is not registered"):
        engine_spec("airflow")


def test_a_missing_engine_extra_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = engine_spec("dbos")
    monkeypatch.setattr(type(spec), "modules", ("dbos_not_installed_here",))
    with pytest.raises(EngineUnavailable, match=r"pip install 'durable-chaos\[dbos\]'"):
        adapter_for("dbos")


@pytest.mark.parametrize("engine", ["prefect", "dbos", "temporal"])
def test_every_hook_of_the_shipped_engines_resolves_on_the_installed_versions(engine: str) -> None:
    hooks = adapter_for(engine).hooks()
    assert hooks and check_hooks(hooks) == {}


@pytest.mark.parametrize("engine", ["prefect", "dbos", "temporal"])
def test_a_broken_hook_names_library_version_and_hook(engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    hooks = adapter_for(engine).hooks()
    hook = next(h for h in hooks if h.properties)
    owner = hook.owner()
    monkeypatch.delattr(owner, hook.owner_path[1])
    problems = check_hooks(hooks)
    message = problems[hook.properties[0]]
    assert f"{hook.library} {library_version(hook.library)}" in message
    assert hook.target in message and "does not exist" in message


def test_a_hook_whose_signature_changed_is_broken() -> None:
    hook = Hook("pytest", "durable_chaos.patching:check_hooks", "test", ("p",), parameters=("nope",))
    assert "no longer takes nope" in (hook.problem() or "")
    with hook.patch(lambda original: None) as installed:
        assert installed is False  # a broken hook observes nothing instead of crashing the run


def test_a_broken_hook_makes_its_properties_not_applicable_in_a_trial(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from durable_chaos.judge.checkers import Verdict
    from durable_chaos.run.runner import TrialRunner

    runner = TrialRunner()
    runner.unusable["prefect"] = {"stable_cache_keys": "prefect 9.9: private hook x is unusable"}
    verdicts = {"stable_cache_keys": Verdict(True, "fine"), "completes": Verdict(True, "ok")}
    for name, problem in runner.unusable["prefect"].items():
        verdicts[name] = Verdict(None, f"not applicable: {problem}")
    assert (
        verdicts["stable_cache_keys"].held is None and "prefect 9.9" in verdicts["stable_cache_keys"].detail
    )
    runner.close()


def test_a_prefect_api_url_that_is_not_prefect_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A server that answers /health but is not a Prefect API (InvalidVersion before)."""
    import http.server
    import threading

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            body = b"true"
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/api"
        monkeypatch.setenv("PREFECT_API_URL", url)
        with pytest.raises(EngineUnavailable, match="is not a Prefect API server"):
            adapter_for("prefect").start(tmp_path)
    finally:
        server.shutdown()


@pytest.mark.parametrize("engine", ["prefect", "dbos", "temporal", "restate"])
def test_every_engine_lists_what_the_harness_changes_and_never_a_heartbeat_unasked(engine: str) -> None:
    try:
        adapter = adapter_for(engine)
    except EngineUnavailable as exc:
        pytest.skip(str(exc))
    options = engine_spec(engine).options()
    changes = adapter.harness_changes(options)
    assert changes and all(isinstance(change, str) and change for change in changes)
    assert not any("heartbeats in the background" in change for change in changes)
    if engine == "temporal":
        opted = adapter.harness_changes(options.model_copy(update={"harness_heartbeats": True}))
        assert any("heartbeats in the background" in change for change in opted)


ENGINE_SHAPE = ("spec", "options", "rules", "private_apis", "server", "targets", "adapter", "observe")
"""The modules every shipped engine package has, one concern each (``client`` where it has an API
client, and whatever else it needs besides)."""


@pytest.mark.parametrize("engine", ["prefect", "dbos", "temporal", "restate"])
def test_every_engine_package_has_the_same_shape_and_no_long_module(engine: str) -> None:
    folder = SRC / "infra" / "engines" / engine
    modules = {path.stem: path for path in folder.glob("*.py")}
    assert set(ENGINE_SHAPE) <= set(modules), set(ENGINE_SHAPE) - set(modules)
    long = [name for name, path in modules.items() if len(path.read_text().splitlines()) > 600]
    assert long == []


@pytest.mark.parametrize("engine", ["prefect", "dbos", "temporal", "restate"])
def test_every_shipped_adapter_inherits_the_shared_defaults(engine: str) -> None:
    from durable_chaos.infra.engines.adapter_base import BaseAdapter

    spec = engine_spec(engine)
    if missing_modules(spec):
        pytest.skip(f"the {engine} extra is not installed")
    assert isinstance(spec.adapter(), BaseAdapter)


def test_an_engine_event_carries_the_engine_fields_with_the_pid_or_without() -> None:
    import os

    from durable_chaos import events
    from durable_chaos.faults.context import activated
    from durable_chaos.infra.engines.adapter_base import emit

    recorded: list[tuple[str, dict[str, object]]] = []

    class Recorder:
        def emit_engine_event(self, event: str, **fields: object) -> None:
            recorded.append((event, fields))

    emit(events.CHECKPOINT, step=1)  # outside a trial: nothing, and no error
    with activated(Recorder()):  # type: ignore[arg-type]
        emit(events.CHECKPOINT, t=12.5, step=1)
        emit(events.RUN_IDS, with_pid=False, flow_run_id="f")
    assert recorded == [
        (events.CHECKPOINT, {"engine": {"step": 1, "pid": os.getpid()}, "t": 12.5}),
        (events.RUN_IDS, {"engine": {"flow_run_id": "f"}}),
    ]
