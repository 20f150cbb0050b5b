"""Warm workers (issue 23): what :mod:`durable_chaos.infra.engines.warmup` computes before the fork, a
forked worker does not compute again (the OpenAI client's platform header ran ``uname -p`` in every
resumed worker)."""

from __future__ import annotations

import subprocess
import sys

from durable_chaos.infra.engines.dbos.adapter import DBOSAdapter
from durable_chaos.infra.engines.restate.adapter import RestateAdapter
from durable_chaos.infra.engines.temporal.adapter import TemporalAdapter

CHILD = """
import os, platform, subprocess, sys
{warm}
subprocess.Popen = None  # any subprocess now fails
if os.fork() == 0:  # a worker forked from the warm process
    platform.platform(); platform.uname().processor
    from pydantic_ai.usage import RunUsage
    RunUsage.__pydantic_serializer__
    os._exit(0)
sys.exit(os.waitstatus_to_exitcode(os.wait()[1]))
"""


def test_a_forked_worker_inherits_the_platform_answers() -> None:
    warmed = CHILD.format(warm="import durable_chaos.infra.engines.warmup")
    subprocess.run([sys.executable, "-c", warmed], check=True, timeout=60)
    cold = subprocess.run([sys.executable, "-c", CHILD.format(warm="")], capture_output=True, timeout=60)
    assert cold.returncode == 1 and b"subprocess" in cold.stderr  # unwarmed: the child runs `uname -p`


def test_the_dbos_temporal_and_restate_workers_are_warmed() -> None:
    for adapter in (DBOSAdapter, TemporalAdapter, RestateAdapter):
        assert "durable_chaos.infra.engines.warmup" in adapter.preload_modules
