"""The embedded Prefect API server starts from a migrated database kept in the cache."""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path

import pytest

from durable_chaos.infra.engines.prefect import database
from durable_chaos.infra.engines.prefect.server import PrefectServer, healthy

# Not importorskip: importing prefect here (its context module, without its flows) would leave a partial
# Prefect in this process for the in-process pytester sessions of other tests, whose Flow class would
# then not be the one Prefect's context was built with.
pytestmark = pytest.mark.skipif(importlib.util.find_spec("prefect") is None, reason="no prefect installed")


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        return {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_a_broken_template_is_replaced_by_the_database_a_new_server_migrated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DURABLE_CHAOS_CACHE_DIR", str(tmp_path / "cache"))
    template = database.template_path()
    assert template is not None
    template.parent.mkdir(parents=True)
    template.write_bytes(b"not a database")  # e.g. a file cut short: the server cannot start from it

    first = PrefectServer(tmp_path / "first")
    try:
        assert healthy(first.start())
    finally:
        first.close()
    assert {"alembic_version", "flow_run", "task_run"} <= tables(template)

    made = template.stat().st_mtime_ns
    assert database.seed(tmp_path / "second.db")  # the next session's server starts from it
    second = PrefectServer(tmp_path / "second")
    try:
        assert healthy(second.start())
    finally:
        second.close()
    assert template.stat().st_mtime_ns == made


def test_no_template_means_a_new_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DURABLE_CHAOS_CACHE_DIR", str(tmp_path / "cache"))
    assert not database.seed(tmp_path / "prefect.db")
    assert not (tmp_path / "prefect.db").exists()
