"""Version N+1 of ``report_prefect_v1`` that changes ``load_dataset``'s body (its rows now carry their
unit), not its name, description or arguments. KNOWN-BAD on Prefect: pydantic-ai's cache key covers the
tool's name, description, schema, arguments and run context, not its body, so the re-run flow run
restores the rows N loaded and the run goes on from N's tool output."""

from __future__ import annotations

from data_analyst_core import load_dataset as load_dataset_v1
from prefect_release import build


def load_dataset(name: str) -> dict[str, list[float] | list[str]]:
    """Load a dataset by name."""
    rows = load_dataset_v1(name)
    return {**rows, "unit": ["USD thousands"] * len(rows["revenue"])}


analyst = build(load=load_dataset)
