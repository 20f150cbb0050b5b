"""A failing fault schedule, written out as a scenario file that reproduces it.

When a generated plan violates a property, the ``chaos`` fixture writes the scenario with only that
plan, under a name derived from the test, beside the scenario file it came from (its cassette, model
server script and target modules resolve relative to that folder, and a cassette may not leave it).
Hypothesis runs the minimal failing example last, so after shrinking the file holds the minimal
schedule. The file is an ordinary scenario: the loader and ``durable-chaos validate`` accept it, and
``pytest --chaos <file>`` reproduces the violation (it checks what the original checked, so it fails
until the bug is fixed: ready to commit as a regression test).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from durable_chaos.scenario.model import Plan, Scenario
from durable_chaos.scrub import scrub_text, strip_controls

PREFIX = "regression"


def regression_name(scenario: Scenario, test: str | None, plan: Plan) -> str:
    """``regression-<scenario>-<test function>`` (or the plan's name without a test), a slug."""
    tail = test.rpartition("::")[2] if test else plan.name
    raw = f"{PREFIX}-{scenario.name}-{tail}"
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", raw).strip("-.")
    return slug[:80].rstrip("-.")


def regression_document(scenario: Scenario, plan: Plan, name: str) -> dict[str, Any]:
    """The scenario as written (its set fields), with only ``plan`` and without a sweep."""
    data = scenario.model_dump(mode="json", exclude_unset=True, exclude={"plans", "sweep", "explore", "name"})
    for field in ("resume", "resume_worker", "max_resumes"):  # a sweep's recovery mode may have changed them
        if getattr(scenario, field) != type(scenario).model_fields[field].default:
            data[field] = getattr(scenario, field)
    plan_data = plan.model_dump(mode="json", exclude_defaults=True)
    plan_data["faults"] = [_kind_first(f.model_dump(mode="json", exclude_defaults=True)) for f in plan.faults]
    ordered = {"schema_version": data.pop("schema_version", 1), "name": name}
    return {**ordered, **data, "plans": [plan_data]}


def _kind_first(fault: dict[str, Any]) -> dict[str, Any]:
    return {"kind": fault.pop("kind"), **fault}


def write_regression(
    scenario: Scenario,
    plan: Plan,
    *,
    test: str | None,
    seed: int | None,
    violations: list[str],
    directory: Path | None = None,
) -> Path:
    """Write the regression scenario; return its path. ``directory`` defaults to the scenario's folder."""
    name = regression_name(scenario, test, plan)
    violations = [strip_controls(scrub_text(line)) for line in violations]  # a file users commit
    folder = directory or scenario.base_dir
    path = folder / f"{name}.yaml"
    document = regression_document(scenario, plan, name)
    found = f"found by {test}" if test else "found by a generated fault plan"
    seeded = (
        f"seed {seed} (pytest --chaos-seed {seed} generates the same schedules)"
        if seed is not None
        else "Hypothesis's own seed (no --chaos-seed given; its example database replays it)"
    )
    document["description"] = (
        f"Regression: the minimal fault schedule {found}, with {seeded}. "
        f"Violated: {'; '.join(violations) or 'see the report'}."
    )
    header = [
        "# durable-chaos regression scenario, written when a generated fault plan broke a guarantee.",
        f"# {found}",
        f"# seed: {seed if seed is not None else 'none (Hypothesis chose it)'}",
        *(f"# violated: {line}" for line in violations),
        f"# reproduce: pytest --chaos {path.name}",
    ]
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(header) + "\n" + body)
    return path
