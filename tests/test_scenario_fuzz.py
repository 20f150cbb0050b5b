"""Property: whatever is in a scenario file, load_scenario returns a Scenario or raises ScenarioError.

Documents start valid, get structural mutations, are serialized to YAML or TOML (own small TOML
writer), and may then be truncated or have garbage injected into the raw bytes.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_chaos.faults.model import FAULT_KINDS
from durable_chaos.harness.scenario import Scenario
from durable_chaos.harness.scenario_loader import ScenarioError, load_scenario

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

PathT = tuple[Any, ...]

# --------------------------------------------------------------------------------- valid documents

FAULTS: dict[str, dict[str, Any]] = {
    "timeout": {"delay": 0.5},
    "http_error": {"status": 503, "retry_after": 1.0},
    "latency": {"seconds": 2},
    "tool_error": {"exception": "ValueError", "message": "boom"},
    "malformed_output": {},
    "kill": {},
}


@st.composite
def faults(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(FAULT_KINDS))
    fault: dict[str, Any] = {"kind": kind, **FAULTS[kind]}
    if draw(st.booleans()):
        fault["at"] = {
            "kind": draw(st.sampled_from(["model_request", "tool_call", "any"])),
            "occurrence": draw(st.integers(1, 5)),
            "times": draw(st.integers(1, 3)),
            "phase": draw(st.sampled_from(["before", "after"])),
        }
    return fault


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """A valid scenario document."""
    plan_count = draw(st.integers(1, 3))
    plans = [
        {"name": f"plan-{i}", "faults": draw(st.lists(faults(), min_size=1, max_size=3))}
        for i in range(plan_count)
    ]
    doc: dict[str, Any] = {"schema_version": 1, "name": "fuzz", "description": "generated"}
    if draw(st.booleans()):
        doc.update(agent="pkg.agents:agent", prompt="hello", cassette="cassettes/fuzz.yaml")
    else:
        doc.update(entry="pkg.flows:run", args={"city": "Paris", "days": 3}, model_server={"script": "s.py"})
    doc["engines"] = draw(st.sampled_from([["prefect"], ["prefect", "dbos"], ["temporal"]]))
    doc["max_resumes"] = draw(st.integers(0, 5))
    doc["plans"] = plans
    return doc


# -------------------------------------------------------------------------------------- mutations


def containers(doc: Any, path: PathT = ()) -> list[PathT]:
    """Paths of every mapping in the document."""
    found: list[PathT] = [path] if isinstance(doc, dict) else []
    children = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    for key, value in children:
        found.extend(containers(value, (*path, key)))
    return found


def leaves(doc: Any, path: PathT = ()) -> list[PathT]:
    """Paths of every value (mapping entries and list items) below the root."""
    found: list[PathT] = []
    children = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    for key, value in children:
        found.append((*path, key))
        found.extend(leaves(value, (*path, key)))
    return found


def get(doc: Any, path: PathT) -> Any:
    for part in path:
        doc = doc[part]
    return doc


WRONG_VALUES = st.sampled_from([None, True, -3, 0, 1.5, "", "x", "not a path", [], [1, "a"], {}, {"k": 1}])


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """A document with 1-3 structural mutations applied."""
    doc = copy.deepcopy(draw(documents()))
    for _ in range(draw(st.integers(1, 3))):
        mutation = draw(st.sampled_from(MUTATIONS))
        mutation(draw, doc)
    return doc


def delete_required(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    candidates = [("schema_version",), ("name",), ("plans",), ("agent",), ("entry",), ("plans", 0, "name")]
    candidates += [p[:-1] + ("kind",) for p in leaves(doc) if p[-1] == "kind"]
    candidates += [p for p in leaves(doc) if p[-1] == "seconds"]
    path = draw(st.sampled_from(candidates))
    parent = _parent(doc, path)
    if isinstance(parent, dict):
        parent.pop(path[-1], None)


def add_unknown_key(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    target = get(doc, draw(st.sampled_from(containers(doc))))
    target[draw(st.sampled_from(["bogus", "occurence", "secnds", "retries", "plan"]))] = draw(WRONG_VALUES)


def wrong_type(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    path = draw(st.sampled_from(leaves(doc)))
    _parent(doc, path)[path[-1]] = draw(WRONG_VALUES)


def bad_number(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    plan = draw(st.sampled_from(doc.get("plans") or [{}])) if isinstance(doc.get("plans"), list) else {}
    fault_list = plan.get("faults") if isinstance(plan, dict) else None
    if isinstance(fault_list, list) and fault_list and isinstance(fault_list[0], dict):
        at = fault_list[0].setdefault("at", {})
        if isinstance(at, dict):
            at[draw(st.sampled_from(["occurrence", "times", "attempt"]))] = draw(st.integers(-5, 0))
    else:
        doc["max_resumes"] = draw(st.integers(-5, -1))


def unknown_fault_kind(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    kinds = [p for p in leaves(doc) if p[-1] == "kind"]
    if kinds:
        path = draw(st.sampled_from(kinds))
        _parent(doc, path)[path[-1]] = draw(st.sampled_from(["explode", "Timeout", "", "kill "]))


def bad_import_path(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    key = "agent" if "agent" in doc else "entry"
    doc[key] = draw(st.sampled_from(["pkg/agents.py", "pkg.agents", "1pkg:x", ":agent", "pkg:", "a b:c"]))


def duplicate_plan_names(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    plans = doc.get("plans")
    if isinstance(plans, list) and plans and isinstance(plans[0], dict):
        plans.append(copy.deepcopy(plans[0]))


def bad_schema_version(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    doc["schema_version"] = draw(st.sampled_from([0, 2, "1", 1.0, True, None, [1]]))


MUTATIONS = [
    delete_required,
    add_unknown_key,
    wrong_type,
    bad_number,
    unknown_fault_kind,
    bad_import_path,
    duplicate_plan_names,
    bad_schema_version,
]


def _parent(doc: Any, path: PathT) -> Any:
    try:
        return get(doc, path[:-1])
    except (KeyError, IndexError, TypeError):
        return {}


# ---------------------------------------------------------------------------------- serialization

BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_key(key: Any) -> str:
    text = str(key)
    return text if BARE_KEY.match(text) else json.dumps(text, ensure_ascii=False)


def toml_value(value: Any) -> str:
    """An inline TOML value (None, which TOML lacks, becomes an empty inline table)."""
    if value is None:
        return "{}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def to_toml(doc: dict[str, Any], prefix: str = "") -> str:
    """A small TOML writer: scalars inline, sub-tables as [table], lists of tables as [[array]]."""
    lines = [f"{toml_key(k)} = {toml_value(v)}" for k, v in doc.items() if not _is_section(v)]
    out = "\n".join(lines) + ("\n" if lines else "")
    for key, value in doc.items():
        name = f"{prefix}.{toml_key(key)}" if prefix else toml_key(key)
        if isinstance(value, dict) and value:
            out += f"\n[{name}]\n" + to_toml(value, name)
        elif is_table_array(value):
            for item in value:
                out += f"\n[[{name}]]\n" + to_toml(item, name)
    return out


def _is_section(value: Any) -> bool:
    return (isinstance(value, dict) and bool(value)) or is_table_array(value)


def serialize(doc: dict[str, Any], fmt: str) -> str:
    if fmt == "toml":
        return to_toml(doc)
    flow = None if fmt == "yaml" else True  # "yaml-flow": everything in flow style
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=flow, allow_unicode=True)


GARBAGE = st.sampled_from(
    [
        b"\x00",
        b"\xff",
        b"\xc3",
        b"\t",
        b":",
        b": ",
        b"[",
        b"{",
        b"}",
        b'"',
        b"'",
        b"\n  - ",
        b"=",
        b"[[",
        b"\x07",
        "\u2028".encode(),
        "\U0001f4a5".encode(),
        b"&a *a",
        b"!!python/object:os.system",
        b"---\n",
        b"#",
    ]
)


@st.composite
def raw_files(draw: st.DrawFn) -> tuple[str, bytes]:
    """(suffix, bytes) of a possibly broken scenario file."""
    doc = draw(mutated()) if draw(st.integers(0, 4)) else draw(documents())
    fmt = draw(st.sampled_from(["yaml", "yaml-flow", "toml"]))
    data = serialize(doc, fmt).encode()
    damage = draw(st.sampled_from(["none", "none", "truncate", "garbage", "both"]))
    if damage in ("truncate", "both"):
        data = data[: draw(st.integers(0, len(data)))]
    if damage in ("garbage", "both"):
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(0, len(data)))
            data = data[:at] + draw(GARBAGE) + data[at:]
    return (".toml" if fmt == "toml" else draw(st.sampled_from([".yaml", ".yml"]))), data


# ---------------------------------------------------------------------------------------- property


@FUZZ
@given(raw_files())
def test_load_scenario_returns_a_scenario_or_a_scenario_error(
    tmp_path: Path, file: tuple[str, bytes]
) -> None:
    suffix, data = file
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    try:
        scenario = load_scenario(path)
    except ScenarioError as err:
        rendered = str(err)
        assert rendered.startswith(str(path))
        assert "Traceback" not in rendered
        line_count = max(data.count(b"\n") + 1, 1)
        for line in rendered.splitlines():
            match = re.match(re.escape(str(path)) + r":(\d+): \S", line)
            assert match is not None, line  # every problem in an existing file carries a line number
            assert 1 <= int(match.group(1)) <= line_count, line
        assert err.line is not None and err.message
    else:
        assert isinstance(scenario, Scenario)
        assert scenario.path == path
