"""Worker process for tests/test_dbos_adapter.py: one DBOSAdapter.run, its outcome printed as JSON.

Usage: ``python tests/dbos_driver.py '<json spec>'`` with keys kind, import_path, prompt, args,
role, run_id, workdir, resume, resume_mode, observe
(record the engine events of ``DBOSAdapter.observing``). The last stdout line is ``OUTCOME <json>``.
"""

from __future__ import annotations

import time

STARTED = time.monotonic()

import asyncio  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from durable_chaos.faults.context import activated  # noqa: E402
from durable_chaos.infra.engines.base import RunRequest, Target, import_object  # noqa: E402
from durable_chaos.infra.engines.dbos.adapter import DBOSAdapter  # noqa: E402


class Recorder:
    """Stands in for the active Injection: collects the engine events ``observing()`` emits."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def emit_engine_event(self, event: str, **fields: object) -> None:
        self.events.append({"event": event, **fields})


def request_of(spec: dict) -> RunRequest:
    return RunRequest(
        role=spec.get("role", "faulted"),
        run_id=spec["run_id"],
        workdir=Path(spec["workdir"]),
        resume=bool(spec.get("resume")),
        resume_mode=spec.get("resume_mode", "same_run"),
    )


def main() -> None:
    spec = json.loads(sys.argv[1])
    obj = import_object(spec["import_path"], Path(__file__).resolve().parent)
    target = Target(
        kind=spec.get("kind", "agent"),
        obj=obj,
        import_path=spec["import_path"],
        prompt=spec.get("prompt"),
        args=spec.get("args", {}),
    )
    imported = time.monotonic()
    adapter = DBOSAdapter()
    adapter.attach()
    recorder = Recorder()
    if spec.get("observe"):
        with activated(recorder), adapter.observing():  # type: ignore[arg-type]
            outcome = asyncio.run(adapter.run(target, request_of(spec)))
    else:
        outcome = asyncio.run(adapter.run(target, request_of(spec)))
    output = outcome.output
    if hasattr(output, "model_dump"):
        output = output.model_dump(mode="json")
    done = time.monotonic()
    result = {
        **dataclasses.asdict(outcome),
        "output": output,
        "engine_events": recorder.events,
        "timings": {"import": imported - STARTED, "run": done - imported, "total": done - STARTED},
    }
    print("OUTCOME " + json.dumps(result, default=str), flush=True)


if __name__ == "__main__":
    main()
