"""The data analyst under DBOS (``../_shared/data_analyst_dbos.py``, importable here as every
``_shared`` module is), for network faults on the DBOS system database."""

from __future__ import annotations

from data_analyst_dbos import analyst

__all__ = ["analyst"]
