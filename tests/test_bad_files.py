"""Every file gets a verdict: bad values, huge numbers, links, devices, pipes, bombs and duplicate keys
become ``file:line: field: message`` errors (exit 2), never a traceback or a hang; discovery finds
every file that validation accepts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from durable_chaos.cli import main
from durable_chaos.scenario.discover import discover_scenario_files, is_scenario_file, scenario_skip_reason
from durable_chaos.scenario.errors import ScenarioError
from durable_chaos.scenario.files.limits import MAX_FILE_BYTES
from durable_chaos.scenario.read import load_scenario

BASE = """\
schema_version: 1
name: demo
agent: pkg.agents:agent
prompt: hi
engines: [prefect]
cassette: cassettes/demo.yaml
plans:
  - name: one
"""
BASE_TOML = """\
schema_version = 1
name = "demo"
agent = "pkg.agents:agent"
prompt = "hi"
engines = ["prefect"]
cassette = "cassettes/demo.yaml"

[[plans]]
name = "one"
"""


def error_for(path: Path) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert "Traceback" not in str(info.value)
    return info.value


def with_line(text: str, line: str) -> str:
    return text.replace("prompt: hi\n", f"prompt: hi\n{line}\n")


# --------------------------------------------------------------------------------- unconvertible values


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2024-02-30", "'2024-02-30' is not a valid timestamp: day is out of range for month"),
        ("2024-13-45", "'2024-13-45' is not a valid timestamp: month must be in 1..12"),
        ("!!int abc", "'abc' is not a valid int"),
        ("!!float xyz", "'xyz' is not a valid float"),
        ("!!bool maybe", "'maybe' is not a valid bool"),
        ("!!timestamp yesterday", "'yesterday' is not a valid timestamp"),
    ],
)
def test_values_pyyaml_cannot_convert(tmp_path: Path, value: str, message: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(with_line(BASE, f"description: {value}"))
    err = error_for(path)
    assert str(err).startswith(f"{path}:5: description: YAML value error: {message}")


def test_huge_integer_yaml(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(with_line(BASE, "max_resumes: " + "9" * 5000))
    assert str(error_for(path)) == (
        f"{path}:5: max_resumes: YAML value error: an integer with more than 4300 digits is refused"
    )


def test_huge_integer_toml(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(BASE_TOML.replace('prompt = "hi"\n', 'prompt = "hi"\nmax_resumes = ' + "9" * 5000 + "\n"))
    assert (
        str(error_for(path))
        == f"{path}:5: TOML value error: an integer with more than 4300 digits is refused"
    )


def test_huge_hex_integer_is_reported_without_printing_it(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(with_line(BASE, "max_resumes: 0x" + "f" * 20000))
    assert "max_resumes: Input should be less than or equal to 100 (got <an integer of 80000 bits>)" in str(
        error_for(path)
    )


# ------------------------------------------------------------------------------ files that are not files


def test_symlink_loop(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").symlink_to(tmp_path / "b.yaml")
    (tmp_path / "b.yaml").symlink_to(tmp_path / "a.yaml")
    assert error_for(tmp_path / "a.yaml").message == "symbolic link loop; cannot read the file"
    assert scenario_skip_reason(tmp_path / "a.yaml") == "symbolic link loop; cannot read the file"
    assert discover_scenario_files([tmp_path]) == []


def test_dev_zero_is_refused_without_reading(tmp_path: Path) -> None:
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    assert "is a character device, not a regular file" in error_for(tmp_path / "zero.yaml").message


def test_file_over_the_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(BASE + "#" * (MAX_FILE_BYTES + 10))
    assert error_for(path).message.startswith("file is larger than 1024 KiB")
    assert is_scenario_file(path)  # reported, not skipped: it says schema_version


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs mkfifo")
def test_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    good = tmp_path / "good.yaml"
    good.write_text(BASE)
    result = subprocess.run(
        [sys.executable, "-m", "durable_chaos", "validate", "--no-import", str(fifo), str(good)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"{fifo}: is a named pipe (FIFO), not a regular file" in result.stderr
    assert f"ok   {good}" in result.stdout
    assert scenario_skip_reason(fifo) is not None
    assert discover_scenario_files([tmp_path]) == [good]


# ------------------------------------------------------------------------------------- limits and keys


ALIAS_BOMB = """\
schema_version: 1
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(ALIAS_BOMB)
    assert len(ALIAS_BOMB) < 700
    start = time.monotonic()
    err = error_for(path)
    assert time.monotonic() - start < 2
    assert "alias bomb" in err.message


def test_recursive_alias(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(with_line(BASE, "args: &x {self: *x}"))
    assert "recursive alias" in error_for(path).message


def test_small_aliases_still_work(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        BASE + "  - name: two\n    faults: &f [{kind: timeout}]\n  - name: three\n    faults: *f\n"
    )
    assert len(load_scenario(path).plans) == 3


@pytest.mark.parametrize("suffix", [".yaml", ".toml"])
def test_depth_limit(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"s{suffix}"
    nested = "[" * 100 + "]" * 100
    path.write_text(
        with_line(BASE, f"args: {{x: {nested}}}")
        if suffix == ".yaml"
        else BASE_TOML.replace('prompt = "hi"\n', f'prompt = "hi"\nargs = {{x = {nested}}}\n')
    )
    assert "nested more than 64 levels deep" in error_for(path).message


@pytest.mark.parametrize("suffix", [".yaml", ".toml"])
def test_very_deep_nesting(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"s{suffix}"
    sep = ":" if suffix == ".yaml" else " ="
    path.write_text(f"schema_version{sep} 1\nname{sep} " + "[" * 5000 + "]" * 5000 + "\n")
    assert "nested" in error_for(path).message


def test_duplicate_keys_yaml(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(BASE + "plans: [{name: other}]\n")
    assert str(error_for(path)) == f"{path}:9: plans: YAML value error: duplicate key 'plans'"


def test_duplicate_nested_keys_yaml(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(BASE + "    name: again\n")
    assert str(error_for(path)) == f"{path}:9: plans[0].name: YAML value error: duplicate key 'name'"


def test_duplicate_keys_toml(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(BASE_TOML.replace('prompt = "hi"\n', 'prompt = "hi"\nprompt = "again"\n'))
    assert "TOML syntax error" in error_for(path).message


# ------------------------------------------------------------------------------------ batches and exits


def test_batch_reports_every_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "a.yaml"
    good.write_text(BASE)
    bad_date = tmp_path / "b.yaml"
    bad_date.write_text(with_line(BASE, "description: 2024-13-45"))
    loop = tmp_path / "c.yaml"
    loop.symlink_to(loop)
    zero = tmp_path / "d.yaml"
    zero.symlink_to("/dev/zero")
    bomb = tmp_path / "e.yaml"
    bomb.write_text(ALIAS_BOMB)
    also_good = tmp_path / "f.toml"
    also_good.write_text(BASE_TOML)
    paths = [good, bad_date, loop, zero, bomb, also_good, tmp_path / "missing.yaml"]
    assert main(["validate", "--no-import", *map(str, paths)]) == 2
    out, err = capsys.readouterr()
    assert f"ok   {good}" in out and f"ok   {also_good}" in out
    for path in paths[1:5]:
        assert f"{path}:" in err
    assert "missing.yaml: file not found" in err
    assert "5 of 7 scenario file(s) invalid" in err
    assert "Traceback" not in out + err


# --------------------------------------------------------------------------------------------- discovery

INDENTED = "".join(f"  {line}\n" for line in BASE.splitlines())
JSON_STYLE = (
    '{"schema_version": 1, "name": "demo", "agent": "pkg.agents:agent", "prompt": "hi", '
    '"engines": ["prefect"], "cassette": "cassettes/demo.yaml", "plans": [{"name": "one"}]}\n'
)


def test_discovery_finds_every_file_validate_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {
        "plain.yaml": BASE,
        "json.yaml": JSON_STYLE,
        "indented.yaml": INDENTED,
        "quoted.yaml": BASE.replace("schema_version", '"schema_version"'),
        "quoted.toml": BASE_TOML.replace("schema_version", '"schema_version"'),
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        assert load_scenario(tmp_path / name).name == "demo", name
    (tmp_path / "config.yaml").write_text("key: value\nnested: {schema_version: 1}\n")
    (tmp_path / "broken.yaml").write_text("schema_version: 1\nname: [unclosed\n")
    found = discover_scenario_files([tmp_path])
    assert sorted(p.name for p in found) == sorted([*files, "broken.yaml"])
    assert main(["validate", "--no-import", str(tmp_path)]) == 2  # broken.yaml is reported, not skipped
    out, err = capsys.readouterr()
    assert f"skip {tmp_path / 'config.yaml'} (no top-level schema_version)" in out
    assert out.count("ok   ") == 5
    assert f"{tmp_path / 'broken.yaml'}:" in err


# -------------------------------------------------------------------------------------- cassette paths


@pytest.mark.parametrize(
    ("cassette", "message"),
    [
        ("../../etc/passwd", "leaves the scenario's folder"),
        ("cassettes/../../x.yaml", "leaves the scenario's folder"),
        ("../_shared/../x.yaml", "leaves the scenario's folder"),  # into the shared folder, then out of it
        ("../other/x.yaml", "leaves the scenario's folder"),  # only the sibling named _shared
        ("/etc/passwd", "is absolute"),
        ("", "empty cassette path"),
        ("cassettes/", "is a directory"),
        (".", "is a directory"),
    ],
)
def test_bad_cassette_paths(tmp_path: Path, cassette: str, message: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(BASE.replace("cassettes/demo.yaml", repr(cassette)))
    err = error_for(path)
    assert err.field == "cassette" and err.line == 6
    assert message in err.message


def test_a_cassette_may_be_in_the_shared_folder_beside_the_scenarios_folder(tmp_path: Path) -> None:
    (tmp_path / "_shared" / "cassettes").mkdir(parents=True)
    folder = tmp_path / "project"
    folder.mkdir()
    path = folder / "s.yaml"
    path.write_text(BASE.replace("cassettes/demo.yaml", "../_shared/cassettes/demo.yaml"))
    scenario = load_scenario(path)
    assert scenario.resolve(scenario.cassette or "") == folder / "../_shared/cassettes/demo.yaml"


def test_cassette_that_is_an_existing_directory(tmp_path: Path) -> None:
    (tmp_path / "cassettes" / "demo.yaml").mkdir(parents=True)
    path = tmp_path / "s.yaml"
    path.write_text(BASE)
    err = error_for(path)
    assert (err.field, err.line) == ("cassette", 6)
    assert "is a directory" in err.message


# --------------------------------------------------------------------------------- tool_error exception


@pytest.mark.parametrize(
    ("exception", "message"),
    [
        ("ConectionError", "did you mean 'ConnectionError'?"),
        ("builtins.int", "is not an exception class"),
        ("SystemExit", "stops the process"),
        ("json.JSONDecodeError", "cannot be built from one message string"),
        ("no_such_pkg.Error", "cannot import module 'no_such_pkg'"),
    ],
)
def test_tool_error_exception_is_a_scenario_error(tmp_path: Path, exception: str, message: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        BASE
        + f"    faults:\n      - kind: timeout\n      - kind: tool_error\n        exception: {exception}\n"
    )
    err = error_for(path)
    assert (err.field, err.line) == ("plans[0].faults[1].exception", 12)
    assert message in err.message


def test_tool_error_exception_from_a_module_beside_the_scenario(tmp_path: Path) -> None:
    (tmp_path / "gate_payment_errors.py").write_text("class Declined(Exception):\n    pass\n")
    path = tmp_path / "s.yaml"
    path.write_text(BASE + "    faults: [{kind: tool_error, exception: 'gate_payment_errors:Declined'}]\n")
    assert load_scenario(path).plans[0].faults[0].exception == "gate_payment_errors:Declined"  # type: ignore[union-attr]
    assert str(tmp_path) not in sys.path
