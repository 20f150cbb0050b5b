"""The data analyst under DBOS (``../data_analyst/data_analyst_dbos.py``), for network faults on the
DBOS system database."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "data_analyst"))

from data_analyst_dbos import analyst  # noqa: E402

__all__ = ["analyst"]
