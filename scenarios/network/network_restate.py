"""The data analyst on Restate (``../_shared/data_analyst_restate.py``, importable here as every
``_shared`` module is), for restarts of the Restate server."""

from __future__ import annotations

from data_analyst_restate import analyze

__all__ = ["analyze"]
