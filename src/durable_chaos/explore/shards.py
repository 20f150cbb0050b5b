"""Shards: one run's trials split over N machines (``pytest --chaos --chaos-shard K/N``), then merged
(``durable-chaos merge``, :mod:`durable_chaos.report.merge`).

Pure functions. A test's id is its pytest node id (the scenario file's path relative to the rootdir,
the scenario, engine and plan or crash point: ``scenarios/a.yaml::agent[dbos-sweep-tool-...]``), the
same on every machine that checks out the project. :func:`split` orders the ids by their SHA-256 (ties
by the id) and deals them round-robin: shard sizes differ by at most one, neighbours (the crash points
of one sweep, the plans of one scenario) spread over the shards, and the deal depends on nothing but
the ids. :func:`fingerprint` names the whole unsplit list, so a merge can tell the shards of one run
from those of another (a different commit, ``-k``, engine selection or sweep).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ENVIRONMENT = "DURABLE_CHAOS_SHARD"
"""Set to ``K/N`` for the session's processes (trial workers too) while a shard runs; the trial runner
names its temp root after it, so engine names derived from trial directories differ between shards."""


class ShardError(ValueError):
    """A shard specification is invalid; the message is one line naming it."""


@dataclass(frozen=True, order=True)
class Shard:
    """Shard ``index`` (1-based) of ``total``."""

    index: int
    total: int

    def __str__(self) -> str:
        return f"{self.index}/{self.total}"

    @property
    def slug(self) -> str:
        """For names (temp directories): ``shard-2-of-4``."""
        return f"shard-{self.index}-of-{self.total}"


def parse_shard(text: object, option: str = "--chaos-shard") -> Shard:
    """``K/N`` with 1 <= K <= N: the shard to run."""
    value = str(text).strip()
    match = re.fullmatch(r"(\d+)\s*/\s*(\d+)", value)
    if match is None:
        raise ShardError(f"{option}: expected K/N (shard K of N, e.g. 1/4), got {value!r}")
    index, total = int(match.group(1)), int(match.group(2))
    if total < 1 or not 1 <= index <= total:
        raise ShardError(
            f"{option}: shard {index} of {total} does not exist: K/N needs 1 <= K <= N (got {value!r})"
        )
    return Shard(index, total)


def _key(test_id: str) -> tuple[str, str]:
    return hashlib.sha256(test_id.encode()).hexdigest(), test_id


def assignment(ids: Sequence[str], total: int) -> dict[str, int]:
    """Each id's shard (1-based) among ``total``: balanced (sizes differ by at most one), deterministic."""
    return {test_id: i % total + 1 for i, test_id in enumerate(sorted(set(ids), key=_key))}


def _known(ids: Sequence[str], durations: Mapping[str, float] | None) -> dict[str, float]:
    return {test_id: durations[test_id] for test_id in sorted(set(ids)) if durations and test_id in durations}


def balanced_assignment(
    ids: Sequence[str], total: int, durations: Mapping[str, float] | None
) -> dict[str, int]:
    """Each id's shard (1-based) among ``total``, balancing the recorded ``durations`` (seconds by id):
    longest first to the least loaded shard; an unrecorded id costs the mean of the recorded ones.
    Deterministic (ties by the ids' hash); the hash deal (:func:`assignment`) when no id is recorded."""
    known = _known(ids, durations)
    if not known:
        return assignment(ids, total)
    default = sum(known.values()) / len(known)
    unique = sorted(set(ids), key=_key)
    cost = {test_id: known.get(test_id, default) for test_id in unique}
    loads, counts = [0.0] * total, [0] * total
    shards: dict[str, int] = {}
    for test_id in sorted(unique, key=lambda i: (-cost[i], _key(i))):
        least = min(range(total), key=lambda k: (loads[k], counts[k], k))
        shards[test_id] = least + 1
        loads[least] += cost[test_id]
        counts[least] += 1
    return shards


def split(ids: Sequence[str], shard: Shard, durations: Mapping[str, float] | None = None) -> list[str]:
    """The ids shard ``shard`` owns, in their given order (balanced by ``durations`` when given)."""
    shards = balanced_assignment(ids, shard.total, durations)
    return [test_id for test_id in ids if shards[test_id] == shard.index]


def split_name(ids: Sequence[str], durations: Mapping[str, float] | None = None) -> str:
    """How :func:`split` deals these ids: ``hash``, or ``durations:<digest>`` of the durations it used
    (equal on every shard that read the same recorded durations)."""
    known = _known(ids, durations)
    if not known:
        return "hash"
    digest = hashlib.sha256(json.dumps(sorted(known.items())).encode()).hexdigest()[:16]
    return f"durations:{digest}"


def _seconds(path: Path, data: object) -> dict[str, float]:
    """A JSON document's durations: a report's ``shard.durations``, or the document itself as a mapping."""
    if isinstance(data, dict) and "trials" in data and "summary" in data:  # a durable-chaos JSON report
        if not isinstance(data.get("shard"), dict):
            raise ShardError(
                f"--chaos-shard-durations: {path}: a JSON report without recorded durations (only a run "
                "with --chaos-shard records them; --chaos-shard 1/1 is a whole run)"
            )
        data = data["shard"].get("durations") or {}
    if not isinstance(data, dict):
        raise ShardError(f"--chaos-shard-durations: {path}: expected a JSON object of test id to seconds")
    seconds: dict[str, float] = {}
    for test_id, value in data.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise ShardError(
                f"--chaos-shard-durations: {path}: {test_id!r}: expected seconds (a number >= 0), "
                f"got {value!r}"
            )
        seconds[str(test_id)] = float(value)
    return seconds


def read_durations(paths: Sequence[str | Path]) -> tuple[dict[str, float], list[str]]:
    """The recorded durations in ``paths`` (later files win for an id) and a note per file that does not
    exist (the first run of a CI has none: those ids get the hash deal). A file that exists but is not
    JSON, or holds no durations, raises :class:`ShardError` naming it."""
    durations: dict[str, float] = {}
    notes: list[str] = []
    for name in paths:
        path = Path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            notes.append(f"--chaos-shard-durations: {path} does not exist (no recorded durations from it)")
            continue
        except OSError as exc:
            raise ShardError(f"--chaos-shard-durations: {path}: cannot be read ({exc.strerror})") from exc
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ShardError(f"--chaos-shard-durations: {path}: not JSON ({exc})") from exc
        durations.update(_seconds(path, data))
    return durations, notes


def fingerprint(ids: Sequence[str]) -> str:
    """A name of the whole unsplit list of ids (order-independent): equal on every shard of one run."""
    digest = hashlib.sha256()
    for test_id in sorted(set(ids)):
        digest.update(test_id.encode() + b"\0")
    return digest.hexdigest()[:16]


__all__ = [
    "ENVIRONMENT",
    "Shard",
    "ShardError",
    "assignment",
    "balanced_assignment",
    "fingerprint",
    "parse_shard",
    "read_durations",
    "split",
    "split_name",
]
