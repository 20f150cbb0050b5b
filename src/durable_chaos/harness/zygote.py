"""A warm worker: a process that has already imported the heavy modules (pydantic-ai, the provider SDK,
vcrpy, the engine library) and forks a fresh worker for each job.

Importing is most of a kill -> recover cycle (measured: two import phases of ~1.1 s each); a forked
child starts with everything imported and runs :func:`durable_chaos.harness.worker.main` directly. The
protocol on stdin/stdout is one line per message:

    runner -> zygote:  <job path>\\t<log path>
    zygote -> runner:  started <pid>          (the child runs in a session of its own)
                       exit <pid> <code>      (negative code: killed by that signal)

The zygote never runs engine code itself, so it holds no event loop, connection or engine thread
when it forks.
"""

from __future__ import annotations

import importlib
import os
import sys

from durable_chaos.processes import die_with_parent


def preload(modules: list[str]) -> None:
    for name in ["durable_chaos.harness.worker", *modules]:
        importlib.import_module(name)


def child(job_path: str, log_path: str) -> None:
    """In the forked child: a session of its own, output to the log, run the job, exit hard."""
    os.setsid()
    die_with_parent()  # the warm worker's death (it dies with the session) takes its children along
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    code = 1
    try:
        from durable_chaos.harness import worker

        code = worker.main([job_path])
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve(modules: list[str]) -> int:
    preload(modules)
    print("ready", flush=True)
    for line in sys.stdin:
        job_path, _, log_path = line.rstrip("\n").partition("\t")
        if not job_path:
            continue
        pid = os.fork()
        if pid == 0:
            child(job_path, log_path)
        print(f"started {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        print(f"exit {pid} {code}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(serve(sys.argv[1:]))
