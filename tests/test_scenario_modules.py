"""Two scenario folders of one session with a module of the same name (each example's
``data_analyst_core.py``): the harness's process imports each folder's own, as its workers do, whichever
folder came first. Else the golden run in process and the ``effects`` functions of the second folder
would use the first one's code and state (a billing ledger elsewhere: no effect observed)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from durable_chaos.infra.engines.base import import_object
from durable_chaos.scenario.read import load_scenario

CORE = "durable_chaos_probe_core"
AGENT = "durable_chaos_probe_agent"


@pytest.fixture
def folders(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    made = []
    for name in ("first", "second"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / f"{CORE}.py").write_text(f"WHERE = {name!r}\n\ndef effects() -> int:\n    return 0\n")
        (folder / f"{AGENT}.py").write_text(f"from {CORE} import WHERE\n")
        made.append(folder)
    path = list(sys.path)
    try:
        yield made[0], made[1]
    finally:
        sys.path[:] = path
        for module in (CORE, AGENT):
            sys.modules.pop(module, None)


def test_each_folder_imports_its_own_module_of_a_shared_name(folders: tuple[Path, Path]) -> None:
    first, second = folders
    assert import_object(f"{AGENT}:WHERE", first) == "first"
    assert import_object(f"{CORE}:WHERE", second) == "second"  # not the first folder's, cached
    assert import_object(f"{AGENT}:WHERE", first) == "first"
    assert import_object(f"{CORE}:WHERE", first) == "first"


def test_loading_a_scenario_imports_its_effects_function_from_its_own_folder(
    folders: tuple[Path, Path],
) -> None:
    first, second = folders
    assert import_object(f"{CORE}:WHERE", first) == "first"
    (second / "scenario.yaml").write_text(
        "schema_version: 1\n"
        "name: second\n"
        f"agent: {AGENT}:agent\n"
        "prompt: hi\n"
        "cassette: cassette.yaml\n"
        "engines: [dbos]\n"
        f"side_effecting_tools: [{{name: bill, effects: '{CORE}:effects'}}]\n"
        "plans: [{name: none, faults: []}]\n"
    )
    load_scenario(second / "scenario.yaml")
    assert sys.modules[CORE].WHERE == "second"


def test_an_installed_module_is_never_shadowed_in_the_harness_process(tmp_path: Path) -> None:
    (tmp_path / "json.py").write_text("WHERE = 'scenario'\n")
    path = list(sys.path)
    try:
        assert import_object("json:dumps", tmp_path)({}) == "{}"
    finally:
        sys.path[:] = path


def test_a_folder_imports_the_modules_of_its_shared_sibling_after_its_own(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    first, second = folders
    shared = tmp_path / "_shared"
    shared.mkdir()
    (shared / f"{CORE}.py").write_text("WHERE = 'shared'\n\ndef effects() -> int:\n    return 0\n")
    (shared / f"{AGENT}_shared.py").write_text(f"from {CORE} import WHERE\n")
    (first / f"{CORE}.py").unlink()
    try:
        assert import_object(f"{AGENT}_shared:WHERE", first) == "shared"  # the core from _shared
        assert import_object(f"{CORE}:WHERE", second) == "second"  # the folder's own wins over _shared's
        assert import_object(f"{CORE}:WHERE", first) == "shared"  # and again the shared one
        assert sys.path.index(str(first)) < sys.path.index(str(shared))
        (first / "scenario.yaml").write_text(
            "schema_version: 1\n"
            "name: first\n"
            f"agent: {AGENT}_shared:agent\n"
            "prompt: hi\n"
            "cassette: ../_shared/cassettes/first.yaml\n"
            "engines: [dbos]\n"
            f"side_effecting_tools: [{{name: bill, effects: '{CORE}:effects'}}]\n"
            "plans: [{name: none, faults: []}]\n"
        )
        sys.modules.pop(CORE, None)
        scenario = load_scenario(first / "scenario.yaml")  # its effects function imports from _shared
        assert sys.modules[CORE].WHERE == "shared"
        assert scenario.resolve(scenario.cassette or "") == first / "../_shared/cassettes/first.yaml"
    finally:
        sys.modules.pop(f"{AGENT}_shared", None)
