"""Version N of a Prefect application: the data analyst (``prefect_release``).
``report_prefect_v2_retries`` and ``report_prefect_v2_instructions`` are two next releases."""

from __future__ import annotations

from prefect_release import build

analyst = build()
