"""The example folders' shared files (``scenarios/_shared``), for tests that copy an example folder."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
SHARED = SCENARIOS / "_shared"
"""Modules, cassettes and model-server scripts that several example folders share."""


def copy_shared(
    target: Path, modules: Iterable[str] = ("data_analyst_core",), script: str | None = "data_analyst"
) -> None:
    """Put into ``target`` (a test's own copy of an example folder, whose scenario files are written for
    one folder) what the example takes from ``scenarios/_shared``: the shared ``modules``, and the
    model-server script ``script`` as ``script.yaml``."""
    for module in modules:
        shutil.copy(SHARED / f"{module}.py", target)
    if script is not None:
        shutil.copy(SHARED / "scripts" / f"{script}.yaml", target / "script.yaml")


def copy_data_analyst_example(project: Path) -> Path:
    """A pytester project's own ``scenarios/`` folder holding the data-analysis example's Prefect agent,
    the shared module it imports and its cassettes (the scenario files are the test's own)."""
    source = SCENARIOS / "data_analyst"
    target = project / "scenarios"
    target.mkdir()
    shutil.copy(source / "data_analyst_agent.py", target)
    copy_shared(target, script=None)
    shutil.copytree(source / "cassettes", target / "cassettes")
    return target
