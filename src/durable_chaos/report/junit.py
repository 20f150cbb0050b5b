"""JUnit XML of the trials (``durable-chaos merge --junit PATH``; a pytest session has pytest's own
``--junitxml``): one ``testcase`` per trial, named like its pytest item (``scenario[engine-plan]``), a
``failure`` for a trial that failed, an ``error`` for one that errored or was invalid, ``skipped`` for a
skipped one, and the trial's property verdicts as ``chaos.<property>`` properties (as pytest's items
record them). The session's outcome is the suite's ``chaos.exit_code`` property."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from durable_chaos.atomic import atomic_write_text
from durable_chaos.report.formats import ReportInputs
from durable_chaos.run.results import TrialResult
from durable_chaos.scrub import for_terminal

ERROR_VERDICTS = ("error", "invalid")


def shown(path: Path) -> str:
    """A scenario file's path, relative to the working directory when it is below it."""
    base = Path.cwd().resolve()
    resolved = path.resolve()
    return (resolved.relative_to(base) if resolved.is_relative_to(base) else resolved).as_posix()


def render_junit(results: Sequence[TrialResult], gate: dict[str, Any] | None = None) -> str:
    """The JUnit XML document."""
    suite = ET.Element(
        "testsuite",
        name="durable-chaos",
        tests=str(len(results)),
        failures=str(sum(r.verdict == "fail" for r in results)),
        errors=str(sum(r.verdict in ERROR_VERDICTS for r in results)),
        skipped=str(sum(r.verdict == "skipped" for r in results)),
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    if gate is not None:
        properties = ET.SubElement(suite, "properties")
        ET.SubElement(properties, "property", name="chaos.exit_code", value=str(gate.get("exit_code")))
    for result in results:
        path = result.spec.scenario.path
        case = ET.SubElement(
            suite,
            "testcase",
            classname=shown(path) if path is not None else result.spec.scenario.name,
            name=result.spec.title,
            time=f"{result.seconds:.3f}",
        )
        props = ET.SubElement(case, "properties")
        ET.SubElement(props, "property", name="chaos.verdict", value=result.verdict)
        for name, verdict in result.verdicts.items():
            ET.SubElement(props, "property", name=f"chaos.{name}", value=str(verdict.held))
        message = for_terminal(f"{result.verdict.upper()}: {result.reason}")
        if result.verdict == "fail":
            ET.SubElement(case, "failure", message=message).text = message
        elif result.verdict in ERROR_VERDICTS:
            ET.SubElement(case, "error", message=message).text = message
        elif result.verdict == "skipped":
            ET.SubElement(case, "skipped", message=message)
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def write_report(path: Path, inputs: ReportInputs) -> None:
    """The writer (``write_report(path, inputs)``, as :data:`durable_chaos.report.formats.FORMATS`' are)."""
    atomic_write_text(path, render_junit(inputs.results, inputs.gate))
