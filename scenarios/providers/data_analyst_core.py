"""The data-analysis agent's parts that do not depend on an engine: its output type, its tools and
its instructions (shared by the Prefect and DBOS versions, which must send identical requests to
replay the same cassette)."""

from __future__ import annotations

from pydantic import BaseModel

SALES_Q4 = {
    "revenue": [120.0, 135.5, 128.0, 410.0, 140.25],
    "region": ["north", "south", "east", "west", "north"],
}


class DataAnalysis(BaseModel):
    summary: str
    key_findings: list[str]
    anomalies: list[dict[str, float]]
    recommendations: list[str]


def load_dataset(name: str) -> dict[str, list[float] | list[str]]:
    """Load a dataset by name."""
    if name != "sales_q4":
        raise ValueError(f"unknown dataset {name!r}")
    return SALES_Q4


def compute_statistics(column: str) -> dict[str, float]:
    """Mean, max and min of a numeric column of the loaded dataset."""
    values = [float(v) for v in SALES_Q4[column]]
    return {"mean": round(sum(values) / len(values), 2), "max": max(values), "min": min(values)}


INSTRUCTIONS = "You are an expert data analyst. Load the dataset, compute statistics, then report."
