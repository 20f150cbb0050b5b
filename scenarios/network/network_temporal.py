"""The data analyst on Temporal (``../_shared/data_analyst_temporal.py``, importable here as every
``_shared`` module is), for restarts of the Temporal dev server."""

from __future__ import annotations

from data_analyst_temporal import analyst

__all__ = ["analyst"]
