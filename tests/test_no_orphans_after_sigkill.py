"""However pytest dies, nothing the harness started outlives it, and its temp directory is cleaned at
the next start: a SIGKILL of ``pytest --chaos`` mid-run, with the embedded Prefect server and a warm
worker up."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from durable_chaos.run.session import OWNER_FILE, ROOT_PREFIX, remove_stale_roots

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (entry / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if text in cmdline or text in environ:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals are Linux-only")
def test_sigkill_of_pytest_leaves_no_process_and_the_next_start_removes_its_directory(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(SCENARIOS / "data_analyst", project / "scenarios")
    shutil.copytree(SCENARIOS / "_shared", project / "_shared")  # what its scenario files name (../_shared)
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp)}
    env.pop("COVERAGE_PROCESS_CONFIG", None)
    pytest_run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--chaos", "scenarios/kill.yaml", "-p", "no:cacheprovider", "-q"],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:  # until a worker of a kill trial runs: everything is up
            if any(temp.glob(f"{ROOT_PREFIX}*/*/worker-*.log")):
                break
            time.sleep(0.2)
        else:
            pytest.fail("the chaos run never started a worker")
        roots = list(temp.glob(f"{ROOT_PREFIX}*"))
        assert roots and (roots[0] / OWNER_FILE).exists()
    finally:
        pytest_run.send_signal(signal.SIGKILL)
        pytest_run.wait(timeout=30)
    time.sleep(2)  # the kernel delivers the parent-death signals
    assert processes_mentioning(str(temp)) == []  # every process of that run had TMPDIR there
    assert remove_stale_roots(temp) == roots  # the next start cleans up
    assert list(temp.glob(f"{ROOT_PREFIX}*")) == []


def test_a_live_or_cleanly_closed_session_directory_is_left_alone(tmp_path: Path) -> None:
    live = Path(tempfile.mkdtemp(prefix=ROOT_PREFIX, dir=tmp_path))
    (live / OWNER_FILE).write_text(str(os.getpid()))
    kept = Path(tempfile.mkdtemp(prefix=ROOT_PREFIX, dir=tmp_path))  # closed; kept a failed trial's files
    (kept / "001-x").mkdir()
    assert remove_stale_roots(tmp_path) == []
    assert live.exists() and kept.exists()
