"""DBOS's infrastructure: where a trial's system database lives, and a PostgreSQL server the harness owns.

Every trial gets its own system database: a SQLite file in the trial directory (the embedded default),
or a database of its own on the Postgres server ``DURABLE_CHAOS_DBOS_DATABASE_URL`` names
(:func:`check_postgres` checks it at start); another engine context of the trial gets a sibling one
(:func:`context_database_url`).

The harness-owned server (:class:`PostgresServer`) holds the system database of trials that a
``restart`` fault stops and starts.

A Postgres the user points the harness at (``--chaos-dbos-url``) is not the harness's to restart, so
trials with a ``restart`` fault on ``database`` run on a server the harness owns: ``initdb`` in a temp
dir once per session, then the ``postgres`` server process started directly (not through ``pg_ctl``,
which would detach it), in a session of its own and dying with the harness (``PR_SET_PDEATHSIG``, set
from a long-lived thread of its own, so a restart from a timer thread does not tie it to that thread).

* :meth:`PostgresServer.start`: initdb (first time) and start on a loopback port; returns a SQLAlchemy
  URL for DBOS.
* :meth:`PostgresServer.stop_server`: SIGQUIT, Postgres's *immediate* shutdown (what a crash or a
  failover looks like to clients: every connection dropped at once), and wait for it to exit.
* :meth:`PostgresServer.start_server`: start it again on the same port and data dir; waits until it
  accepts connections (it replays its WAL first, as after a crash).
* :meth:`PostgresServer.close`: stop it and remove the directory.

Server binaries: ``DURABLE_CHAOS_PG_BIN``, else the newest ``/usr/lib/postgresql/*/bin``, else
``postgres`` on ``PATH``. As root the server runs as the ``postgres`` user (Postgres refuses root).
Trust authentication and ``fsync=off`` (throwaway test data, and an operating system that never
crashes under it); ``synchronous_commit`` stays on, so a restart keeps every acknowledged commit, as a
production server's crash does.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from durable_chaos.infra.engines.base import EngineUnavailable, free_port
from durable_chaos.processes import LongLivedSpawner, die_with_parent
from durable_chaos.scrub import scrub_text, scrub_url

ENV_DATABASE_URL = "DURABLE_CHAOS_DBOS_DATABASE_URL"
"""Session setting: a Postgres server to put trial databases on (unset: SQLite per trial)."""
ENV_SYSTEM_DATABASE_URL = "DURABLE_CHAOS_DBOS_SYSTEM_DATABASE_URL"
"""Exported to a worker: the system database of its trial."""


SQLITE_FILE = "dbos-system.sqlite"


# ------------------------------------------------------------------------------------------- URLs


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def trial_database_name(trial_dir: Path) -> str:
    """A Postgres database name for a trial: readable, unique per trial directory, at most 63 bytes."""
    resolved = str(trial_dir.resolve())
    digest = hashlib.sha1(resolved.encode()).hexdigest()[:10]
    stem = re.sub(r"[^a-z0-9]+", "_", trial_dir.name.lower()).strip("_")[:40]
    return f"dc_{stem}_{digest}" if stem else f"dc_{digest}"


def with_database(url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=database).render_as_string(hide_password=False)


def context_database_url(url: str, context: str) -> str:
    """The system database of another engine context of the same trial: a sibling SQLite file, or a
    sibling database on the same Postgres server."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    suffix = re.sub(r"[^a-z0-9]+", "_", context.lower()).strip("_") or "context"
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        path = Path(parsed.database)
        return sqlite_url(path.with_name(f"{path.stem}-{suffix}{path.suffix}"))
    database = parsed.database or "postgres"
    digest = hashlib.sha1(f"{database}/{context}".encode()).hexdigest()[:8]
    return with_database(url, f"{database[:50]}_{digest}")


SHARED_CONTEXTS = frozenset({"", "golden", "faulted"})
"""Contexts that use the trial's own system database (workflow ids keep their runs apart)."""


def check_postgres(url: str, timeout: float = 5.0) -> None:
    """Connect once to ``url``; raise :class:`EngineUnavailable` with a fix hint if that fails."""
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": int(max(1, timeout))})
    except Exception as exc:  # noqa: BLE001 - a bad URL or a missing driver
        raise EngineUnavailable(
            f"{ENV_DATABASE_URL}={scrub_url(url)!r} is not a usable database URL "
            f"({type(exc).__name__}: {scrub_text(str(exc))}). "
            "Fix: use the form postgresql+psycopg://USER@HOST:PORT/postgres and install "
            "durable-chaos[dbos] (psycopg), or unset it to use SQLite per trial."
        ) from exc
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any connection failure is the same to the user
        raise EngineUnavailable(
            f"cannot connect to the DBOS Postgres server {ENV_DATABASE_URL}={scrub_url(url)!r}: "
            f"{type(exc).__name__}: {scrub_text(str(exc))}. Fix: start that server (and let the user "
            "create databases), "
            f"or unset {ENV_DATABASE_URL} to use an embedded SQLite system database per trial."
        ) from exc
    finally:
        engine.dispose()


ENV_PG_BIN = "DURABLE_CHAOS_PG_BIN"
OS_USER = "postgres"
READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0


def find_bin_dir() -> Path | None:
    """Where the PostgreSQL server binaries are (``initdb`` and ``postgres``), or None. When
    ``DURABLE_CHAOS_PG_BIN`` is set, only there."""
    configured = os.environ.get(ENV_PG_BIN)
    if configured:
        directory = Path(configured)
        return directory if (directory / "initdb").exists() and (directory / "postgres").exists() else None
    candidates = []
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)
    candidates += [Path(p) for p in versions]
    on_path = shutil.which("postgres")
    if on_path:
        candidates.append(Path(on_path).parent)
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "postgres").exists():
            return directory
    return None


def _version(path: str) -> tuple[int, ...]:
    part = Path(path).parent.name
    return tuple(int(x) for x in part.split(".") if x.isdigit())


def missing_binaries_hint() -> str:
    return (
        "no PostgreSQL server binaries (initdb, postgres) found in $DURABLE_CHAOS_PG_BIN, "
        "/usr/lib/postgresql/*/bin or on PATH. Fix: install the PostgreSQL server package (e.g. apt-get "
        "install postgresql-15) or set DURABLE_CHAOS_PG_BIN to its bin directory"
    )


class PostgresServer:
    """A throwaway PostgreSQL server on a loopback port that can be stopped and started again."""

    def __init__(self, bin_dir: Path | None = None, *, os_user: str = OS_USER) -> None:
        found = bin_dir or find_bin_dir()
        self.bin_dir = found
        self.os_user = os_user
        self.root: Path | None = None
        self.port = 0
        self.url = ""
        self.process: subprocess.Popen[bytes] | None = None
        self.spawner: LongLivedSpawner | None = None
        """Starts the server process, from a thread that lives as long as this object: a restart timer's
        thread ends at once, and the server must not die with it (``PR_SET_PDEATHSIG``)."""

    @property
    def data_dir(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def _owner(self) -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(self.os_user)
        except KeyError:
            raise EngineUnavailable(
                f"running as root, and PostgreSQL refuses root; no {self.os_user!r} user exists to run it "
                "as. Fix: create it (useradd -r postgres) or run as a non-root user."
            ) from None

    def _as_owner(self, *args: str) -> list[str]:
        if os.geteuid() != 0:
            return list(args)
        runuser = shutil.which("runuser")
        if runuser:
            return [runuser, "-u", self.os_user, "--", *args]
        return ["su", self.os_user, "-s", "/bin/sh", "-c", shlex.join(args)]

    def start(self) -> str:
        """initdb, then start the server; returns ``postgresql+psycopg://postgres@127.0.0.1:PORT/postgres``."""
        if self.bin_dir is None:
            raise EngineUnavailable(missing_binaries_hint())
        owner = self._owner()
        self.root = Path(tempfile.mkdtemp(prefix="durable-chaos-pg-"))
        self.data_dir.mkdir()
        if owner is not None:
            for path in (self.root, self.data_dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        initdb = [
            str(self.bin_dir / "initdb"),
            "-D", str(self.data_dir),
            "-U", "postgres",
            "-A", "trust",
            "-E", "UTF8",
            "--no-sync",
            "--no-instructions",
        ]  # fmt: skip
        done = subprocess.run(self._as_owner(*initdb), capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            self.close()
            raise EngineUnavailable(
                f"initdb failed with exit code {done.returncode}: {(done.stdout + done.stderr)[-1500:]}"
            )
        self.port = free_port()
        try:
            self.start_server()
        except BaseException:
            self.close()
            raise
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        return self.url

    def start_server(self) -> None:
        """Start the server process (again) on the same port and data dir; wait until it accepts
        connections. Raises :class:`EngineUnavailable` with the server log's tail if it does not."""
        assert self.root is not None and self.bin_dir is not None
        owner = self._owner()
        command = [
            str(self.bin_dir / "postgres"),
            "-D", str(self.data_dir),
            "-p", str(self.port),
            "-h", "127.0.0.1",
            "-k", str(self.root),
            # A process crash (SIGQUIT) keeps what reached the OS, so fsync can go; but every
            # acknowledged commit must have reached it: synchronous_commit stays on (off, acknowledged
            # commits vanished on a restart, which no production server does, and DBOS stranded runs).
            "-c", "fsync=off",
            "-c", "full_page_writes=off",
            "-c", "max_connections=200",
        ]  # fmt: skip
        log = (self.root / "server.log").open("ab")

        def become_owner() -> None:
            os.setsid()
            if owner is not None:
                os.setgid(owner.pw_gid)
                os.setuid(owner.pw_uid)
            die_with_parent()

        if self.spawner is None:
            self.spawner = LongLivedSpawner("durable-chaos-postgres")
        try:
            self.process = self.spawner.popen(
                command, stdout=log, stderr=subprocess.STDOUT, preexec_fn=become_owner, cwd=self.root
            )
        finally:
            log.close()
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self._ready():
                return
            time.sleep(0.05)
        self.stop_server()
        raise EngineUnavailable(f"PostgreSQL did not start on port {self.port}: {self.log_tail()}")

    def _ready(self) -> bool:
        assert self.bin_dir is not None
        try:
            with socket.create_connection(self.address, timeout=0.5):
                pass
        except OSError:
            return False
        probe = [str(self.bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q", "-t", "1"]
        if not (self.bin_dir / "pg_isready").exists():
            return True
        return subprocess.run(probe, capture_output=True, timeout=10).returncode == 0

    def stop_server(self) -> None:
        """Immediate shutdown (SIGQUIT: every connection dropped at once, no checkpoint), then wait."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self) -> str:
        if self.root is None:
            return ""
        with contextlib.suppress(OSError):
            return (self.root / "server.log").read_text(errors="replace")[-1500:]
        return ""

    def close(self) -> None:
        self.stop_server()
        if self.spawner is not None:
            self.spawner.close()
            self.spawner = None
        root, self.root = self.root, None
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
