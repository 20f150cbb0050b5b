"""Engine servers shared by the xdist workers of one session (durable_chaos.infra.shared_servers): two
workers use one Prefect server, a trial that restarts it gets a server of its own, and nothing outlives
the session or its owner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from durable_chaos.infra import shared_servers

INNER_TEST = """
import json
import os
from pathlib import Path

from durable_chaos.infra.engines import adapter_for
from durable_chaos.infra.engines.prefect.server import healthy


def test_one_worker(tmp_path, worker_id):
    adapter = adapter_for("prefect")
    adapter.start(tmp_path / "engine")
    try:
        record = {
            "worker": worker_id,
            "shared": adapter.api_url,
            "pgid": adapter.shared.pgid,
            "directory": os.environ["DURABLE_CHAOS_SHARED_SERVERS"],
        }
        if worker_id == "gw0":  # one worker's trial restarts the server
            restarting, other = tmp_path / "restarting", tmp_path / "other"
            restarting.mkdir()
            other.mkdir()
            service = adapter.restart_service("engine_api", restarting)
            record["restarting"] = adapter.worker_environment(restarting)["PREFECT_API_URL"]
            record["other"] = adapter.worker_environment(other)["PREFECT_API_URL"]
            record["private_pid"] = adapter.private.process.pid
            service.stop()
            assert healthy(adapter.api_url)  # the other workers' server stays up
            assert not healthy(record["restarting"])
            service.start()
            assert healthy(record["restarting"])
    finally:
        adapter.stop()
    Path(OUT, worker_id + ".json").write_text(json.dumps(record))
"""


def gone(pid: int, within: float = 15.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not shared_servers.alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_two_xdist_workers_share_one_prefect_server_and_a_restart_trial_gets_its_own(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    pytester.makepyfile(test_inner=f"OUT = {str(out)!r}\n" + INNER_TEST)
    # The inner session owns its servers (not this one's, when this suite runs under xdist itself).
    monkeypatch.delenv(shared_servers.ENV_DIR, raising=False)
    monkeypatch.delenv(shared_servers.ENV_OWNER, raising=False)
    result = pytester.runpytest_subprocess("-n", "2", "--dist", "each", "-p", "no:cacheprovider", timeout=300)
    result.assert_outcomes(passed=2)
    records = [json.loads(path.read_text()) for path in sorted(out.glob("*.json"))]
    assert [r["worker"] for r in records] == ["gw0", "gw1"]
    assert records[0]["shared"] == records[1]["shared"] and records[0]["pgid"] == records[1]["pgid"]
    restarted = records[0]
    assert restarted["other"] == restarted["shared"] != restarted["restarting"]
    assert not shared_servers.alive(restarted["private_pid"])  # the session's own stopped with it
    assert gone(records[0]["pgid"])  # the controller stopped the shared server at its end
    assert not Path(records[0]["directory"]).exists()


def test_a_session_attaches_to_the_server_one_started_and_replaces_a_dead_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(shared_servers.ENV_DIR, str(tmp_path))
    monkeypatch.setenv(shared_servers.ENV_OWNER, str(os.getpid()))
    started: list[Path] = []
    answering = {"yes": True}

    def start(home: Path, owner: int) -> tuple[str, int]:
        assert owner == os.getpid()
        started.append(home)
        return f"http://127.0.0.1:{len(started)}", os.getpid()

    first = shared_servers.attach_or_start("engine-1", start, lambda _: answering["yes"])
    second = shared_servers.attach_or_start("engine-1", start, lambda _: answering["yes"])
    assert first is not None and second is not None
    assert first.started_here and not second.started_here and second.address == first.address
    assert started == [tmp_path / "engine-1"]
    other = shared_servers.attach_or_start("engine-2", start, lambda _: True)
    assert other is not None and other.address == "http://127.0.0.1:2"
    monkeypatch.setattr(shared_servers, "stop_group", lambda pgid, timeout=0: None)  # not this process's
    monkeypatch.setattr(shared_servers, "ATTACH_PATIENCE_SECONDS", 0.0)
    answering["yes"] = False  # the recorded server stopped answering: a new one replaces it
    third = shared_servers.attach_or_start("engine-1", start, lambda _: answering["yes"])
    assert third is not None and third.started_here and third.address == "http://127.0.0.1:3"
    monkeypatch.setenv(shared_servers.ENV_OWNER, "999999999")  # an owner that is gone: nothing is shared
    assert shared_servers.attach_or_start("engine-1", start, lambda _: True) is None


def test_the_owner_opens_and_closes_the_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from durable_chaos.run.session import remove_stale_roots

    monkeypatch.delenv(shared_servers.ENV_DIR, raising=False)  # restored after the test, as is the owner
    monkeypatch.delenv(shared_servers.ENV_OWNER, raising=False)
    monkeypatch.setenv(shared_servers.ENV_SWITCH, "0")
    assert shared_servers.open_shared(tmp_path) is None  # switched off
    monkeypatch.delenv(shared_servers.ENV_SWITCH)
    path = shared_servers.open_shared(tmp_path)
    assert path is not None and shared_servers.shared_dir() == path
    assert shared_servers.open_shared(tmp_path) is None  # an inner session: the outer owner stays
    assert remove_stale_roots(tmp_path) == []  # its owner (this process) is alive
    assert shared_servers.close_shared(path) == [] and not path.exists()
    assert shared_servers.shared_dir() is None
    dead = shared_servers.open_shared(tmp_path)
    assert dead is not None
    (dead / "owner.pid").write_text("999999999")  # an owner that died without closing it
    monkeypatch.delenv(shared_servers.ENV_DIR)
    assert remove_stale_roots(tmp_path) == [dead]


def test_a_watched_server_dies_with_its_owner(tmp_path: Path) -> None:
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    server = subprocess.Popen(
        shared_servers.watched([sys.executable, "-c", "import time; time.sleep(60)"], owner.pid),
        start_new_session=True,
    )
    try:
        time.sleep(1.0)
        assert shared_servers.alive(server.pid)
        owner.kill()
        owner.wait()
        server.wait(timeout=15)  # the watchdog noticed and ended its group
        with pytest.raises(ProcessLookupError):
            os.killpg(server.pid, 0)
    finally:
        owner.kill()
        server.kill()
