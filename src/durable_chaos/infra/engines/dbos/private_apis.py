"""Every private DBOS API the adapter relies on, checked when the engine starts.

* ``SystemDatabase.record_operation_result``: the moment a step's outcome is journaled (its
  checkpoint). ``list_workflow_steps`` (public, used after the run) gives the journal but not when each
  entry was written relative to the model requests, which ``no_duplicate_model_calls`` needs.
* ``SystemDatabase.check_operation_execution``: the moment a recorded step is replayed instead of run
  (so a side effect inside a journaled step is not counted twice).
* ``SystemDatabase._check_operation_execution_txn``: where DBOS refuses a recovery whose step names
  disagree with the journal (``DBOSUnexpectedStepError``), before the error loses the recorded name.
* ``dbos._core.invoke_step``: where DBOS runs a step's function, attempt by attempt (the function it is
  given is what its retry loop calls). Wrapping that function tells the fault layer that a step's body
  begins, so a tool called in workflow code fails inside the step its body opens, where DBOS's step
  retries see it, and a kill ``after`` the tool strikes between the body's return and the journal write
  (DBOS records the step's output after its function returns). The public ``DBOS.step`` decorator
  is applied when the user's module is imported, before the harness could wrap anything.
* ``_get_or_create_dbos_registry`` / ``_register_internal_queue``: poll the internal queue where
  recovery re-enqueues workflows every 0.1 s instead of 1 s (speed only: nothing depends on it).

Public APIs everywhere else: ``dbos.error`` for exceptions, ``DBOSClient.list_workflow_steps`` for the
journal, ``DBOS.step_id``/``step_status`` for the running step.
"""

from __future__ import annotations

from durable_chaos.patching import Hook

RECORD_RESULT = Hook(
    library="dbos",
    target="dbos._sys_db:SystemDatabase.record_operation_result",
    why="it is the moment a step's outcome is journaled; the public step listing has no such timing",
    properties=("no_duplicate_model_calls",),
    parameters=("self", "result"),
)
CHECK_EXECUTION = Hook(
    library="dbos",
    target="dbos._sys_db:SystemDatabase.check_operation_execution",
    why="it is the moment a journaled step is replayed instead of run",
    properties=("tools_exactly_once",),
    parameters=("self", "workflow_id", "function_id", "function_name"),
)
CHECK_EXECUTION_TXN = Hook(
    library="dbos",
    target="dbos._sys_db:SystemDatabase._check_operation_execution_txn",
    why="it is where DBOS refuses a recovery whose steps disagree with the journal, with both names",
    properties=("stable_cache_keys",),
    parameters=("self", "workflow_id", "function_id", "function_name"),
)
INVOKE_STEP = Hook(
    library="dbos",
    target="dbos._core:invoke_step",
    why="it is where a step's function is called attempt by attempt, so a tool fault can fire inside the "
    "step a tool's body opens, and a kill after the tool fires after the step's body returned and before "
    "DBOS journals its result (the at-least-once window)",
    properties=("completes", "tools_exactly_once"),
    parameters=("dbos", "step_ctx", "func", "args", "kwargs"),
)
INTERNAL_QUEUE = Hook(
    library="dbos",
    target="dbos._dbos:_get_or_create_dbos_registry",
    why="polling the recovery queue every 0.1 s instead of 1 s makes a kill->recover cycle fast",
)

HOOKS = [RECORD_RESULT, CHECK_EXECUTION, CHECK_EXECUTION_TXN, INVOKE_STEP, INTERNAL_QUEUE]
