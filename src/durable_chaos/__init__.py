"""durable-chaos: chaos-test durable Pydantic AI agents (Prefect, DBOS, Temporal)."""

__version__ = "0.1.0"
