"""A warm worker: a process that has already imported the heavy modules (pydantic-ai, the provider SDK,
vcrpy, the engine library) and forks a fresh worker for each job.

Importing is most of a kill -> recover cycle (measured: two import phases of ~1.1 s each); a forked
child starts with everything imported and runs :func:`durable_chaos.run.worker.main` directly. The
protocol on stdin/stdout is one line per message:

    runner -> zygote:  <job path>\\t<log path>
    zygote -> runner:  started <pid>          (the child runs in a session of its own)
                       exit <pid> <code>      (negative code: killed by that signal)

The zygote never runs engine code itself, so it holds no event loop, connection or engine thread
when it forks.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from durable_chaos.processes import die_with_parent

WARM_EXTRAS = ("anyio._backends._asyncio", "genai_prices.decompose", "genai_prices.validation")
"""Modules every run imports lazily (anyio's asyncio backend, genai-prices' price calculation): imported
once here instead of in every worker. Best effort: another release may have moved them."""


def preload(modules: list[str], target: tuple[str, str] | None = None) -> None:
    """Import the worker, the engine's modules and (best effort) the scenario's target module. A target
    that fails to import here is simply imported again by the forked child, which reports the error."""
    for name in ["durable_chaos.run.worker", *modules]:
        importlib.import_module(name)
    for name in WARM_EXTRAS:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    if target is None:
        return
    from durable_chaos.infra.engines.base import make_importable
    from durable_chaos.run.targets import ensure_placeholder_credentials

    ensure_placeholder_credentials()
    directory, module = target
    make_importable(Path(directory))
    try:
        loaded = importlib.import_module(module)
    except BaseException:  # noqa: BLE001 - even sys.exit() at import: the child will say so
        sys.modules.pop(module, None)
        return
    warm_models(vars(loaded).values())


def warm_models(objects: Iterable[object]) -> None:
    """Resolve the model names of the agents among ``objects`` once, so the provider SDK each one
    needs (``openai:...`` imports the OpenAI SDK, about a second) is imported before the fork, not in
    every resumed worker. Best effort: a model that cannot be built here fails in the child instead."""
    from pydantic_ai.agent import AbstractAgent
    from pydantic_ai.models import infer_model

    for value in objects:
        if not isinstance(value, AbstractAgent):
            continue
        try:
            model = value.model
            if isinstance(model, str):
                infer_model(model)
        except Exception:  # noqa: BLE001, S112 - an optimisation only
            continue


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
        from durable_chaos.run import worker

        code = worker.main([job_path])
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve(args: list[str]) -> int:
    target = (args[1], args[2]) if args[:1] == ["--target"] else None
    modules = args[3:] if target else args
    preload(modules, target)
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
