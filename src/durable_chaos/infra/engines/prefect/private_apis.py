"""Every private Prefect API the adapter relies on, checked when the engine starts.

* ``BaseTaskRunEngine.compute_transaction_key``: ``TaskRun.cache_key`` is ``None`` in Prefect 3, and
  no public API reports the key a task attempt computed; it is observed where Prefect computes it.
* ``AsyncTaskRunEngine.handle_success`` / ``SyncTaskRunEngine.handle_success``: the moment a task
  attempt's result is persisted (its checkpoint). Task-run states reach the API only as events,
  eventually, and without the attempt's place among the model requests of the run.

Public APIs are used everywhere else: ``prefect.context`` for the running task and flow,
``prefect.settings`` constants for settings, the client for flow runs, ``run_flow_async`` to re-run
a flow run by id.
"""

from __future__ import annotations

from durable_chaos.patching import Hook

TRANSACTION_KEY = Hook(
    library="prefect",
    target="prefect.task_engine:BaseTaskRunEngine.compute_transaction_key",
    why="Prefect 3 reports no task attempt's cache key through a public API",
    properties=("stable_cache_keys", "no_stale_replay"),
    parameters=("self",),
)
ASYNC_SUCCESS = Hook(
    library="prefect",
    target="prefect.task_engine:AsyncTaskRunEngine.handle_success",
    why="it is the moment a task attempt's result is persisted (no public event says so in time)",
    properties=("no_duplicate_model_calls", "no_stale_replay"),
    parameters=("self", "result", "transaction"),
)
SYNC_SUCCESS = Hook(
    library="prefect",
    target="prefect.task_engine:SyncTaskRunEngine.handle_success",
    why="it is the moment a task attempt's result is persisted (no public event says so in time)",
    properties=("no_duplicate_model_calls", "no_stale_replay"),
    parameters=("self", "result", "transaction"),
)

DRAIN_EVENTS = Hook(
    library="prefect",
    target="prefect.events.worker:EventsWorker.drain_all",
    why="the client's events and log workers must flush to the session's API server before it stops; "
    "otherwise they retry against a dead server when the interpreter exits, for a very long time",
)
DRAIN_LOGS = Hook(
    library="prefect",
    target="prefect.logging.handlers:APILogWorker.drain_all",
    why="as for events: API logs must flush before the session's API server stops",
)

HOOKS = [TRANSACTION_KEY, ASYNC_SUCCESS, SYNC_SUCCESS, DRAIN_EVENTS, DRAIN_LOGS]
