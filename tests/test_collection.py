"""Files that look like scenarios but are not collected, and what a --chaos session's collection adds
to its outcome: named, never silent."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_chaos.cli import main
from durable_chaos.pytest_plugin.collection import looks_like_scenario, not_collected
from durable_chaos.report.gate import collection_outcome
from durable_chaos.scenario.discover import near_miss

SCENARIO = """\
schema_version: 1
name: demo
agent: pkg.agents:agent
prompt: What is the weather?
engines: [prefect]
cassette: cassettes/demo.yaml
plans:
  - name: kill
    faults:
      - kind: kill
"""


@pytest.mark.parametrize("key", ["schema_verison", "schema_versions", "schemaVersion", "Schema-Version"])
def test_a_misspelled_schema_version_is_recognised(key: str) -> None:
    assert near_miss(["name", key, "plans"]) == key


@pytest.mark.parametrize("key", ["schema", "version", "name", "schema_version"])
def test_other_keys_are_no_misspelling(key: str) -> None:
    assert near_miss([key, "plans"]) is None


def test_a_misspelled_scenario_is_named_at_the_key(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text("# a scenario\n" + SCENARIO.replace("schema_version", "schema_verison"))
    found = looks_like_scenario(path)
    assert found is not None and found.startswith(f"{path}:2: 'schema_verison' is probably a misspelling")
    toml = tmp_path / "demo.toml"
    toml.write_text('name = "x"\nschema-version = 1\nengines = ["prefect"]\n')
    assert (looks_like_scenario(toml) or "").startswith(f"{toml}:2: 'schema-version'")


def test_scenario_fields_without_schema_version_are_named(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(SCENARIO.replace("schema_version: 1\n", ""))
    assert "has scenario fields (agent, cassette, engines, plans, prompt) but no top-level" in (
        looks_like_scenario(path) or ""
    )


@pytest.mark.parametrize(
    "text",
    [
        "name: ci\non: [push]\njobs: {test: {runs-on: ubuntu-latest}}\n",  # a workflow
        "version: '3'\nservices: {db: {image: postgres}}\n",  # docker compose
        "agent: x\nprompt: y\n",  # two scenario-ish keys are not enough
        "- a list\n",
        "schema_version: 1\nname: demo\n",  # a (broken) scenario file: collected, not a look-alike
        ": not yaml [",
    ],
)
def test_other_files_do_not_look_like_scenarios(tmp_path: Path, text: str) -> None:
    path = tmp_path / "other.yaml"
    path.write_text(text)
    assert looks_like_scenario(path) is None


def test_validate_reports_a_misspelled_scenario_in_a_directory_as_invalid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "good.yaml").write_text(SCENARIO)
    (tmp_path / "typo.yaml").write_text(SCENARIO.replace("schema_version", "schema_verison"))
    assert main(["validate", "--no-import", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'typo.yaml'}:1: 'schema_verison' is probably a misspelling" in err
    assert "1 of 2 scenario file(s) invalid" in err


def test_scenario_files_pytest_did_not_offer_are_listed(tmp_path: Path) -> None:
    for folder in ("", ".hidden", "build", "cassettes"):
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / "demo.yaml").write_text(SCENARIO)
    collected = {str((tmp_path / "demo.yaml").resolve())}
    lines = not_collected([tmp_path], collected)
    assert [line.split(":")[0] for line in lines] == [
        str(tmp_path / ".hidden" / "demo.yaml"),
        str(tmp_path / "build" / "demo.yaml"),
    ]


def test_collection_outcome() -> None:
    assert collection_outcome(3, 1, [], []).exit_code == 0
    nothing = collection_outcome(0, 0, [], [])
    assert nothing.exit_code == 2 and "no chaos trial ran" in nothing.messages[0]
    typo = collection_outcome(2, 1, ["x.yaml:1: 'schema_verison' ..."], ["b/y.yaml: ..."])
    assert typo.exit_code == 2 and typo.messages == ["INVALID x.yaml:1: 'schema_verison' ..."]
    assert typo.notes == ["not collected: b/y.yaml: ..."]
    assert collection_outcome(1, 1, [], ["b/y.yaml: ..."]).exit_code == 0  # skipped on purpose, maybe
