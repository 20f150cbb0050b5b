"""A throwaway PostgreSQL server for the DBOS-on-Postgres tests (test-only helper)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from durable_chaos.fixtures.engines.base import EngineUnavailable, free_port
from durable_chaos.fixtures.engines.dbos.adapter import ENV_DATABASE_URL

PG_BIN = Path("/usr/lib/postgresql/15/bin")


class PostgresServer:
    """A throwaway PostgreSQL server: ``initdb`` in a temp dir, ``pg_ctl start`` on a loopback port.

    Trust authentication, superuser ``postgres``, fsync off (test data only). As root, the server
    runs as the ``postgres`` user (initdb refuses root). ``start()`` returns a SQLAlchemy URL for
    DBOS; ``stop()`` is ``pg_ctl stop -m immediate`` and removes the directory.
    """

    def __init__(self, bin_dir: Path | None = None, *, os_user: str = "postgres") -> None:
        self.bin_dir = Path(os.environ.get("DURABLE_CHAOS_PG_BIN", bin_dir or PG_BIN))
        self.os_user = os_user
        self.root: Path | None = None
        self.port = 0
        self.url = ""

    @property
    def data_dir(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    def _command(self, *args: str) -> list[str]:
        if os.geteuid() != 0:
            return list(args)
        runuser = shutil.which("runuser")
        if runuser:
            return [runuser, "-u", self.os_user, "--", *args]
        return ["su", self.os_user, "-s", "/bin/sh", "-c", shlex.join(args)]

    def _run(self, *args: str, timeout: float = 60) -> None:
        done = subprocess.run(self._command(*args), capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise EngineUnavailable(
                f"{Path(args[0]).name} failed with exit code {done.returncode}:\n"
                f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )

    def start(self) -> str:
        for tool in ("initdb", "pg_ctl", "postgres"):
            if not (self.bin_dir / tool).exists():
                raise EngineUnavailable(
                    f"PostgreSQL server binaries not found in {self.bin_dir} (missing {tool}). Fix: install "
                    "the PostgreSQL server package (e.g. apt-get install postgresql-15), set "
                    "DURABLE_CHAOS_PG_BIN to its bin directory, "
                    f"or point {ENV_DATABASE_URL} at a running server."
                )
        owner: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam(self.os_user)
            except KeyError:
                raise EngineUnavailable(
                    f"running as root, and initdb refuses root; no {self.os_user!r} user exists to run "
                    "PostgreSQL as. Fix: create it (useradd -r postgres) or run as a non-root user."
                ) from None
        self.root = Path(tempfile.mkdtemp(prefix="durable-chaos-pg-"))
        (self.root / "data").mkdir()
        if owner is not None:
            for path in (self.root, self.root / "data"):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        try:
            self._run(
                str(self.bin_dir / "initdb"),
                "-D", str(self.data_dir),
                "-U", "postgres",
                "-A", "trust",
                "-E", "UTF8",
                "--no-sync",
                "--no-instructions",
            )  # fmt: skip
            self.port = free_port()
            options = (
                f"-p {self.port} -h 127.0.0.1 -k {self.root} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            self._run(
                str(self.bin_dir / "pg_ctl"),
                "-D", str(self.data_dir),
                "-l", str(self.root / "server.log"),
                "-o", options,
                "-w", "-t", "60",
                "start",
            )  # fmt: skip
        except BaseException:
            self.stop()
            raise
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        return self.url

    def stop(self) -> None:
        root, self.root = self.root, None
        if root is None:
            return
        if (root / "data" / "postmaster.pid").exists():
            self.root = root
            with contextlib.suppress(Exception):
                self._run(
                    str(self.bin_dir / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "-w", "stop"
                )
            self.root = None
        shutil.rmtree(root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
