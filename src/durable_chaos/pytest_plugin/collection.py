"""What pytest did not collect as scenarios, said out loud.

Two kinds of files: a YAML/TOML file that looks like a scenario but is not one (a misspelled
``schema_version``, or scenario fields without it), found as pytest offers each file to the plugin; and,
under ``--chaos``, scenario files below a directory the user named that pytest never offered
(``norecursedirs``, ``--ignore``, hidden directories). Each is one line naming the file (and line).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from durable_chaos.scenario.discover import SCHEMA_KEY, near_miss, scenario_skip_reason
from durable_chaos.scenario.errors import ScenarioError
from durable_chaos.scenario.files.document import SCENARIO_SUFFIXES
from durable_chaos.scenario.files.parse import parse_document
from durable_chaos.scenario.model import ScenarioBase

FIELDS = frozenset(ScenarioBase.model_fields) - {SCHEMA_KEY, "name", "description"}
"""Top-level keys that only a scenario has together (agent, plans, engines, cassette, ...)."""
SKIPPED_DIRECTORIES = frozenset({".git", "__pycache__", "node_modules", "cassettes"})


def looks_like_scenario(path: Path, shown: Path | str | None = None) -> str | None:
    """Why ``path``, which is no scenario file (no top-level ``schema_version``), looks like one meant
    to be, as ``path:line: message`` (``shown``: the path to print); None when it does not (or is a
    scenario file)."""
    if path.suffix.lower() not in SCENARIO_SUFFIXES:
        return None
    try:
        document = parse_document(path)
    except ScenarioError:
        return None
    data = document.data
    path = Path(shown) if shown is not None else path
    if not isinstance(data, dict) or SCHEMA_KEY in data:
        return None
    fields = sorted(FIELDS & {key for key in data if isinstance(key, str)})
    misspelled = near_miss(data)
    if misspelled is not None and fields:
        line = document.line_of((misspelled,))
        return (
            f"{path}:{line}: {misspelled!r} is probably a misspelling of {SCHEMA_KEY!r}: without it this "
            f"scenario (it has {', '.join(fields)}) is not collected and never runs; write `{SCHEMA_KEY}: 1`"
        )
    if len(fields) >= 3 and {"plans", "engines"} & set(fields) and {"agent", "entry"} & set(fields):
        return (
            f"{path}:{document.line_of(())}: has scenario fields ({', '.join(fields)}) but no top-level "
            f"{SCHEMA_KEY}, so it is not collected and never runs; add `{SCHEMA_KEY}: 1`"
        )
    return None


def scenario_files_below(root: Path) -> Iterator[Path]:
    """Every scenario file below ``root``, hidden directories included (but not version control,
    caches, virtual environments or ``cassettes`` directories)."""
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = sorted(
            name
            for name in subdirectories
            if name not in SKIPPED_DIRECTORIES and not (Path(directory) / name / "pyvenv.cfg").exists()
        )
        for name in sorted(files):
            path = Path(directory) / name
            if path.suffix.lower() in SCENARIO_SUFFIXES and scenario_skip_reason(path, root) is None:
                yield path


def not_collected(
    explicit: Iterable[Path], collected: set[str], show: Callable[[Path], str] = str
) -> list[str]:
    """Scenario files below the directories the user named that pytest did not collect, one line each
    (``show``: how to print a path)."""
    lines = []
    seen: set[str] = set()
    for root in explicit:
        if not root.is_dir():
            continue
        for path in scenario_files_below(root):
            key = os.path.realpath(path)
            if key in collected or key in seen:
                continue
            seen.add(key)
            lines.append(
                f"{show(path)}: a scenario file pytest did not collect (it is below a directory pytest "
                "skips: norecursedirs, --ignore or a hidden one); pass it to pytest explicitly to run it"
            )
    return lines


__all__ = ["looks_like_scenario", "not_collected", "scenario_files_below"]
