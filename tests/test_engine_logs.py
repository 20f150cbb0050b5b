"""Engine log records go to a file while the harness runs engine code, and back to the terminal after."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from durable_chaos.run.records.engine_logs import logs_to


def test_records_in_the_block_go_to_the_file_and_printing_handlers_come_back_after(tmp_path: Path) -> None:
    terminal = io.StringIO()
    logger = logging.getLogger("durable_chaos_test.engine")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.handlers = [logging.StreamHandler(terminal)]
    kept = logging.FileHandler(tmp_path / "service.log", delay=True)  # writes to no terminal: left alone
    logger.addHandler(kept)
    try:
        with logs_to(tmp_path / "engine-session-x.log"):
            logger.error("Finished in state Crashed('a model request is not in cassette')")
        logger.info("after the block")
    finally:
        logger.handlers = []
        kept.close()
    assert "Finished in state Crashed" in (tmp_path / "engine-session-x.log").read_text()
    assert "Finished in state Crashed" in (tmp_path / "service.log").read_text()
    assert terminal.getvalue() == "after the block\n"
