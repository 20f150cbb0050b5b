"""Engine logs go to the trial's artifacts, not to the terminal or pytest's report.

While a run is in progress, log records of every library (Prefect's flow and task run loggers, DBOS,
Temporal, Restate, pydantic-ai, the provider SDKs) are written to one file in the trial directory,
``engine-<role>.log``, instead of the handlers that would print them (console handlers, pytest's log
capture, Python's last-resort handler). Handlers that do not print (Prefect's API log handler) are left
alone. What an engine logs while the session starts or stops it (a late record of a run, a client
service flushed at the end) goes to ``engine-session-<engine>.log`` in the session directory. A
worker's own output already goes to ``worker-<n>-<role>.log`` beside it. The report names the trial
directory when the trial did not pass; passing trials' directories are removed with the session.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from durable_chaos.scrub import scrub_text

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"


def prints(handler: logging.Handler) -> bool:
    """Whether a handler writes to a terminal stream or pytest's capture (not a file, not a service)."""
    return isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler)


class ScrubbingFormatter(logging.Formatter):
    """Log lines without credentials (:mod:`durable_chaos.scrub`): a database URL's password, an API
    key in an exception, as the record is written."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub_text(super().format(record))


def log_file_name(role: str) -> str:
    return f"engine-{role.replace(':', '-')}.log"


@contextmanager
def logs_to(path: Path) -> Iterator[None]:
    """Send the log records emitted during the block to ``path`` (appended) instead of the terminal."""
    handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    handler.setFormatter(ScrubbingFormatter(FORMAT))
    root = logging.getLogger()
    loggers = [root] + [
        logger
        for logger in list(logging.Logger.manager.loggerDict.values())
        if isinstance(logger, logging.Logger) and logger.handlers
    ]
    saved = [(logger, list(logger.handlers)) for logger in loggers]
    for logger in loggers:
        kept = [h for h in logger.handlers if not prints(h)]
        printed = len(kept) < len(logger.handlers)
        if logger is root or (printed and not logger.propagate):
            kept.append(handler)  # where its records would have been printed; propagating ones reach root
        logger.handlers = kept
    try:
        yield
    finally:
        for logger, handlers in saved:
            logger.handlers = handlers
        handler.close()
