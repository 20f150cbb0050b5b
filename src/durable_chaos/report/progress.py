"""Sweep progress in the terminal: how many crash points of each sweep are done, and an estimate of
the time left, e.g. ``sweep data-analyst on prefect: 34/120 crash points, ~2m10s left``.

pytest's conventions: a line of its own (after the progress dots, which continue below it), written by
the process that owns the terminal (under pytest-xdist the controller, from the reports the workers
send; a worker writes nothing); shown at normal verbosity and with ``-v``, silent with ``-q``. A line is
written when a sweep's first point finishes, then at most every :data:`INTERVAL` seconds, and when its
last point finishes (with the sweep's wall time).

Each sweep item's report carries ``durable_chaos_sweep = [scenario, engine, total]`` (the number of its
points selected in this session, counted after deselection), so the controller needs no collection of
its own. The estimate is the sweep's throughput so far (points done over the wall time since its first
point started) applied to the points left, so it accounts for xdist's parallel workers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest

INTERVAL = 10.0
"""Seconds between two progress lines of the same sweep (its first and last are always written)."""
REPORT_ATTRIBUTE = "durable_chaos_sweep"


def duration(seconds: float) -> str:
    """``45s``, ``2m10s``, ``1h03m``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


@dataclass
class SweepClock:
    """One sweep's progress: points selected, points finished, when its first point started."""

    total: int
    started: float
    done: int = 0
    last_line: float = 0.0

    def line(self, name: str, engine: str, now: float) -> str:
        elapsed = now - self.started
        head = f"sweep {name} on {engine}: {self.done}/{self.total} crash points"
        if self.done >= self.total:
            return f"{head} in {duration(elapsed)}"
        left = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        return f"{head}, ~{duration(left)} left"


class SweepProgress:
    """The plugin that writes the progress lines (registered under ``--chaos``, not on xdist workers)."""

    def __init__(self, config: pytest.Config, interval: float = INTERVAL) -> None:
        self.config = config
        self.interval = interval
        self.clocks: dict[tuple[str, str], SweepClock] = {}

    @pytest.hookimpl(trylast=True)  # after the terminal reporter wrote the trial's letter or line
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        sweep = getattr(report, REPORT_ATTRIBUTE, None)
        finished = report.when == "call" or (report.when == "setup" and not report.passed)
        if not sweep or not finished:
            return
        name, engine, total = sweep
        now = time.monotonic()
        clock = self.clocks.setdefault((name, engine), SweepClock(int(total), now - report.duration))
        clock.done += 1
        if clock.done > 1 and clock.done < clock.total and now - clock.last_line < self.interval:
            return
        clock.last_line = now
        self.write(clock.line(name, engine, now))

    def write(self, line: str) -> None:
        if self.config.get_verbosity() < 0:
            return
        reporter: Any = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        reporter.ensure_newline()  # after the dots of a file's line
        writer: Any = getattr(reporter, "_tw", None)  # xdist's dots have no file line: end theirs too
        if writer is not None and writer.width_of_current_line:
            reporter.write("\n")
        reporter.write_line(line)


def count_points(items: list[pytest.Item]) -> dict[tuple[str, str], int]:
    """Per sweep (scenario, engine): how many of its items the session selected."""
    counts: dict[tuple[str, str], int] = {}
    for item in items:
        group = getattr(item, "sweep_group", None)
        if group is not None:
            counts[group] = counts.get(group, 0) + 1
    return counts
