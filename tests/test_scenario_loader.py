"""Loading scenario files and the line-oriented errors for each way they can be wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_chaos.scenario.discover import SHARED_REASON, discover_scenario_files, is_scenario_file
from durable_chaos.scenario.errors import ScenarioError
from durable_chaos.scenario.model import Scenario
from durable_chaos.scenario.read import load_scenario, load_scenarios

VALID_YAML = """\
# a demo scenario
schema_version: 1
name: demo
agent: pkg.agents:agent
prompt: What is the weather?
engines: [prefect, dbos]
cassette: cassettes/demo.yaml
plans:
  - name: timeouts
    faults:
      - kind: timeout
        at:
          kind: model_request
          occurrence: 1
      - kind: latency
        seconds: 0.5
  - name: kill
    faults:
      - kind: kill
        at: {kind: tool_call, phase: after}
"""

VALID_TOML = """\
schema_version = 1
name = "demo"
entry = "pkg.flows:run"
model_server = { script = "script.py" }
engines = ["prefect"]

[args]
city = "Paris"

[[plans]]
name = "timeouts"

[[plans.faults]]
kind = "timeout"
at = { kind = "model_request", occurrence = 1 }

[[plans]]
name = "errors"

[[plans.faults]]
kind = "http_error"
status = 503

[[plans.faults]]
kind = "tool_error"
at.occurrence = 2
"""


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def error_for(path: Path) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    rendered = str(info.value)
    assert "Traceback" not in rendered
    assert rendered.startswith(str(path))
    return info.value


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the nth line containing ``needle``."""
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return hits[nth - 1]


# ------------------------------------------------------------------------------------------ valid


def test_valid_yaml_loads(tmp_path: Path) -> None:
    path = write(tmp_path, "demo.yaml", VALID_YAML)
    scenario = load_scenario(path)
    assert isinstance(scenario, Scenario)
    assert [plan.name for plan in scenario.plans] == ["timeouts", "kill"]
    assert scenario.engines == ["prefect", "dbos"]
    assert scenario.path == path
    assert scenario.resolve(scenario.cassette or "") == tmp_path / "cassettes/demo.yaml"


def test_side_effecting_tools_may_declare_their_idempotency(tmp_path: Path) -> None:
    text = VALID_YAML + (
        "side_effecting_tools:\n"
        "  - load_dataset\n"
        "  - {name: send_refund, idempotency: call_id}\n"
        "  - {name: send_email, idempotency: {argument: message_id}}\n"
    )
    scenario = load_scenario(write(tmp_path, "demo.yaml", text))
    assert scenario.side_effecting_names() == ("load_dataset", "send_refund", "send_email")
    assert scenario.idempotency() == {"send_refund": "call_id", "send_email": {"argument": "message_id"}}


def test_an_unknown_idempotency_is_reported_at_its_line(tmp_path: Path) -> None:
    text = VALID_YAML + "side_effecting_tools:\n  - {name: send_refund, idempotency: clock}\n"
    rendered = str(error_for(write(tmp_path, "demo.yaml", text)))
    assert f":{line_of(text, 'idempotency: clock')}:" in rendered and "side_effecting_tools" in rendered


def test_an_effects_function_is_imported_next_to_the_scenario(tmp_path: Path) -> None:
    write(tmp_path, "refunds_made.py", "def made():\n    return []\n")
    text = VALID_YAML + "side_effecting_tools:\n  - {name: send_refund, effects: 'refunds_made:made'}\n"
    scenario = load_scenario(write(tmp_path, "demo.yaml", text))
    assert scenario.effects_functions() == {"send_refund": "refunds_made:made"}


@pytest.mark.parametrize(
    ("effects", "message"),
    [("no_such_module_here:made", "cannot import 'no_such_module_here:made'"), ("os:sep", "is not callable")],
)
def test_an_effects_function_that_does_not_import_is_reported_at_its_line(
    tmp_path: Path, effects: str, message: str
) -> None:
    text = VALID_YAML + f"side_effecting_tools:\n  - {{name: send_refund, effects: '{effects}'}}\n"
    rendered = str(error_for(write(tmp_path, "demo.yaml", text)))
    assert f":{line_of(text, effects)}:" in rendered and "side_effecting_tools" in rendered
    assert message in rendered


def test_valid_toml_loads(tmp_path: Path) -> None:
    path = write(tmp_path, "demo.toml", VALID_TOML)
    scenario = load_scenario(str(path))
    assert scenario.entry == "pkg.flows:run"
    assert scenario.args == {"city": "Paris"}
    assert [len(plan.faults) for plan in scenario.plans] == [1, 2]
    assert scenario.plans[1].faults[1].at.occurrence == 2
    assert scenario.path == path


def test_yml_suffix_and_bom(tmp_path: Path) -> None:
    path = write(tmp_path, "demo.yml", "\ufeff" + VALID_YAML)
    assert load_scenario(path).name == "demo"


# -------------------------------------------------------------------------------- file problems


def test_missing_file(tmp_path: Path) -> None:
    err = error_for(tmp_path / "nope.yaml")
    assert err.line is None
    assert str(err) == f"{tmp_path / 'nope.yaml'}: file not found"


def test_unsupported_suffix(tmp_path: Path) -> None:
    err = error_for(write(tmp_path, "demo.json", "{}"))
    assert "unsupported file type '.json'" in str(err)
    assert ".yaml, .yml or .toml" in str(err)


def test_directory_given_as_file(tmp_path: Path) -> None:
    (tmp_path / "dir.yaml").mkdir()
    assert "directory" in str(error_for(tmp_path / "dir.yaml"))


def test_not_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, "demo.yaml", b"schema_version: 1\nname: \xff\xfe\n")
    err = error_for(path)
    assert err.line == 2
    assert str(err) == f"{path}:2: file is not valid UTF-8 (byte 0xff at column 7)"


def test_yaml_syntax_error(tmp_path: Path) -> None:
    text = VALID_YAML.replace("name: demo", "name: demo\n  oops: [1, 2")
    path = write(tmp_path, "demo.yaml", text)
    err = error_for(path)
    assert err.line == line_of(text, "oops")
    assert str(err).startswith(f"{path}:{err.line}: YAML syntax error: ")


def test_yaml_reader_error(tmp_path: Path) -> None:
    path = write(tmp_path, "demo.yaml", "schema_version: 1\n\nname: \x07\n")
    err = error_for(path)
    assert err.line == 3
    assert "U+0007" in str(err)


def test_yaml_several_documents(tmp_path: Path) -> None:
    err = error_for(write(tmp_path, "demo.yaml", VALID_YAML + "---\nschema_version: 1\n"))
    assert "YAML syntax error" in str(err)
    assert err.line == line_of(VALID_YAML + "---\n", "---")


def test_toml_syntax_error(tmp_path: Path) -> None:
    text = VALID_TOML.replace("status = 503", "status = = 503")
    path = write(tmp_path, "demo.toml", text)
    err = error_for(path)
    assert err.line == line_of(text, "status")
    assert str(err).startswith(f"{path}:{err.line}: TOML syntax error: ")
    assert "(at line" not in str(err)


def test_toml_error_at_end_of_document(tmp_path: Path) -> None:
    err = error_for(write(tmp_path, "demo.toml", "schema_version = 1\nname = "))
    assert err.line == 2


@pytest.mark.parametrize(
    ("name", "text"), [("e.yaml", ""), ("c.yaml", "# only a comment\n"), ("e.toml", "\n")]
)
def test_empty_file(tmp_path: Path, name: str, text: str) -> None:
    err = error_for(write(tmp_path, name, text))
    assert err.line == 1
    assert "file is empty" in str(err)


@pytest.mark.parametrize(("text", "what"), [("- a\n- b\n", "a list"), ("just text\n", "a string")])
def test_top_level_not_a_mapping(tmp_path: Path, text: str, what: str) -> None:
    err = error_for(write(tmp_path, "demo.yaml", text))
    assert str(err).endswith(f"top level must be a mapping of scenario fields, got {what}")


def test_missing_schema_version(tmp_path: Path) -> None:
    text = VALID_YAML.replace("schema_version: 1\n", "")
    path = write(tmp_path, "demo.yaml", text)
    err = error_for(path)
    assert err.field == "schema_version"
    assert err.line == line_of(text, "name: demo")
    assert "supported versions: 1" in str(err)


@pytest.mark.parametrize("version", ["2", "'1'", "true", "0"])
def test_unsupported_schema_version(tmp_path: Path, version: str) -> None:
    text = VALID_YAML.replace("schema_version: 1", f"schema_version: {version}")
    path = write(tmp_path, "demo.yaml", text)
    err = error_for(path)
    assert str(err).startswith(f"{path}:2: schema_version: unsupported schema version")
    assert "(supported versions: 1)" in str(err)


# --------------------------------------------------------------------------- validation errors


def test_out_of_range_number_points_at_its_line(tmp_path: Path) -> None:
    text = VALID_YAML.replace("occurrence: 1", "occurrence: 0")
    path = write(tmp_path, "demo.yaml", text)
    err = error_for(path)
    expected = (
        f"{path}:{line_of(text, 'occurrence')}: plans[0].faults[0].at.occurrence: "
        "Input should be greater than or equal to 1 (got 0)"
    )
    assert str(err) == expected
    assert err.field == "plans[0].faults[0].at.occurrence"


def test_several_errors_are_all_reported_sorted_by_line(tmp_path: Path) -> None:
    text = (
        VALID_YAML.replace("seconds: 0.5", "seconds: slow")
        .replace("engines: [prefect, dbos]", "engines: [prefect, airflow]")
        .replace("phase: after", "phase: later")
    )
    path = write(tmp_path, "demo.yaml", text)
    err = error_for(path)
    lines = str(err).splitlines()
    assert len(lines) == 3
    numbers = [int(line[len(str(path)) + 1 :].split(":", 1)[0]) for line in lines]
    assert numbers == sorted(numbers)
    assert numbers == [line_of(text, "airflow"), line_of(text, "slow"), line_of(text, "later")]
    assert "engines[1]" in lines[0]
    assert "plans[0].faults[1].seconds" in lines[1] and "(got 'slow')" in lines[1]
    assert "plans[1].faults[0].at.phase" in lines[2]
    assert err.line == numbers[0]


def test_unknown_key_points_at_the_key(tmp_path: Path) -> None:
    text = VALID_YAML.replace("        seconds: 0.5", "        seconds: 0.5\n        secnds: 1")
    err = error_for(write(tmp_path, "demo.yaml", text))
    assert err.line == line_of(text, "secnds")
    assert err.field == "plans[0].faults[1].secnds"
    assert "unknown field 'secnds'; did you mean 'seconds'?" in err.message


def test_unknown_top_level_key(tmp_path: Path) -> None:
    text = VALID_YAML + "max_resume: 4\n"
    err = error_for(write(tmp_path, "demo.yaml", text))
    assert err.line == line_of(text, "max_resume")
    assert "did you mean 'max_resumes'?" in err.message


def test_missing_field_uses_the_parent_line(tmp_path: Path) -> None:
    text = VALID_YAML.replace("        seconds: 0.5\n", "")
    err = error_for(write(tmp_path, "demo.yaml", text))
    assert err.field == "plans[0].faults[1].seconds"
    assert err.line == line_of(text, "kind: latency")
    assert err.message == "required field is missing"


def test_missing_top_level_field(tmp_path: Path) -> None:
    text = VALID_YAML.replace("name: demo\n", "")
    err = error_for(write(tmp_path, "demo.yaml", text))
    assert err.field == "name"
    assert err.line == line_of(text, "schema_version")


def test_unknown_fault_kind(tmp_path: Path) -> None:
    text = VALID_YAML.replace("kind: kill", "kind: explode")
    err = error_for(write(tmp_path, "demo.yaml", text))
    assert err.field == "plans[1].faults[0].kind"
    assert err.line == line_of(text, "explode")
    assert "unknown kind 'explode'" in err.message and "'timeout'" in err.message


def test_fault_without_kind(tmp_path: Path) -> None:
    text = VALID_YAML.replace("      - kind: latency\n        seconds", "      - seconds")
    err = error_for(write(tmp_path, "demo.yaml", text))
    assert err.field == "plans[0].faults[1].kind"
    assert err.line == line_of(text, "seconds: 0.5")


def test_bad_import_path(tmp_path: Path) -> None:
    text = VALID_YAML.replace("agent: pkg.agents:agent", "agent: pkg/agents.py")
    err = error_for(write(tmp_path, "demo.yaml", text))
    assert err.field == "agent"
    assert err.line == line_of(text, "agent:")
    assert "import path like 'package.module:attribute'" in err.message


def test_duplicate_plan_names_point_at_the_repeat(tmp_path: Path) -> None:
    text = VALID_YAML.replace("name: kill", "name: timeouts")
    err = error_for(write(tmp_path, "demo.yaml", text))
    assert err.field == "plans[1].name"
    assert err.line == line_of(text, "name: timeouts", nth=2)
    assert "plan names must be unique" in err.message


def test_model_level_error_names_the_field(tmp_path: Path) -> None:
    text = VALID_YAML.replace("prompt: What is the weather?\n", "")
    err = error_for(write(tmp_path, "demo.yaml", text))
    assert err.field == "agent"
    assert "needs a 'prompt'" in err.message


def test_model_level_error_without_field(tmp_path: Path) -> None:
    text = VALID_YAML.replace("agent: pkg.agents:agent\n", "")
    path = write(tmp_path, "demo.yaml", text)
    err = error_for(path)
    assert err.field is None
    assert str(err).startswith(f"{path}:2: give exactly one target")


def test_toml_validation_error_lines(tmp_path: Path) -> None:
    text = VALID_TOML.replace("status = 503", "status = 200").replace(
        "at.occurrence = 2", "at.occurrence = 0"
    )
    path = write(tmp_path, "demo.toml", text)
    err = error_for(path)
    lines = str(err).splitlines()
    assert lines == [
        f"{path}:{line_of(text, 'status')}: plans[1].faults[0].status: "
        "Input should be greater than or equal to 400 (got 200)",
        f"{path}:{line_of(text, 'at.occurrence')}: plans[1].faults[1].at.occurrence: "
        "Input should be greater than or equal to 1 (got 0)",
    ]


def test_toml_unknown_key_in_second_array_table(tmp_path: Path) -> None:
    text = VALID_TOML.replace('name = "errors"', 'name = "errors"\nretries = 3')
    err = error_for(write(tmp_path, "demo.toml", text))
    assert err.field == "plans[1].retries"
    assert err.line == line_of(text, "retries")


def test_toml_missing_field_uses_table_header(tmp_path: Path) -> None:
    text = VALID_TOML.replace('kind = "tool_error"', 'kind = "latency"')
    err = error_for(write(tmp_path, "demo.toml", text))
    assert err.field == "plans[1].faults[1].seconds"
    assert err.line == line_of(text, "[[plans.faults]]", nth=3)


def test_error_is_picklable(tmp_path: Path) -> None:
    import pickle

    err = error_for(write(tmp_path, "demo.yaml", VALID_YAML.replace("occurrence: 1", "occurrence: 0")))
    copy = pickle.loads(pickle.dumps(err))
    assert str(copy) == str(err)
    assert copy.field == err.field


# ------------------------------------------------------------------------------------ discovery


def test_is_scenario_file(tmp_path: Path) -> None:
    scenario = write(tmp_path, "s/demo.yaml", VALID_YAML)
    cassette = write(tmp_path, "s/cassettes/demo.yaml", VALID_YAML)
    other = write(tmp_path, "s/config.yaml", "key: value\n")
    toml = write(tmp_path, "s/demo.toml", VALID_TOML)
    text = write(tmp_path, "s/notes.txt", "schema_version: 1\n")
    assert is_scenario_file(scenario)
    assert is_scenario_file(toml)
    assert not is_scenario_file(cassette)
    assert not is_scenario_file(other)
    assert not is_scenario_file(text)
    assert not is_scenario_file(tmp_path / "missing.yaml")


def test_directories_expand_recursively_and_skip_cassettes(tmp_path: Path) -> None:
    write(tmp_path, "scenarios/a.yaml", VALID_YAML)
    write(tmp_path, "scenarios/nested/b.toml", VALID_TOML)
    write(tmp_path, "scenarios/nested/c.yml", VALID_YAML.replace("name: demo", "name: other"))
    write(tmp_path, "scenarios/cassettes/demo.yaml", "interactions: []\nschema_version: 1\n")
    write(tmp_path, "scenarios/config.yaml", "key: value\n")
    write(tmp_path, "scenarios/.hidden/d.yaml", VALID_YAML)
    files = discover_scenario_files([tmp_path / "scenarios"])
    assert [f.relative_to(tmp_path).as_posix() for f in files] == [
        "scenarios/a.yaml",
        "scenarios/nested/b.toml",
        "scenarios/nested/c.yml",
    ]
    scenarios = load_scenarios([tmp_path / "scenarios", tmp_path / "scenarios/a.yaml"])
    assert [s.path for s in scenarios] == files


def test_cassettes_in_the_root_path_do_not_hide_scenarios(tmp_path: Path) -> None:
    write(tmp_path, "cassettes/project/a.yaml", VALID_YAML)
    assert len(discover_scenario_files([tmp_path / "cassettes" / "project"])) == 1


def test_files_in_a_shared_folder_are_never_scenarios(tmp_path: Path) -> None:
    write(tmp_path, "scenarios/a.yaml", VALID_YAML)
    write(tmp_path, "scenarios/_shared/b.yaml", VALID_YAML)
    write(tmp_path, "scenarios/_shared/scripts/c.yaml", "conversations: []\n")
    skipped: list[tuple[Path, str]] = []
    files = discover_scenario_files([tmp_path / "scenarios"], skipped)
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["scenarios/a.yaml"]
    assert sorted((p.name, reason) for p, reason in skipped) == [
        ("b.yaml", SHARED_REASON),
        ("c.yaml", SHARED_REASON),
    ]
    assert not is_scenario_file(tmp_path / "scenarios/_shared/b.yaml", root=tmp_path)
    assert is_scenario_file(tmp_path / "scenarios/_shared/b.yaml", root=tmp_path / "scenarios/_shared")


def test_load_scenarios_raises_for_an_invalid_file(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", VALID_YAML)
    bad = write(tmp_path, "b.yaml", VALID_YAML.replace("occurrence: 1", "occurrence: -1"))
    with pytest.raises(ScenarioError) as info:
        load_scenarios([tmp_path])
    assert info.value.path == bad


@pytest.mark.parametrize("where", ["scenario", "plan"])
def test_an_empty_property_list_is_an_error_not_a_trial_that_checks_nothing(
    tmp_path: Path, where: str
) -> None:
    """``expect: {properties: []}`` would pass a run that crashed: it is refused at its line."""
    if where == "scenario":
        text = VALID_YAML + "expect:\n  properties: []\n"
    else:
        text = VALID_YAML.replace("  - name: kill\n", "  - name: kill\n    expect: {properties: []}\n")
    path = write(tmp_path, "demo.yaml", text)
    err = error_for(path)
    assert err.line == line_of(text, "properties: []")
    assert "properties: empty: a trial that checks no property passes whatever happens" in str(err)
