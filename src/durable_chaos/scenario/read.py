"""Load scenario files (YAML or TOML) and report every problem as ``path:line: field: message``.

Loading is: read the file safely (:mod:`~durable_chaos.scenario.files.safe_read`), parse it by its type
(:mod:`~durable_chaos.scenario.files.parse`) within the limits (:mod:`~durable_chaos.scenario.files.limits`),
check its schema version, validate it (:mod:`~durable_chaos.scenario.model`), and turn every problem
into a :class:`~durable_chaos.scenario.errors.ScenarioError` with lines
(:mod:`~durable_chaos.scenario.validation_issues`, :mod:`~durable_chaos.scenario.files.lines`). Which files
are scenario files is :mod:`~durable_chaos.scenario.discover`.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from pydantic import ValidationError

from durable_chaos.scenario.discover import discover_scenario_files, near_miss
from durable_chaos.scenario.errors import ScenarioError, got, safe_str
from durable_chaos.scenario.files.document import SCENARIO_SUFFIXES, Document
from durable_chaos.scenario.files.parse import parse
from durable_chaos.scenario.files.safe_read import read_text
from durable_chaos.scenario.model import SCHEMA_VERSION, Scenario
from durable_chaos.scenario.validation_issues import issue

__all__ = ["SUPPORTED_SCHEMA_VERSIONS", "load_scenario", "load_scenarios"]

SUPPORTED_SCHEMA_VERSIONS: tuple[int, ...] = (SCHEMA_VERSION,)


def load_scenarios(paths: Iterable[Path | str]) -> list[Scenario]:
    """Load every scenario file in ``paths`` (directories expanded); raises the first ScenarioError.

    Use :func:`discover_scenario_files` and :func:`load_scenario` to collect errors per file.
    """
    return [load_scenario(path) for path in discover_scenario_files(paths)]


def load_scenario(path: Path | str) -> Scenario:
    """Read, parse and validate one scenario file (``.yaml``, ``.yml`` or ``.toml``).

    Raises :class:`ScenarioError` and nothing else, whatever the file holds.
    """
    path = Path(path)
    try:
        return _load(path)
    except ScenarioError:
        raise
    except RecursionError:
        raise ScenarioError(path, "document is nested too deeply", line=1) from None
    except Exception as exc:  # noqa: BLE001 - the last line of defence: a verdict, never a traceback
        raise ScenarioError(
            path, f"cannot load scenario ({type(exc).__name__}: {safe_str(exc)})", line=1
        ) from None


def _load(path: Path) -> Scenario:
    suffix = path.suffix.lower()
    if suffix not in SCENARIO_SUFFIXES:
        if not os.path.lexists(path):
            raise ScenarioError(path, "file not found")
        raise ScenarioError(
            path, f"unsupported file type {suffix or '(none)'!r}; scenario files are .yaml, .yml or .toml"
        )
    text = read_text(path)
    document = parse(path, text)
    _check_schema_version(path, document)
    try:
        with _importable(path.parent):
            scenario = Scenario.model_validate(document.data)
    except ValidationError as exc:
        raise ScenarioError(path, issues=[issue(document, error) for error in exc.errors()]) from None
    scenario = scenario.located(path, line_of=document.line_of)
    _check_paths(path, document, scenario)
    return scenario


@contextlib.contextmanager
def _importable(directory: Path) -> Iterator[None]:
    """Modules next to the scenario file (and in its shared folder) importable while it is validated
    (``tool_error`` exception classes may live there, as the target does)."""
    from durable_chaos.infra.engines.base import make_importable, shared_folder

    entry = str(directory.absolute())
    shared = shared_folder(Path(entry))
    entries = [entry] if shared is None else [entry, str(shared)]
    added = [item for item in entries if item not in sys.path]
    make_importable(Path(entry))  # its own modules, not same-named ones of another scenario's folder
    try:
        yield
    finally:
        for item in added:
            with contextlib.suppress(ValueError):
                sys.path.remove(item)


def _check_paths(path: Path, document: Document, scenario: Scenario) -> None:
    """Checks that need the file's location: the cassette must not be a directory."""
    if scenario.cassette is None:
        return
    target = scenario.resolve(scenario.cassette)
    with contextlib.suppress(OSError):
        if target.is_dir():
            raise ScenarioError(
                path,
                f"{scenario.cassette!r} is a directory; give the cassette file, "
                f"e.g. 'cassettes/{scenario.name}.yaml'",
                line=document.line_of(("cassette",)),
                field="cassette",
            )


def _check_schema_version(path: Path, document: Document) -> None:
    """Reject files without a supported ``schema_version`` before validating anything else."""
    supported = ", ".join(str(v) for v in SUPPORTED_SCHEMA_VERSIONS)
    if "schema_version" not in document.data:
        misspelled = near_miss(document.data)
        hint = f" ({misspelled!r} is probably a misspelling of it)" if misspelled else ""
        raise ScenarioError(
            path,
            f"missing{hint}; every scenario file declares its schema version "
            f"(supported versions: {supported})",
            line=document.line_of((misspelled,) if misspelled else ()),
            field="schema_version",
        )
    version = document.data["schema_version"]
    if type(version) is not int or version not in SUPPORTED_SCHEMA_VERSIONS:
        raise ScenarioError(
            path,
            f"unsupported schema version {got(version)} (supported versions: {supported})",
            line=document.line_of(("schema_version",)),
            field="schema_version",
        )
