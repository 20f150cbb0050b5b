"""What the restart faults of a trial did to its run, in words, from the history (pure).

The worker records a ``restart`` event (``action: stopped``) at the boundary where the server went
down; the session records another when it came back (``action: started``, ``down_for`` seconds,
``why``: ``downtime``, or ``trial_end`` when the run ended first).
"""

from __future__ import annotations

from typing import Any

from durable_chaos.judge.evidence import is_faulted

_TARGETS = {"database": "the engine's database", "engine_api": "the engine's API server"}


def _where(event: dict[str, Any]) -> str:
    unit = event.get("unit")
    if not unit:
        return ""
    return f" at {unit['kind']} #{unit['ordinal']} ({unit['name']}) attempt {event.get('attempt')}"


def restart_effects(events: list[dict[str, Any]], completed: bool) -> list[str]:
    """One sentence per restart in the faulted run and its resumes, ending with whether the run
    recovered (``completed``); what the engine holds of a run that did not (a stranded workflow) is in
    the run's error, asked of the engine once the infrastructure is back (``EngineAdapter.stranded``)."""
    run = [e for e in events if is_faulted(e["role"])]
    sentences = []
    for position, stopped in enumerate(run):
        if stopped["event"] != "restart" or stopped.get("action") != "stopped":
            continue
        index = stopped["index"]
        phase = next(
            (
                e["fault"]["phase"]
                for e in reversed(run[:position])
                if e["event"] == "fault" and e["fault"]["index"] == index
            ),
            None,
        )
        during = f", during recovery ({stopped['role']})" if stopped.get("during") == "recovery" else ""
        target = str(stopped.get("target"))
        what = f"{stopped.get('service')} ({_TARGETS.get(target, target)})"
        came_back = "not started again"
        for event in run[position + 1 :]:
            if (
                event["event"] == "restart"
                and event.get("index") == index
                and event.get("action") == "started"
            ):
                if event.get("why") == "trial_end":
                    came_back = f"started again only when the trial ended, {event['down_for']:.1f} s later"
                else:
                    came_back = f"started again {event['down_for']:.1f} s later"
                break
            if (
                event["event"] == "restart"
                and event.get("index") == index
                and event.get("action") == "start_failed"
            ):
                came_back = f"could not be started again ({event.get('error')})"
                break
        outcome = "the run recovered" if completed else "the run did not recover"
        moment = f"{_where(stopped)}{f' {phase}' if phase and phase != 'launch' else ''}{during}"
        downtime = f"for {float(stopped.get('downtime', 0)):.1f} s"
        if stopped.get("during") == "launch":
            moment = f" {downtime} as {stopped['role']} launched the engine to recover the run"
        else:
            moment = f"{moment} {downtime}"
        sentences.append(f"restart fault #{index + 1}: {what} stopped{moment}, {came_back}; {outcome}")
    return sentences
