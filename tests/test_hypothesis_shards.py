"""A Hypothesis example database shared by shards (issue 23): each shard writes only its own directory
and reads every shard's, so a failure one shard found is replayed first by all of them next time."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

from durable_chaos.strategies import DATABASE_ENVIRONMENT, PROFILE, register_profile, shard_database


def test_each_shard_writes_its_own_directory_and_reads_all(tmp_path: Path) -> None:
    first = shard_database(tmp_path, "1/2")
    first.save(b"key", b"found by shard 1")
    assert [p.name for p in tmp_path.iterdir()] == ["shard-1-of-2"]
    second = shard_database(tmp_path, "2/2")  # e.g. the next run, every shard's artifact downloaded
    assert list(second.fetch(b"key")) == [b"found by shard 1"]
    second.save(b"key", b"found by shard 2")
    second.delete(b"key", b"found by shard 1")  # shard 1's files are read-only to shard 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shard-1-of-2", "shard-2-of-2"]
    assert set(shard_database(tmp_path, "1/2").fetch(b"key")) == {b"found by shard 1", b"found by shard 2"}
    unsharded = shard_database(tmp_path / "plain", None)
    unsharded.save(b"key", b"value")
    assert list(shard_database(tmp_path / "plain", None).fetch(b"key")) == [b"value"]


def test_the_profile_uses_it_when_a_directory_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATABASE_ENVIRONMENT, str(tmp_path))
    monkeypatch.setenv("DURABLE_CHAOS_SHARD", "2/3")
    try:
        register_profile()
        database = settings.get_profile(PROFILE).database
        database.save(b"k", b"v")
        assert (tmp_path / "shard-2-of-3").is_dir()
    finally:
        monkeypatch.delenv(DATABASE_ENVIRONMENT)
        register_profile()
    assert settings.get_profile(PROFILE).database != database
