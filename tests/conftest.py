"""Shared fixtures: one TrialRunner (and so one real Prefect API server) for the whole test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from durable_chaos.harness.runner import TrialRunner

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"


@pytest.fixture(scope="session")
def runner() -> Iterator[TrialRunner]:
    trial_runner = TrialRunner()
    try:
        yield trial_runner
    finally:
        trial_runner.close()
