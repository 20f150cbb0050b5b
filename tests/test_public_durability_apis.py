"""What pydantic-ai's public durability building blocks (``pydantic_ai.durable_exec``) offer the harness,
pinned for the installed release (both CI venvs: 2.59 and the newest) so a release that adds a reader
fails here and says to switch (docs/versions.md, "pydantic-ai's public durability APIs").

Measured on the wheels of 2.59, 2.60, 2.61, 2.62, 2.64, 2.66, 2.68 and 2.78: ``durable_unit_scope`` is
exported from 2.61, ``replay_scope`` / ``record_durable_unit`` from 2.68 (2.67 is not on the index).
All three are write-only: an engine marks a unit body or reports a unit as executed or replayed, and
pydantic-ai keeps the tally in private context variables to drop replayed telemetry. Nothing public
reads it back, so the harness's evidence (executed vs replayed units) stays with the engines' own APIs.
"""

from __future__ import annotations

from importlib.metadata import version

import pydantic_ai.durable_exec as durable_exec

INSTALLED = tuple(int(part) for part in version("pydantic-ai-slim").split(".")[:2])

BUILDING_BLOCKS = (
    "BaseDurabilityCapability",
    "DurableOperationBackend",
    "DurableOperationNamer",
    "JournalOperationNamer",
    "DurableOperationId",
    "ModelRequestId",
    "ToolsetCallToolId",
    "ToolsetGetToolsId",
)
"""Public in every supported release (2.59 on): how an engine integration is built and names its units."""

READERS = ("snapshot", "ReplaySnapshot", "in_durable_unit", "executed_units", "replayed_units")
"""What the harness would need to read evidence through pydantic-ai; none is public in any release."""


def test_the_building_blocks_are_public_in_every_supported_release() -> None:
    assert set(BUILDING_BLOCKS) <= set(durable_exec.__all__)


def test_the_replay_markers_appear_with_their_release() -> None:
    exported = set(durable_exec.__all__)
    assert ("durable_unit_scope" in exported) is (INSTALLED >= (2, 61))
    assert {"replay_scope", "record_durable_unit"} <= exported or INSTALLED < (2, 68)
    assert not {"replay_scope", "record_durable_unit"} & exported or INSTALLED >= (2, 67)


def test_no_release_exports_a_reader_of_executed_and_replayed_units() -> None:
    assert not set(READERS) & set(durable_exec.__all__), "a reader is public now: read evidence through it"
    if INSTALLED >= (2, 68):
        record_durable_unit = durable_exec.record_durable_unit
        with durable_exec.replay_scope():
            assert record_durable_unit(executed=True) is None  # write-only: the tally is not returned
