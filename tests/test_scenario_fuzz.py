"""Property: whatever is in a scenario file, load_scenario returns a Scenario or raises ScenarioError,
and ``durable-chaos validate`` gives every file of a batch a verdict with exit code 0 or 2.

Documents start valid, get structural mutations, are serialized to YAML or TOML (own small TOML
writer), and may then be truncated or have garbage injected into the raw bytes. The batch test adds
bad scalars and tags, alias bombs, deep nesting, huge integers, duplicate keys, binary junk, symlink
loops, devices and missing files, and prints how many files it checked in how many seconds.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_chaos.cli import main
from durable_chaos.faults.model import FAULT_KINDS
from durable_chaos.scenario.errors import ScenarioError
from durable_chaos.scenario.model import Scenario
from durable_chaos.scenario.read import load_scenario

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

PathT = tuple[Any, ...]

# --------------------------------------------------------------------------------- valid documents

FAULTS: dict[str, dict[str, Any]] = {
    "timeout": {"delay": 0.5},
    "http_error": {"status": 503, "retry_after": 1.0},
    "latency": {"seconds": 2},
    "tool_error": {"exception": "ValueError", "message": "boom"},
    "malformed_output": {},
    "stream_cut": {"after_events": 2},
    "stream_stall": {"seconds": 5},
    "stream_malformed": {"event": 1},
    "stream_error": {"after_events": 3, "error_type": "overloaded_error"},
    "connection_reset": {},
    "mcp_server_exit": {},
    "network": {"target": "model_endpoint", "toxic": "latency", "attributes": {"latency": 100}},
    "restart": {"target": "database", "downtime": 1.5, "during": "recovery"},
    "kill": {},
}


@st.composite
def faults(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(FAULT_KINDS))
    fault: dict[str, Any] = {"kind": kind, **FAULTS[kind]}
    if draw(st.booleans()):
        fault["at"] = {
            "kind": draw(st.sampled_from(["model_request", "tool_call", "mcp", "any"])),
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
    doc["engines"] = draw(st.sampled_from([["prefect"], ["prefect", "dbos"], ["restate"]]))
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


WRONG_VALUES = st.sampled_from(
    [None, True, -3, 0, 1.5, "", "x", "not a path", [], [1, "a"], {}, {"k": 1}]
).map(copy.deepcopy)  # a fresh copy each draw: a shared mutable value could end up inside itself


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
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's emitter when built with it
    return yaml.dump(doc, Dumper=dumper, sort_keys=False, default_flow_style=flow, allow_unicode=True)


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


# ================================================================================ the CLI on bad batches
#
# Thousands of malformed files per run, in batches through ``durable_chaos.cli.main`` (the
# in-process entry of ``durable-chaos validate``) and ``load_scenario``: zero tracebacks, exit codes 0
# or 2 only, and every file of a batch gets its own verdict whatever the others hold.

BAD_YAML_SCALARS = [
    "2024-02-30",
    "2024-13-45",
    "2001-12-14t21:59:43.10-25:00",
    "!!int abc",
    "!!int 0x",
    "!!float xyz",
    "!!bool maybe",
    "!!timestamp yesterday",
    "!!binary '@@@'",
    "!!null x",
    "!!set [1, 2]",
    "!!omap [a, b]",
    "!!pairs {a: 1}",
    "!!str [1]",
    "!!map [1]",
    "!!seq {a: 1}",
    "!!python/object:os.system x",
    "!!python/name:os.system ''",
    "!custom tag",
    "!<tag:yaml.org,2002:int> 1.5",
    "*undefined_alias",
    "&anchor",
    "<<: *nothing",
    "9" * 4301,
    "-" + "9" * 5000,
    "0x" + "f" * 6000,
    "0b" + "1" * 9000,
    "0o" + "7" * 5000,
    "190:20:30:" + "9" * 4400,
    "1e99999",
    ".nan",
    "~",
    "'unterminated",
    "\x00",
]
BAD_TOML_SCALARS = [
    "9" * 4301,
    "-" + "9" * 5000,
    "0x" + "f" * 6000,
    "1979-13-27",
    "1979-02-30",
    "1979-05-27T25:00:00Z",
    "00:61:00",
    "inf",
    "nan",
    "0x",
    "1__0",
    '"\\u0000"',
    '"\\uD800"',
    "[1, 2",
    "{a = 1, a = 2}",
    "true false",
    "'''",
]
KINDS = ["regular"] * 12 + ["symlink_loop", "dev_null", "missing"]


@st.composite
def yaml_bad_scalar(draw: st.DrawFn) -> tuple[str, bytes]:
    doc = draw(documents())
    text = serialize(doc, "yaml")
    lines = text.split("\n")
    field = draw(st.sampled_from(["description", "max_resumes", "prompt", "name", "schema_version", "extra"]))
    value = draw(st.sampled_from(BAD_YAML_SCALARS))
    line = f"{field}: {value}"
    lines = [candidate for candidate in lines if not candidate.startswith(f"{field}:")]
    lines.insert(draw(st.integers(0, len(lines))), line)
    return draw(st.sampled_from([".yaml", ".yml"])), "\n".join(lines).encode("utf-8", "surrogatepass")


@st.composite
def toml_bad_scalar(draw: st.DrawFn) -> tuple[str, bytes]:
    doc = draw(documents())
    text = to_toml(doc)
    field = draw(st.sampled_from(["description", "max_resumes", "name", "schema_version"]))
    value = draw(st.sampled_from(BAD_TOML_SCALARS))
    lines = [candidate for candidate in text.split("\n") if not candidate.startswith(f"{field} =")]
    lines.insert(0, f"{field} = {value}")
    return ".toml", "\n".join(lines).encode()


@st.composite
def alias_documents(draw: st.DrawFn) -> tuple[str, bytes]:
    """Billion-laughs style documents of random fan-out and depth, recursive aliases, merges."""
    fanout = draw(st.integers(1, 12))
    depth = draw(st.integers(1, 12))
    lines = ["schema_version: 1", "name: fuzz", 'a0: &a0 ["lol"]']
    for level in range(1, depth + 1):
        refs = ", ".join([f"*a{level - 1}"] * fanout)
        lines.append(f"a{level}: &a{level} [{refs}]")
    extra = draw(st.sampled_from(["", "loop: &r [*r]", "m: &m {k: 1}\nn: {<<: *m, <<: *m}", "args: *a1"]))
    if extra:
        lines.append(extra)
    return ".yaml", "\n".join(lines).encode()


@st.composite
def deep_documents(draw: st.DrawFn) -> tuple[str, bytes]:
    depth = draw(st.integers(10, 4000))
    shape = draw(st.sampled_from(["list", "map", "block"]))
    fmt = draw(st.sampled_from(["yaml", "toml"]))
    if shape == "list":
        inner = "[" * depth + "]" * depth
    elif shape == "map":
        inner = "{a: " * depth + "1" + "}" * depth if fmt == "yaml" else "{a = " * depth + "1" + "}" * depth
    else:
        if fmt == "toml":
            return ".toml", ("schema_version = 1\n" + "[" + ".".join(["t"] * depth) + "]\nk = 1\n").encode()
        inner = "\n" + "".join("  " * i + "- \n" for i in range(min(depth, 150)))
    sep = ":" if fmt == "yaml" else " ="
    return f".{fmt}", f"schema_version{sep} 1\nargs{sep} {inner}\n".encode()


@st.composite
def duplicate_keys(draw: st.DrawFn) -> tuple[str, bytes]:
    doc = draw(documents())
    fmt = draw(st.sampled_from(["yaml", "toml"]))
    text = serialize(doc, fmt)
    lines = [line for line in text.split("\n") if line and not line.startswith((" ", "-", "["))]
    repeat = draw(st.sampled_from(lines))
    return (".toml" if fmt == "toml" else ".yaml"), (text + "\n" + repeat + "\n").encode()


binary_junk = st.tuples(st.sampled_from([".yaml", ".yml", ".toml"]), st.binary(max_size=3000))
any_bad_file = st.one_of(
    raw_files(),
    yaml_bad_scalar(),
    toml_bad_scalar(),
    alias_documents(),
    deep_documents(),
    duplicate_keys(),
    binary_junk,
)

BATCH_FUZZ = settings(
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _write(directory: Path, index: int, kind: str, suffix: str, data: bytes) -> Path:
    path = directory / f"f{index:02d}{suffix}"
    if kind == "symlink_loop":
        path.symlink_to(path)
    elif kind == "dev_null":
        path.symlink_to(os.devnull)
    elif kind == "regular":
        path.write_bytes(data)
    return path  # "missing": never written


def test_validate_gives_every_file_a_verdict_without_tracebacks(
    record_property: Callable[[str, object], None],
) -> None:
    stats = {"files": 0, "batches": 0, "valid": 0}

    @BATCH_FUZZ
    @given(st.lists(st.tuples(st.sampled_from(KINDS), any_bad_file), min_size=4, max_size=12))
    def check(batch: list[tuple[str, tuple[str, bytes]]]) -> None:
        with tempfile.TemporaryDirectory(prefix="dc-fuzz-") as raw:
            directory = Path(raw)
            paths = [
                _write(directory, i, kind, suffix, data) for i, (kind, (suffix, data)) in enumerate(batch)
            ]
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(["validate", *map(str, paths)])
            output = out.getvalue() + err.getvalue()
            assert code in (0, 2), output
            assert "Traceback" not in output
            verdict_lines = output.splitlines()
            invalid = 0
            unique = {os.path.realpath(path): path for path in reversed(paths)}  # validate dedupes
            for path in unique.values():
                verdict = [line for line in verdict_lines if line.startswith((f"ok   {path} ", f"{path}:"))]
                assert verdict, f"no verdict for {path}:\n{output}"
                invalid += not verdict[0].startswith("ok   ")
            # load_scenario directly, on one file per batch (validate already loaded them all)
            probe = paths[len(paths) // 2]
            try:
                load_scenario(probe)
            except ScenarioError as exc:
                assert str(exc).startswith(str(probe))
            else:
                stats["valid"] += 1
            assert code == (2 if invalid else 0), output
            stats["files"] += len(paths)
            stats["batches"] += 1

    start = time.monotonic()
    check()
    seconds = time.monotonic() - start
    figure = (
        f"malformed-file fuzz: {stats['files']} files in {stats['batches']} validate batches "
        f"({stats['valid']} of the load_scenario probes valid), {seconds:.1f} s, zero tracebacks, "
        "exit codes 0/2 only"
    )
    print(figure)  # shown with -s; also in the JUnit XML as properties
    record_property("fuzz_files", stats["files"])
    record_property("fuzz_seconds", round(seconds, 1))
    assert stats["files"] >= 2000, figure
