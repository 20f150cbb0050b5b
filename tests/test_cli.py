"""The durable-chaos command line, run in-process (plus one real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from durable_chaos.cli import COMMANDS, main

VALID = """\
schema_version: 1
name: demo
agent: pkg.agents:agent
prompt: hi
cassette: cassettes/demo.yaml
engines: [prefect, dbos]
plans:
  - name: one
    faults: [{kind: timeout}]
  - name: two
"""
INVALID = VALID.replace("kind: timeout", "kind: timeout, at: {occurrence: 0}")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "scenarios" / "cassettes").mkdir(parents=True)
    (tmp_path / "scenarios" / "good.yaml").write_text(VALID)
    (tmp_path / "scenarios" / "cassettes" / "demo.yaml").write_text("interactions: []\n")
    return tmp_path


def test_validate_valid_directory(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--no-import", str(project / "scenarios")]) == 0
    out, err = capsys.readouterr()
    assert out == (
        "skip 1 file(s) in 'cassettes' directories\n"
        f"ok   {project / 'scenarios' / 'good.yaml'} (2 plans, engines: prefect, dbos)\n"
    )
    assert err == ""


def test_validate_reports_invalid_files(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = project / "scenarios" / "bad.yaml"
    bad.write_text(INVALID)
    assert main(["validate", "--no-import", str(project / "scenarios")]) == 2
    out, err = capsys.readouterr()
    assert f"ok   {project / 'scenarios' / 'good.yaml'}" in out
    assert (
        f"{bad}:9: plans[0].faults[0].at.occurrence: Input should be greater than or equal to 1 (got 0)"
        in err
    )
    assert "1 of 2 scenario file(s) invalid" in err
    assert "Traceback" not in err


def test_validate_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--no-import", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: file not found" in capsys.readouterr().err


def test_validate_no_scenarios_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "config.yaml").write_text("key: value\n")
    assert main(["validate", "--no-import", str(tmp_path)]) == 2
    assert "no scenario files found" in capsys.readouterr().err


def test_schema_prints_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    out = capsys.readouterr().out
    schema = json.loads(out)
    assert "schema_version" in schema["properties"]
    assert out.startswith("{\n  ")


def test_usage_errors_return_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["validate"]) == 2
    assert main(["frobnicate"]) == 2
    assert main(["--help"]) == 0
    assert "validate" in capsys.readouterr().out


def test_commands_registry() -> None:
    assert {"validate", "schema"} <= set(COMMANDS)


def test_python_dash_m_validate_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(INVALID)
    result = subprocess.run(
        [sys.executable, "-m", "durable_chaos", "validate", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{bad}:9: plans[0].faults[0].at.occurrence" in result.stderr
