"""Which files are scenario files, and finding them below directories (never raises)."""

from __future__ import annotations

import contextlib
import difflib
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from durable_chaos.infra.engines.base import SHARED_FOLDER
from durable_chaos.scenario.errors import ScenarioError
from durable_chaos.scenario.files.document import SCENARIO_SUFFIXES
from durable_chaos.scenario.files.limits import MAX_FILE_BYTES
from durable_chaos.scenario.files.parse import parse
from durable_chaos.scenario.files.safe_read import read_limited

__all__ = [
    "CASSETTES_REASON",
    "SHARED_REASON",
    "discover_scenario_files",
    "is_scenario_file",
    "near_miss",
    "scenario_skip_reason",
]

SCHEMA_KEY = "schema_version"
NEAR_MISS_CUTOFF = 0.75
"""How close (difflib's ratio) a top-level key must be to ``schema_version`` to be taken for it."""
CASSETTES_REASON = "in a 'cassettes' directory"
SHARED_REASON = f"in a {SHARED_FOLDER!r} directory: code and cassettes that scenario folders share"
_SCHEMA_KEY = re.compile(r"""(?:^|[\s{,])["']?schema_version["']?\s*[:=]""", re.MULTILINE)


def near_miss(keys: Iterable[object]) -> str | None:
    """The top-level key that is probably a misspelled ``schema_version``, if any."""
    names = [key for key in keys if isinstance(key, str) and key != SCHEMA_KEY]
    found = difflib.get_close_matches(SCHEMA_KEY, names, n=1, cutoff=NEAR_MISS_CUTOFF)
    if not found:
        lowered = {name.lower().replace("-", "_"): name for name in names}
        found = difflib.get_close_matches(SCHEMA_KEY, list(lowered), n=1, cutoff=NEAR_MISS_CUTOFF)
        found = [lowered[found[0]]] if found else []
    return found[0] if found else None


def scenario_skip_reason(path: Path | str, root: Path | str | None = None) -> str | None:
    """Why ``path`` is not a scenario file, or None when it is one (or a broken one to report).

    A scenario file has a scenario suffix, is not in a directory named ``cassettes`` or ``_shared``
    (:data:`~durable_chaos.infra.engines.base.SHARED_FOLDER`; only the parts
    below ``root`` are checked when given), is a regular file, and parses to a mapping with a
    top-level ``schema_version`` key. A file that does not parse counts as a scenario (so its errors
    are reported) when its text has a ``schema_version`` key anywhere. Every file that
    :func:`load_scenario` accepts is a scenario file by this rule; this never raises and never
    opens anything but a regular file.
    """
    path = Path(path)
    if path.suffix.lower() not in SCENARIO_SUFFIXES:
        return "not a .yaml, .yml or .toml file"
    parents = path.parent.parts
    if root is not None:
        with contextlib.suppress(ValueError):
            parents = path.parent.relative_to(root).parts
    if "cassettes" in parents:
        return CASSETTES_REASON
    if SHARED_FOLDER in parents:
        return SHARED_REASON
    try:
        head = read_limited(path, MAX_FILE_BYTES + 1)
    except ScenarioError as exc:
        return exc.message
    except Exception as exc:  # noqa: BLE001 - discovery never raises
        return f"cannot read: {exc}"
    text = head.decode("utf-8-sig", errors="replace")
    mentions = _SCHEMA_KEY.search(text) is not None
    if len(head) > MAX_FILE_BYTES:
        return None if mentions else f"larger than {MAX_FILE_BYTES // 1024} KiB and no schema_version key"
    try:
        document = parse(path, text)
    except ScenarioError:
        return None if mentions else "not a scenario: does not parse and has no schema_version key"
    except Exception:  # noqa: BLE001 - discovery never raises
        return None if mentions else "not a scenario: does not parse and has no schema_version key"
    return None if "schema_version" in document.data else "no top-level schema_version"


def is_scenario_file(path: Path | str, root: Path | str | None = None) -> bool:
    """Whether ``path`` is a scenario file (see :func:`scenario_skip_reason`)."""
    return scenario_skip_reason(path, root) is None


def _walk_dir(root: Path, skipped: list[tuple[Path, str]] | None = None) -> Iterator[Path]:
    """Scenario files under ``root``, sorted, skipping hidden and cache directories.

    Files with a scenario suffix that are not scenarios go to ``skipped`` with the reason.
    """
    try:
        candidates = sorted(root.rglob("*"))
    except OSError as exc:
        if skipped is not None:
            skipped.append((root, f"cannot list directory: {exc.strerror or exc}"))
        return
    for candidate in candidates:
        relative = candidate.relative_to(root).parts
        if any(part.startswith(".") or part == "__pycache__" for part in relative[:-1]):
            continue
        if candidate.suffix.lower() not in SCENARIO_SUFFIXES:
            continue
        with contextlib.suppress(OSError):
            if candidate.is_dir():
                continue
        reason = scenario_skip_reason(candidate, root=root)
        if reason is None:
            yield candidate
        elif skipped is not None:
            skipped.append((candidate, reason))


def discover_scenario_files(
    paths: Iterable[Path | str], skipped: list[tuple[Path, str]] | None = None
) -> list[Path]:
    """Expand directories recursively into scenario files; files given explicitly are kept as is.

    ``skipped`` (optional) receives ``(path, reason)`` for each file with a scenario suffix found in
    a directory that is not a scenario file. Never raises.
    """
    found: list[Path] = []
    seen: set[str] = set()
    for raw in paths:
        path = Path(raw)
        try:
            is_dir = path.is_dir()
        except OSError:
            is_dir = False
        candidates = _walk_dir(path, skipped) if is_dir else iter([path])
        for candidate in candidates:
            key = os.path.realpath(candidate)  # never raises on symlink loops, unlike Path.resolve
            if key not in seen:
                seen.add(key)
                found.append(candidate)
    return found
