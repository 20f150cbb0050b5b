"""A throwaway PostgreSQL server for the DBOS-on-Postgres tests (test-only helper).

The server itself is the one the DBOS engine package owns for ``restart`` faults
(``durable_chaos.infra.engines.dbos.server``): initdb in a temp dir, the ``postgres`` process on a
loopback port, dying with the test session. ``stop()`` here removes it entirely.
"""

from __future__ import annotations

from durable_chaos.infra.engines.dbos.server import PostgresServer as OwnedPostgres


class PostgresServer(OwnedPostgres):
    """``start()`` returns a SQLAlchemy URL for DBOS; ``stop()`` stops it and removes its directory."""

    def stop(self) -> None:
        self.close()
