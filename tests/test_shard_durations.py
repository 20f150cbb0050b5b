"""Shards balanced by recorded durations (issue 23): ``--chaos-shard K/N --chaos-shard-durations FILE``
deals the longest tests first to the least loaded shard, deterministically; without durations it is the
hash split; each shard's report records its tests' seconds, the merged report all of them; a merge refuses
shards that dealt differently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from durable_chaos.explore.shards import (
    Shard,
    ShardError,
    assignment,
    balanced_assignment,
    read_durations,
    split,
    split_name,
)
from durable_chaos.report.gate import GateOutcome
from durable_chaos.report.merge import ShardReport, merge_record, shard_problems

IDS = [f"scenarios/agent.yaml::agent[dbos-sweep-tool-{i}]" for i in range(12)]
SLOW = IDS[3]


def loads(ids: list[str], total: int, durations: dict[str, float]) -> list[float]:
    deal = balanced_assignment(ids, total, durations)
    return [
        sum(durations.get(i, 0.0) for i, k in deal.items() if k == shard) for shard in range(1, total + 1)
    ]


def test_one_long_test_gets_a_shard_of_its_own_and_the_rest_share_the_others() -> None:
    durations = dict.fromkeys(IDS, 1.0) | {SLOW: 11.0}
    assert split(IDS, Shard(1, 2), durations) == [SLOW]
    assert sorted(split(IDS, Shard(2, 2), durations)) == sorted(set(IDS) - {SLOW})
    assert loads(IDS, 2, durations) == [11.0, 11.0]
    # The hash split ignores the durations: six tests each, the slow one's shard 16 s, the other 6 s.
    assert sorted(sum(durations[i] for i in IDS if assignment(IDS, 2)[i] == k) for k in (1, 2)) == [6.0, 16.0]


@pytest.mark.parametrize("total", [1, 2, 3, 5, 13])
def test_every_test_is_in_exactly_one_shard_in_any_order(total: int) -> None:
    durations = {test_id: float(n % 4) * 2.5 for n, test_id in enumerate(IDS)}
    owned = [i for k in range(1, total + 1) for i in split(IDS, Shard(k, total), durations)]
    assert sorted(owned) == sorted(IDS)
    assert balanced_assignment(IDS, total, durations) == balanced_assignment(IDS[::-1], total, durations)


def test_equal_durations_deal_evenly_and_the_deal_is_pinned() -> None:
    deal = balanced_assignment(["a", "b", "c", "d"], 2, {"a": 1.0, "b": 1.0, "c": 1.0, "d": 1.0})
    assert sorted(deal.values()) == [1, 1, 2, 2]
    # A change of the algorithm is a change of every CI's shards: deliberate.
    assert balanced_assignment(["a", "b", "c", "d"], 2, {"a": 3.0, "b": 1.0, "c": 2.0}) == {
        "a": 1,
        "b": 1,
        "c": 2,
        "d": 2,
    }


def test_an_unrecorded_test_counts_as_the_mean_and_none_recorded_is_the_hash_split() -> None:
    new = "scenarios/new.yaml::new[dbos-plan]"
    durations = {IDS[0]: 4.0, IDS[1]: 4.0}
    deal = balanced_assignment([IDS[0], IDS[1], new], 3, durations)
    assert sorted(deal.values()) == [1, 2, 3]  # the new test weighs 4 s too: a shard of its own
    assert balanced_assignment(IDS, 3, {"other::test": 9.0}) == assignment(IDS, 3)
    assert split_name(IDS, {"other::test": 9.0}) == split_name(IDS) == "hash"
    assert split_name(IDS, durations).startswith("durations:")
    assert split_name(IDS, durations) == split_name(IDS[::-1], dict(reversed(durations.items())))
    assert split_name(IDS, durations) != split_name(IDS, durations | {IDS[0]: 5.0})


def test_durations_are_read_from_reports_and_mappings(tmp_path: Path) -> None:
    report = tmp_path / "merged.json"
    report.write_text(
        json.dumps({"trials": [], "summary": {}, "shard": {"index": None, "durations": {"a": 2.5, "b": 1}}})
    )
    mapping = tmp_path / ".test_durations"
    mapping.write_text(json.dumps({"b": 3.0, "c": 0}))
    durations, notes = read_durations([report, mapping, tmp_path / "missing.json"])
    assert durations == {"a": 2.5, "b": 3.0, "c": 0.0}  # later files win
    assert notes == [
        f"--chaos-shard-durations: {tmp_path / 'missing.json'} does not exist (no recorded durations from it)"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not JSON"),
        ('{"trials": [], "summary": {}}', "a JSON report without recorded durations"),
        ("[1, 2]", "expected a JSON object"),
        ('{"a": -1}', "'a': expected seconds"),
    ],
)
def test_a_bad_durations_file_is_refused_naming_it(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "d.json"
    path.write_text(text)
    with pytest.raises(ShardError, match=f"--chaos-shard-durations: .*d.json: {message}"):
        read_durations([path])


def report(index: int, split_used: str, durations: dict[str, float]) -> ShardReport:
    shard = {"index": index, "total": 2, "fingerprint": "f00d", "split": split_used, "complete": True}
    return ShardReport(Path(f"shard-{index}.json"), {"trials": [], "shard": shard | {"durations": durations}})


def test_a_merge_refuses_shards_that_dealt_differently_and_keeps_every_duration() -> None:
    same = [report(1, "durations:ab", {"a": 1.0}), report(2, "durations:ab", {"b": 2.0})]
    assert shard_problems(same) == []
    assert merge_record(same, GateOutcome(0, []))["durations"] == {"a": 1.0, "b": 2.0}
    mixed = [report(1, "hash", {}), report(2, "durations:ab", {})]
    assert any("dealt the tests differently" in p for p in shard_problems(mixed))


def test_a_shard_balanced_by_a_previous_report_runs_its_share(pytester: pytest.Pytester) -> None:
    """End to end (no engine: ordinary tests are split too): shard 1 of 2 gets the one slow test, its
    report says how it dealt and records its test's seconds; a bad file is exit 2 naming it."""
    pytester.makepyfile(
        test_four="def test_a(): pass\ndef test_b(): pass\ndef test_c(): pass\ndef test_d(): pass\n"
    )
    previous = pytester.path / "previous.json"
    previous.write_text(json.dumps({f"test_four.py::test_{n}": 10.0 if n == "c" else 1.0 for n in "abcd"}))
    out = pytester.path / "shard-1.json"
    result = pytester.runpytest_subprocess(
        "--chaos",
        "test_four.py",
        "--chaos-shard=1/2",
        f"--chaos-shard-durations={previous}",
        f"--chaos-shard-durations={pytester.path / 'absent.json'}",
        f"--chaos-report={out}",
        "-p",
        "no:cacheprovider",
    )
    result.stdout.fnmatch_lines(["*absent.json does not exist*", "*1 passed, 3 deselected*"])
    shard = json.loads(out.read_text())["shard"]
    assert shard["split"].startswith("durations:")
    assert list(shard["durations"]) == ["test_four.py::test_c"]
    (pytester.path / "bad.json").write_text("[]")
    bad = pytester.runpytest_subprocess("--chaos", "--chaos-shard=1/2", "--chaos-shard-durations=bad.json")
    assert bad.ret == 2
    bad.stderr.fnmatch_lines(["*--chaos-shard-durations: bad.json: expected a JSON object*"])
