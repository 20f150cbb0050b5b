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
import re
from collections.abc import Sequence
from dataclasses import dataclass

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


def split(ids: Sequence[str], shard: Shard) -> list[str]:
    """The ids shard ``shard`` owns, in their given order."""
    shards = assignment(ids, shard.total)
    return [test_id for test_id in ids if shards[test_id] == shard.index]


def fingerprint(ids: Sequence[str]) -> str:
    """A name of the whole unsplit list of ids (order-independent): equal on every shard of one run."""
    digest = hashlib.sha256()
    for test_id in sorted(set(ids)):
        digest.update(test_id.encode() + b"\0")
    return digest.hexdigest()[:16]


__all__ = ["ENVIRONMENT", "Shard", "ShardError", "assignment", "fingerprint", "parse_shard", "split"]
