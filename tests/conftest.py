"""Shared fixtures: one TrialRunner (and so one real Prefect API server) for the whole test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from durable_chaos.run.runner import TrialRunner

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server: the one .ci/run started, else one started here."""
    external = os.environ.get("DURABLE_CHAOS_TEST_POSTGRES_URL")
    if external:
        yield external
        return
    from postgres_server import PostgresServer

    server = PostgresServer()
    try:
        server.start()
    except Exception as exc:  # noqa: BLE001 - no server binaries on this machine
        pytest.skip(f"cannot start PostgreSQL: {exc}")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def runner() -> Iterator[TrialRunner]:
    trial_runner = TrialRunner()
    try:
        yield trial_runner
    finally:
        trial_runner.close()
