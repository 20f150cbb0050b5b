"""The property checkers, model-call and token accounting, and the trial verdict, on hand-built evidence.

Pure unit tests: no engine, no model, no processes. :class:`Trial` below writes history events and
ledger entries on a fake clock, in the shapes the injectors and engine observers produce.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, get_args

import pytest
from pydantic import BaseModel, ValidationError

from durable_chaos.infra.engines import engine_spec
from durable_chaos.infra.engines.base import RunOutcome
from durable_chaos.infra.engines.dbos.observe import relative_workflow
from durable_chaos.jsonable import jsonable
from durable_chaos.judge.accounting import checkpoint_times, model_calls, restart_losses, token_use
from durable_chaos.judge.checkers import (
    CHECKERS,
    Verdict,
    bounded_retries,
    check,
    completes,
    completes_within,
    first_difference,
    identities,
    judge,
    no_duplicate_model_calls,
    no_false_cache_sharing,
    output_matches_golden,
    stable_cache_keys,
    tools_exactly_once,
)
from durable_chaos.judge.evidence import Evidence, VariantRuns, is_faulted
from durable_chaos.properties import DEFAULT_PROPERTIES, PropertyName
from durable_chaos.scenario.model import Expect, Scenario

# ------------------------------------------------------------------------------------------------ builder


def unit(kind: str, name: str, ordinal: int, fp: str) -> dict[str, Any]:
    return {"kind": kind, "name": name, "ordinal": ordinal, "fingerprint": fp}


M1 = unit("model_request", "gpt-4o", 1, "fp-m1")
M2 = unit("model_request", "gpt-4o", 2, "fp-m2")
M3 = unit("model_request", "gpt-4o", 3, "fp-m3")
T1 = unit("tool_call", "lookup", 1, "fp-t1")

# Token usage (input, output) of each model request in every run that makes it.
USAGE = {"fp-m1": (100, 10), "fp-m2": (200, 20), "fp-m3": (300, 30)}


def task(run_id: str, count: int = 1, name: str = "model_request_task", epoch: str = "1.1") -> dict[str, Any]:
    """Engine identifiers of a durable unit attempt (as the Prefect adapter reports them)."""
    return {"task_name": name, "task_run_id": run_id, "task_run_count": count, "epoch": epoch}


@dataclass
class Trial:
    """A trial's history and ledger, written event by event on a clock that ticks once per record."""

    events: list[dict[str, Any]] = field(default_factory=list)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    t: float = 0.0
    positions: dict[str, str] = field(default_factory=dict)
    counters: dict[tuple[str, str, str], int] = field(default_factory=dict)

    def tick(self) -> float:
        self.t += 1.0
        return self.t

    def event(
        self,
        role: str,
        event: str,
        u: dict[str, Any] | None = None,
        attempt: int = 1,
        engine: dict[str, Any] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        record: dict[str, Any] = {"t": self.tick(), "pid": 1, "role": role, "event": event, **fields}
        if u is not None:
            record.update(unit=u, attempt=attempt, engine=engine or {})
        elif engine is not None:
            record["engine"] = engine
        self.events.append(record)
        return record

    def send(
        self,
        role: str,
        u: dict[str, Any],
        attempt: int = 1,
        engine: dict[str, Any] | None = None,
        usage: tuple[int, int] | None = None,
        status: int = 200,
    ) -> dict[str, Any]:
        """One model exchange in the ledger (what reached the provider, and was billed)."""
        inp, out = usage or USAGE[u["fingerprint"]]
        entry = {
            "t": self.tick(),
            "role": role,
            "unit": u,
            "attempt": attempt,
            "fingerprint": u["fingerprint"],
            "model": u["name"],
            "status": status,
            "usage": {"input_tokens": inp, "output_tokens": out},
            "engine": engine or {},
        }
        self.ledger.append(entry)
        return entry

    def fault(
        self,
        role: str,
        u: dict[str, Any],
        kind: str = "http_error",
        phase: str = "before",
        index: int = 0,
        attempt: int = 1,
    ) -> None:
        self.event(role, "fault", u, attempt, fault={"index": index, "kind": kind, "phase": phase})

    def model_request(
        self,
        role: str,
        u: dict[str, Any],
        attempt: int = 1,
        engine: dict[str, Any] | None = None,
        outcome: str = "ok",
        fault: str | None = None,
        phase: str = "before",
    ) -> None:
        """One attempt of a model request as the HTTP injector records it.

        ``before`` faults replace the request (nothing is sent or billed); ``after`` faults strike once
        the exchange happened (billed), and the response is lost.
        """
        self.event(role, "invoke", u, attempt, engine, path="/v1/chat/completions")
        if fault is not None and phase == "before":
            self.fault(role, u, fault, "before", attempt=attempt)
            self.event(role, "fail", u, attempt, engine, status=429)
            return
        self.send(role, u, attempt, engine)
        if fault is not None:
            self.fault(role, u, fault, "after", attempt=attempt)
            self.event(role, "fail", u, attempt, engine, error="ReadTimeout")
            return
        self.event(role, outcome, u, attempt, engine, status=200)

    def tool_call(
        self,
        role: str,
        u: dict[str, Any],
        attempt: int = 1,
        engine: dict[str, Any] | None = None,
        fault: str | None = None,
        phase: str = "before",
    ) -> None:
        self.event(role, "invoke", u, attempt, engine, call_id="call_1")
        if fault is not None and phase == "before":
            self.fault(role, u, fault, "before", attempt=attempt)
            self.event(role, "fail", u, attempt, engine, error="RuntimeError: injected")
            return
        self.event(role, "execute", u, attempt, engine)
        if fault is not None:
            self.fault(role, u, fault, "after", attempt=attempt)
            self.event(role, "fail", u, attempt, engine, error="RuntimeError: injected")
            return
        self.event(role, "ok", u, attempt, engine)

    def checkpoint(self, role: str, engine: dict[str, Any]) -> None:
        self.event(role, "checkpoint", engine=engine)

    def cache_key(
        self,
        role: str,
        key: str,
        run_id: str,
        count: int = 1,
        name: str = "model_request_task",
        epoch: str = "1.1",
    ) -> None:
        """An ``identity`` event as the Prefect adapter records it: the key at the task's logical
        position, ``<name>#<n>`` among same-named task runs of one (role, epoch)."""
        if run_id not in self.positions:
            scope = (role, epoch, name)
            self.counters[scope] = self.counters.get(scope, 0) + 1
            self.positions[run_id] = f"{name}#{self.counters[scope]}"
        engine = {**task(run_id, count, name, epoch), "scope": "", "position": self.positions[run_id]}
        self.event(role, "identity", engine={**engine, "identity": key})

    def golden_run(self) -> None:
        """A clean run: model request 1, a tool call, model request 2."""
        self.event("golden", "run_start")
        self.model_request("golden", M1)
        self.tool_call("golden", T1)
        self.model_request("golden", M2)
        self.event("golden", "run_end", completed=True)

    def evidence(
        self,
        completed: bool = True,
        output: Any = "sunny",
        golden_output: Any = "sunny",
        error: str | None = None,
        side_effecting: tuple[str, ...] = (),
        engine: str = "prefect",
        ids: tuple[dict[str, Any], dict[str, Any]] = ({}, {}),
        **settings: Any,
    ) -> Evidence:
        """The evidence so far; ``ids`` are the golden and faulted runs' engine ids, ``settings`` the
        scenario's (bound, comparator, variant runs)."""
        golden = RunOutcome("golden", True, output=golden_output, engine_ids=ids[0])
        faulted = RunOutcome(
            "faulted",
            completed,
            output=output if completed else None,
            error=None if completed else (error or "RuntimeError: boom"),
            engine_ids=ids[1],
        )
        return Evidence(
            golden,
            faulted,
            list(self.events),
            list(self.ledger),
            side_effecting,
            extra={"engine": engine},
            rules=engine_spec(engine).rules,
            **settings,
        )


GOLDEN_TOKENS = 110 + 220


# ------------------------------------------------------------------------------------------------ evidence


def test_evidence_splits_golden_from_faulted_and_resumes() -> None:
    trial = Trial()
    trial.golden_run()
    trial.model_request("faulted", M1)
    trial.model_request("resume-1", M2)
    evidence = trial.evidence()
    assert not is_faulted("golden") and is_faulted("faulted") and is_faulted("resume-2")
    assert {e["role"] for e in evidence.faulted_events()} == {"faulted", "resume-1"}
    assert [e["unit"]["fingerprint"] for e in evidence.faulted_events("ok")] == ["fp-m1", "fp-m2"]
    assert [e["fingerprint"] for e in evidence.golden_ledger()] == ["fp-m1", "fp-m2"]
    assert [e["role"] for e in evidence.faulted_ledger()] == ["faulted", "resume-1"]


def test_faulted_ledger_is_in_time_order() -> None:
    trial = Trial()
    late = trial.send("resume-1", M2)
    early = trial.send("faulted", M1)
    early["t"], late["t"] = 1.0, 2.0
    assert [e["fingerprint"] for e in trial.evidence().faulted_ledger()] == ["fp-m1", "fp-m2"]


# ------------------------------------------------------------------------------------------------ completes


def test_completes_holds_when_the_faulted_run_finished() -> None:
    trial = Trial()
    trial.golden_run()
    trial.model_request("faulted", M1, fault="http_error")
    trial.model_request("faulted", M1, attempt=2)
    verdict = completes(trial.evidence())
    assert verdict == Verdict(True, "the run completed; 1 fault(s) fired")


def test_completes_is_violated_when_the_faulted_run_did_not_finish() -> None:
    trial = Trial()
    trial.golden_run()
    trial.tool_call("faulted", T1, fault="tool_error")
    trial.tool_call("faulted", T1, attempt=2, fault="tool_error")
    verdict = completes(trial.evidence(completed=False, error="RuntimeError: injected by durable-chaos"))
    assert verdict.held is False
    assert "2 fault(s)" in verdict.detail
    assert "RuntimeError: injected by durable-chaos" in verdict.detail


def test_completes_counts_faults_of_resumes_but_not_of_the_golden_run() -> None:
    trial = Trial()
    trial.fault("golden", M1)  # never happens in practice; must not be counted anyway
    trial.fault("faulted", M1, "kill")
    trial.fault("resume-1", M2, "timeout")
    assert completes(trial.evidence()).detail == "the run completed; 2 fault(s) fired"


# ------------------------------------------------------------------------------------------------ model calls


def test_first_sends_are_neither_duplicates_nor_reexecutions() -> None:
    trial = Trial()
    trial.golden_run()
    trial.model_request("faulted", M1)
    trial.tool_call("faulted", T1)
    trial.model_request("faulted", M2)
    calls = model_calls(trial.evidence())
    assert (calls.golden, calls.total, calls.duplicates, calls.expected_reexecutions) == (2, 2, 0, 0)
    assert calls.duplicate_sends == []


def test_golden_responses_are_not_checkpoints_of_the_faulted_run() -> None:
    trial = Trial()
    trial.golden_run()  # same fingerprints, delivered earlier, in the golden run
    trial.model_request("faulted", M1)
    assert model_calls(trial.evidence()).duplicates == 0


def test_resend_after_an_after_phase_fault_is_an_expected_reexecution() -> None:
    """The exchange happened (billed) but its response never reached the agent: in flight at a fault."""
    trial = Trial()
    trial.golden_run()
    trial.model_request("faulted", M1, fault="timeout", phase="after")
    trial.model_request("faulted", M1, attempt=2)
    calls = model_calls(trial.evidence())
    assert (calls.total, calls.duplicates, calls.expected_reexecutions) == (2, 0, 1)
    verdict = no_duplicate_model_calls(trial.evidence())
    assert verdict.held is True
    assert "2 model call(s)" in verdict.detail and "1 expected re-execution(s)" in verdict.detail


def test_before_phase_fault_sends_nothing_so_the_retry_is_a_first_send() -> None:
    trial = Trial()
    trial.model_request("faulted", M1, fault="http_error")  # SDK or engine retry follows
    trial.model_request("faulted", M1, attempt=2)
    calls = model_calls(trial.evidence())
    assert (calls.total, calls.duplicates, calls.expected_reexecutions) == (1, 0, 0)


def test_resend_after_a_delivered_response_without_engine_ids_is_a_duplicate() -> None:
    """Without engine unit ids, delivery to the agent (``ok``) is the checkpoint."""
    trial = Trial()
    trial.golden_run()
    trial.model_request("faulted", M1)
    trial.tool_call("faulted", T1, fault="kill")
    trial.model_request("resume-1", M1, attempt=2)
    evidence = trial.evidence()
    calls = model_calls(evidence)
    assert (calls.total, calls.duplicates, calls.expected_reexecutions) == (2, 1, 0)
    assert calls.duplicate_sends[0]["role"] == "resume-1"
    verdict = no_duplicate_model_calls(evidence)
    assert verdict.held is False
    assert "model_request #1 (gpt-4o)" in verdict.detail
    assert "attempt 2" in verdict.detail and "role resume-1" in verdict.detail
    assert verdict.detail.startswith("1 model call(s) were sent again")


def test_a_fresh_run_the_harness_forced_reports_its_cost_not_a_violation() -> None:
    """A sweep's opt-in ``fresh`` point: the harness abandons the run after the kill and starts a new
    one, so repeats are that recovery's cost (not judged); the same repeats under the scenario's own
    ``resume: new_run`` (the user's operations) stay violations."""
    trial = Trial()
    trial.golden_run()
    trial.model_request("faulted", M1)
    trial.tool_call("faulted", T1)
    trial.model_request("resume-1", M1, attempt=2)
    trial.tool_call("resume-1", T1, attempt=2)
    forced = trial.evidence(side_effecting=("lookup",))
    forced.extra["forced_fresh_run"] = True
    for checker in (no_duplicate_model_calls, tools_exactly_once):
        verdict = checker(forced)
        assert verdict.held is None and verdict.detail.startswith("not judged: the sweep's opt-in fresh")
    assert "1 of 2 model call(s) sent again" in no_duplicate_model_calls(forced).detail
    assert "1 side-effecting call(s) executed again" in tools_exactly_once(forced).detail
    operated = trial.evidence(side_effecting=("lookup",))
    operated.extra["resume"] = "new_run"
    assert no_duplicate_model_calls(operated).held is False
    assert tools_exactly_once(operated).held is False

    keys = Trial()  # Prefect: the fresh flow run computes other cache keys
    keys.cache_key("faulted", "k-old", "run-1")
    keys.cache_key("resume-1", "k-new", "run-2", epoch="2.1")
    forced_keys = keys.evidence()
    assert stable_cache_keys(forced_keys).held is False
    forced_keys.extra["forced_fresh_run"] = True
    verdict = stable_cache_keys(forced_keys)
    assert verdict.held is None and "1 unit(s) got another cache key in the fresh run" in verdict.detail


def test_resend_after_a_checkpointed_unit_attempt_is_a_duplicate() -> None:
    trial = Trial()
    trial.model_request("faulted", M1, engine=task("r1"))
    trial.checkpoint("faulted", task("r1"))
    trial.model_request("faulted", M2, engine=task("r2"))
    trial.checkpoint("faulted", task("r2"))
    # the engine re-ran completed work instead of replaying it:
    trial.model_request("faulted", M1, attempt=2, engine=task("r3"))
    trial.model_request("faulted", M2, attempt=2, engine=task("r4"))
    calls = model_calls(trial.evidence())
    assert (calls.total, calls.duplicates, calls.expected_reexecutions) == (4, 2, 0)
    detail = no_duplicate_model_calls(trial.evidence()).detail
    # each named with the durable unit it ran in (in a plain flow: the user's own task)
    assert (
        "model_request #1 (gpt-4o) in task 'model_request_task', model_request #2 (gpt-4o) in task "
        "'model_request_task'" in detail
    )


def test_delivered_but_not_checkpointed_response_resent_is_an_expected_reexecution() -> None:
    """The response reached the agent, but the unit attempt that received it never completed (killed,
    or it failed later): the engine has nothing to replay, so re-sending is expected."""
    trial = Trial()
    trial.model_request("faulted", M1, engine=task("r1", 1))
    # the task attempt r1/1 dies before its result is persisted: no checkpoint for (r1, 1)
    trial.model_request("faulted", M1, attempt=2, engine=task("r1", 2))
    trial.checkpoint("faulted", task("r1", 2))
    evidence = trial.evidence()
    assert checkpoint_times(evidence) == {"fp-m1": evidence.events[-1]["t"]}
    calls = model_calls(evidence)
    assert (calls.total, calls.duplicates, calls.expected_reexecutions) == (2, 0, 1)
    assert no_duplicate_model_calls(evidence).held is True


def test_checkpoint_must_match_task_run_id_and_run_count() -> None:
    trial = Trial()
    trial.model_request("faulted", M1, engine=task("r1", 1))
    trial.checkpoint("faulted", task("r1", 2))  # another attempt of the same task run
    trial.checkpoint("faulted", task("other", 1))  # another task run, same attempt number
    trial.model_request("faulted", M1, attempt=2, engine=task("r1", 3))
    assert checkpoint_times(trial.evidence()) == {}
    assert model_calls(trial.evidence()).duplicates == 0


def test_checkpoint_time_is_the_earliest_checkpoint_of_the_request() -> None:
    trial = Trial()
    trial.model_request("faulted", M1, engine=task("r1"))
    trial.checkpoint("faulted", task("r1"))
    first = trial.t
    trial.model_request("resume-1", M1, attempt=2, engine=task("r2"))
    trial.checkpoint("resume-1", task("r2"))
    assert checkpoint_times(trial.evidence()) == {"fp-m1": first}


def test_checkpoints_without_engine_ids_and_tool_oks_are_ignored() -> None:
    trial = Trial()
    trial.event("faulted", "checkpoint", engine={})
    trial.event("faulted", "ok", unit("tool_call", "lookup", 1, "fp-m1"))  # a tool ok never checkpoints
    trial.send("faulted", M1)
    assert checkpoint_times(trial.evidence()) == {}
    assert model_calls(trial.evidence()).duplicates == 0


def test_no_duplicate_model_calls_holds_with_no_model_calls_at_all() -> None:
    verdict = no_duplicate_model_calls(Trial().evidence())
    assert verdict.held is True
    assert verdict.detail.startswith("0 model call(s)")


def test_an_error_status_passed_through_is_not_a_delivered_response() -> None:
    trial = Trial()
    trial.event("faulted", "invoke", M1)
    trial.send("faulted", M1, status=429, usage=(0, 0))
    trial.event("faulted", "ok", M1, status=429)  # what http._wrap records for an un-injected 429
    trial.model_request("faulted", M1, attempt=2)  # the SDK's own retry
    assert model_calls(trial.evidence()).duplicates == 0


# ------------------------------------------------------------------------------------------------ tokens


def test_no_faults_naive_equals_spent_equals_golden() -> None:
    trial = Trial()
    trial.golden_run()
    trial.model_request("faulted", M1)
    trial.tool_call("faulted", T1)
    trial.model_request("faulted", M2)
    evidence = trial.evidence()
    assert restart_losses(evidence) == 0
    tokens = token_use(evidence)
    assert tokens.golden == tokens.spent == tokens.naive_restart == GOLDEN_TOKENS
    assert tokens.saved == 0


def test_failing_fault_before_unit_2_loses_unit_1s_tokens() -> None:
    trial = Trial()
    trial.golden_run()
    trial.model_request("faulted", M1)
    trial.tool_call("faulted", T1)
    trial.model_request("faulted", M2, fault="http_error")
    trial.model_request("faulted", M2, attempt=2)
    evidence = trial.evidence()
    assert restart_losses(evidence) == 110
    tokens = token_use(evidence)
    assert (tokens.golden, tokens.spent, tokens.naive_restart, tokens.saved) == (330, 330, 440, 110)


def test_failing_fault_after_the_request_also_loses_the_struck_request() -> None:
    trial = Trial()
    trial.golden_run()
    trial.model_request("faulted", M1)
    trial.tool_call("faulted", T1)
    trial.model_request("faulted", M2, fault="timeout", phase="after")  # billed, then lost
    trial.model_request("faulted", M2, attempt=2)
    evidence = trial.evidence()
    assert restart_losses(evidence) == 110 + 220
    tokens = token_use(evidence)
    assert (tokens.golden, tokens.spent, tokens.naive_restart, tokens.saved) == (330, 550, 660, 110)


def test_fault_on_the_first_unit_loses_nothing_before_it() -> None:
    trial = Trial()
    trial.golden_run()
    trial.model_request("faulted", M1, fault="http_error")
    assert restart_losses(trial.evidence()) == 0


def test_tool_fault_loses_the_model_calls_before_the_tool() -> None:
    trial = Trial()
    trial.golden_run()
    trial.model_request("faulted", M1)
    trial.tool_call("faulted", T1, fault="tool_error", phase="after")  # a tool costs no tokens itself
    assert restart_losses(trial.evidence()) == 110


@pytest.mark.parametrize("kind", ["timeout", "http_error", "tool_error", "malformed_output", "kill"])
def test_every_failing_fault_kind_counts(kind: str) -> None:
    trial = Trial()
    trial.golden_run()
    trial.fault("faulted", M2, kind)
    assert restart_losses(trial.evidence()) == 110


def test_latency_faults_do_not_count() -> None:
    trial = Trial()
    trial.golden_run()
    trial.fault("faulted", M2, "latency", "before")
    trial.fault("faulted", M2, "latency", "after", index=1)
    trial.fault("faulted", T1, "latency")
    assert restart_losses(trial.evidence()) == 0
    assert token_use(trial.evidence()).naive_restart == GOLDEN_TOKENS


def test_several_faults_on_the_same_unit_count_once() -> None:
    trial = Trial()
    trial.golden_run()
    for attempt in (1, 2, 3):  # e.g. http_error with times: 3
        trial.fault("faulted", M2, "http_error", attempt=attempt)
    assert restart_losses(trial.evidence()) == 110
    trial.fault("faulted", M2, "timeout", "after", index=1, attempt=4)  # any after-phase strike adds M2
    trial.fault("resume-1", M2, "kill", attempt=5)
    assert restart_losses(trial.evidence()) == 110 + 220


def test_faults_on_different_units_each_force_a_restart() -> None:
    trial = Trial()
    trial.golden_run()
    trial.fault("faulted", T1, "tool_error")  # loses M1
    trial.fault("faulted", M2, "kill", "after")  # loses M1 and M2
    assert restart_losses(trial.evidence()) == 110 + 110 + 220


def test_faults_on_units_the_golden_run_never_made_are_ignored() -> None:
    trial = Trial()
    trial.golden_run()
    trial.fault("faulted", M3, "http_error", "after")
    assert restart_losses(trial.evidence()) == 0


def test_saved_can_be_negative_when_durability_costs_more_than_a_restart() -> None:
    trial = Trial()
    trial.golden_run()
    trial.model_request("faulted", M1, fault="http_error")  # nothing lost, naive == golden
    trial.model_request("faulted", M1, attempt=2)
    trial.model_request("faulted", M1, attempt=3)  # a needless extra send
    trial.model_request("faulted", M2)
    tokens = token_use(trial.evidence())
    assert (tokens.naive_restart, tokens.spent, tokens.saved) == (330, 440, -110)


# ------------------------------------------------------------------------------------------------ cache keys


def test_stable_cache_keys_is_not_applicable_without_cache_keys() -> None:
    trial = Trial()
    trial.cache_key("golden", "k1", "g1")  # golden observations are not judged
    verdict = stable_cache_keys(trial.evidence())
    assert verdict == Verdict(None, "the engine reported no unit identities (cache keys, steps) for this run")


def test_stable_cache_keys_holds_when_retries_and_resumes_keep_their_key() -> None:
    trial = Trial()
    trial.cache_key("faulted", "key-a", "r1", 1)
    trial.cache_key("faulted", "key-a", "r1", 2)  # a retry of the same task run
    trial.cache_key("faulted", "key-b", "r2", 1)  # a second model request task, other inputs
    trial.cache_key("faulted", "key-t", "t1", 1, name="lookup")
    trial.cache_key("faulted", "key-a", "r3", 1, epoch="2.2")  # the flow retried: new task runs
    trial.cache_key("faulted", "key-b", "r4", 1, epoch="2.2")
    evidence = trial.evidence()
    assert sorted(identities(evidence.faulted_events())) == [
        ("", "lookup#1"),
        ("", "model_request_task#1"),
        ("", "model_request_task#2"),
    ]
    verdict = stable_cache_keys(evidence)
    assert verdict == Verdict(True, "3 unit(s), 2 seen more than once, each with one cache key")


def test_stable_cache_keys_is_violated_when_a_retry_changes_the_key() -> None:
    trial = Trial()
    trial.cache_key("faulted", "aaaaaaaaaaaaaaaaaaaa", "r1", 1, name="get_time")
    trial.cache_key("faulted", "bbbbbbbbbbbbbbbbbbbb", "r1", 2, name="get_time")
    verdict = stable_cache_keys(trial.evidence())
    assert verdict.held is False
    assert "1 unit(s) changed cache key" in verdict.detail
    assert "get_time#1 of the root run" in verdict.detail
    assert "'aaaaaaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbbbbbb'" in verdict.detail
    assert "changes on every attempt" in verdict.detail  # Prefect's hint: inputs, not a new flow run


def test_stable_cache_keys_is_violated_when_a_new_epoch_changes_the_key_of_a_position() -> None:
    trial = Trial()
    trial.cache_key("faulted", "k1", "r1")
    trial.cache_key("faulted", "k2", "r2")
    trial.cache_key("faulted", "k1", "r3", epoch="2.2")
    trial.cache_key("faulted", "k2-changed", "r4", epoch="2.2")
    trial.cache_key("resume-1", "k1", "r5", epoch="3.3")
    verdict = stable_cache_keys(trial.evidence())
    assert verdict.held is False
    assert "model_request_task#2" in verdict.detail and "'k2', 'k2-changed'" in verdict.detail


# ------------------------------------------------------------------------------------------------ output


class Forecast(BaseModel):
    city: str
    temperatures: list[float]


def test_output_matches_golden_holds_for_equal_structured_outputs() -> None:
    trial = Trial()
    same = Forecast(city="Paris", temperatures=[20.5, 21.0])
    verdict = output_matches_golden(trial.evidence(output=same.model_copy(), golden_output=same))
    assert verdict == Verdict(True, "the output equals the golden run's")


def test_output_matches_golden_is_violated_and_names_the_first_difference() -> None:
    trial = Trial()
    verdict = output_matches_golden(
        trial.evidence(
            golden_output=Forecast(city="Paris", temperatures=[20.5, 21.0]),
            output=Forecast(city="Paris", temperatures=[20.5, 22.0]),
        )
    )
    assert verdict.held is False
    assert (
        verdict.detail == "the output differs from the golden run's at output.temperatures[1]: "
        "golden 21.0 vs faulted 22.0"
    )


def test_output_matches_golden_is_not_applicable_when_the_faulted_run_has_no_output() -> None:
    verdict = output_matches_golden(Trial().evidence(completed=False))
    assert verdict == Verdict(None, "the faulted run has no output to compare")


def test_jsonable_of_pydantic_models_and_nested_data() -> None:
    forecast = Forecast(city="Paris", temperatures=[1, 2.5])
    assert jsonable(forecast) == {"city": "Paris", "temperatures": [1.0, 2.5]}
    assert jsonable({1: (forecast, "x"), "k": [forecast]}) == {
        "1": [{"city": "Paris", "temperatures": [1.0, 2.5]}, "x"],
        "k": [{"city": "Paris", "temperatures": [1.0, 2.5]}],
    }
    assert jsonable("plain") == "plain" and jsonable(None) is None


def test_first_difference_paths() -> None:
    assert first_difference({"a": [1, {"b": 2}]}, {"a": [1, {"b": 2}]}) is None
    assert (
        first_difference({"a": [1, {"b": 2}]}, {"a": [1, {"b": 3}]}) == "output.a[1].b: golden 2 vs faulted 3"
    )
    assert first_difference([1, 2], [1, 2, 3]) == "output: golden [1, 2] vs faulted [1, 2, 3]"
    assert first_difference({"a": 1}, {"a": 1, "z": 2}) == "output.z: golden (missing) vs faulted 2"
    assert first_difference({"b": 1, "a": 1}, {"b": 2, "a": 2}) == "output.a: golden 1 vs faulted 2"  # sorted
    assert first_difference("x", {"x": 1}) == "output: golden 'x' vs faulted {'x': 1}"
    golden = jsonable(Forecast(city="A", temperatures=[]))
    assert (
        first_difference(golden, jsonable({"city": "B", "temperatures": []}))
        == "output.city: golden 'A' vs faulted 'B'"
    )


def test_first_difference_sees_a_missing_key_against_none() -> None:
    assert first_difference({"a": None}, {}) is not None


def test_first_difference_sees_a_bool_against_an_int() -> None:
    assert first_difference({"approved": True}, {"approved": 1}) is not None


# --------------------------------------------------------------------------------------------- check, judge


def test_check_runs_the_named_checkers_only() -> None:
    assert set(CHECKERS) == {
        "completes",
        "completes_within",
        "tools_exactly_once",
        "no_duplicate_model_calls",
        "stable_cache_keys",
        "output_matches_golden",
        "bounded_retries",
        "no_false_cache_sharing",
        "deterministic_replay",
        "no_stale_replay",
        "same_model_endpoint",
        "usage_consistent",
        "events_complete",
    }
    assert set(CHECKERS) == set(get_args(PropertyName))
    verdicts = check(Trial().evidence(), ["completes", "stable_cache_keys"])
    assert list(verdicts) == ["completes", "stable_cache_keys"]
    assert verdicts["completes"].held is True and verdicts["stable_cache_keys"].held is None
    assert verdicts["completes"].as_dict() == {"held": True, "detail": "the run completed; 0 fault(s) fired"}


HELD = Verdict(True, "fine")
NA = Verdict(None, "not applicable")


def violated(detail: str = "broken") -> Verdict:
    return Verdict(False, detail)


def test_judge_passes_when_nothing_is_violated() -> None:
    assert judge({"completes": HELD, "stable_cache_keys": NA}, [], []) == ("pass", "every property held")


def test_judge_passes_when_exactly_the_expected_violations_are_reported() -> None:
    verdicts = {"completes": HELD, "stable_cache_keys": violated(), "no_duplicate_model_calls": violated()}
    verdict, reason = judge(verdicts, ["stable_cache_keys", "no_duplicate_model_calls"], [])
    assert verdict == "pass"
    assert reason == (
        "the known-bad agent was caught: exactly no_duplicate_model_calls, stable_cache_keys "
        "violated, as expected"
    )


def test_judge_fails_when_an_expected_violation_is_missing() -> None:
    verdicts = {"stable_cache_keys": violated(), "no_duplicate_model_calls": HELD}
    verdict, reason = judge(verdicts, ["stable_cache_keys", "no_duplicate_model_calls"], [])
    assert verdict == "fail"
    assert reason == (
        "expected exactly ['no_duplicate_model_calls', 'stable_cache_keys'] to be violated, "
        "got ['stable_cache_keys']"
    )


def test_judge_fails_when_the_known_bad_agent_is_not_caught_at_all() -> None:
    verdict, reason = judge({"stable_cache_keys": NA}, ["stable_cache_keys"], [])
    assert verdict == "fail"
    assert reason.endswith("got no violation")


def test_judge_fails_when_an_extra_violation_appears() -> None:
    verdicts = {"stable_cache_keys": violated(), "completes": violated("did not finish")}
    verdict, _ = judge(verdicts, ["stable_cache_keys"], [])
    assert verdict == "fail"


def test_judge_fails_with_the_details_of_unexpected_violations() -> None:
    verdicts = {"completes": violated("the run did not complete"), "output_matches_golden": NA}
    assert judge(verdicts, [], []) == ("fail", "violated: completes: the run did not complete")


def test_judge_reports_errors_before_anything_else() -> None:
    verdicts = {"completes": violated()}
    assert judge(verdicts, ["completes"], ["fault #1 never fired", "cassette miss"]) == (
        "error",
        "fault #1 never fired; cassette miss",
    )


def test_judge_treats_expected_violations_as_a_set() -> None:
    verdict, _ = judge({"stable_cache_keys": violated()}, ["stable_cache_keys", "stable_cache_keys"], [])
    assert verdict == "pass"


# ------------------------------------------------------------------------------------- tools_exactly_once


def test_tools_exactly_once_not_applicable_without_side_effecting_tools() -> None:
    trial = Trial()
    trial.tool_call("faulted", T1)
    assert tools_exactly_once(trial.evidence()).held is None


def test_tools_exactly_once_holds_when_each_call_executes_once() -> None:
    trial = Trial()
    trial.golden_run()  # golden executions are never judged
    trial.tool_call("faulted", T1, fault="tool_error", phase="before")
    trial.tool_call("faulted", T1, attempt=2)
    verdict = tools_exactly_once(trial.evidence(side_effecting=("lookup",)))
    assert verdict.held is True
    assert "each executed exactly once" in verdict.detail


def test_tools_exactly_once_catches_a_re_execution_after_recovery_and_explains_dbos() -> None:
    trial = Trial()
    trial.tool_call("faulted", T1)
    trial.model_request("faulted", M2)
    trial.tool_call("resume-1", T1, attempt=2)  # a DBOS function tool runs again on recovery
    verdict = tools_exactly_once(trial.evidence(side_effecting=("lookup",), engine="dbos"))
    assert verdict.held is False
    assert "'lookup'" in verdict.detail and "ran 2 times" in verdict.detail
    assert "faulted, resume-1" in verdict.detail
    assert "@DBOS.step" in verdict.detail


def test_tools_exactly_once_names_the_at_least_once_window() -> None:
    trial = Trial()
    trial.tool_call("faulted", T1, fault="tool_error", phase="after")
    trial.tool_call("faulted", T1, attempt=2)
    verdict = tools_exactly_once(trial.evidence(side_effecting=("lookup",)))
    assert verdict.held is False
    assert "at-least-once window" in verdict.detail


REFUND = unit("tool_call", "send_refund", 1, "fp-r1")


def refund(trial: Trial, role: str, call_id: str, refund_id: str, attempt: int = 1, **fault: str) -> None:
    """One execution of ``send_refund`` as the tool injector records it: call id and arguments."""
    u = {**REFUND, "fingerprint": f"fp-{call_id}-{refund_id}"}
    trial.event(role, "invoke", u, attempt, call_id=call_id)
    trial.event(role, "execute", u, attempt, call_id=call_id, args={"refund_id": refund_id, "amount": 10})
    if fault:
        trial.fault(role, u, fault["kind"], "after", attempt=attempt)
        trial.event(role, "fail", u, attempt, error="RuntimeError: injected")
    else:
        trial.event(role, "ok", u, attempt)


BY_CALL_ID = {"send_refund": "call_id"}
BY_ARGUMENT = {"send_refund": {"argument": "refund_id"}}


@pytest.mark.parametrize("idempotency", [BY_CALL_ID, BY_ARGUMENT])
def test_tools_exactly_once_passes_an_idempotent_tool_re_executed_with_its_first_key(
    idempotency: dict[str, Any],
) -> None:
    trial = Trial()
    refund(trial, "golden", "call_1", "r-1")
    refund(trial, "faulted", "call_1", "r-1", kind="kill")  # killed in the at-least-once window
    refund(trial, "resume-1", "call_1", "r-1", attempt=2)
    evidence = trial.evidence(side_effecting=("send_refund",), idempotency=idempotency)
    verdict = tools_exactly_once(evidence)
    assert verdict.held is True, verdict.detail
    assert "2 execution(s) of idempotent tools" in verdict.detail
    # The same history fails a tool that is side-effecting but not declared idempotent.
    plain = tools_exactly_once(trial.evidence(side_effecting=("send_refund",)))
    assert plain.held is False and "deduplicate" in plain.detail


def test_tools_exactly_once_judges_observed_effects_over_declared_idempotency() -> None:
    """A tool declared idempotent that really wrote twice is caught on its observed effects; one that
    wrote no more than in the golden run holds, however often its body ran."""
    trial = Trial()
    refund(trial, "golden", "call_1", "r-1")
    refund(trial, "faulted", "call_1", "r-1", kind="kill")
    refund(trial, "resume-1", "call_1", "r-1", attempt=2)
    twice = trial.evidence(
        side_effecting=("send_refund",), idempotency=BY_ARGUMENT, effects={"send_refund": (1, 2)}
    )
    verdict = tools_exactly_once(twice)
    assert verdict.held is False
    assert "'send_refund' made 2 real effect(s)" in verdict.detail and "golden run made 1" in verdict.detail
    assert "at-least-once window" in verdict.detail and "deduplicate" in verdict.detail
    once = tools_exactly_once(
        trial.evidence(side_effecting=("send_refund",), effects={"send_refund": (1, 1)})
    )
    assert once.held is True, once.detail
    assert "'send_refund' made 1 real effect(s), the golden run 1" in once.detail


def test_a_repeated_mcp_call_gets_a_hint_for_mcp_calls_not_for_function_tools() -> None:
    mcp = unit("mcp", "ledger:post_entry", 1, "fp-m1")
    trial = Trial()
    for role, attempt in (("faulted", 1), ("resume-1", 2)):
        trial.event(role, "invoke", mcp, attempt)
        trial.event(role, "execute", mcp, attempt)
        trial.event(role, "ok", mcp, attempt)
    verdict = tools_exactly_once(trial.evidence(side_effecting=("post_entry",), engine="dbos"))
    assert verdict.held is False
    assert "MCP" in verdict.detail and "plain function tools" not in verdict.detail


def test_a_golden_run_that_fails_in_the_agents_code_violates_completes() -> None:
    evidence = Trial().evidence()
    broken = Evidence(
        RunOutcome("golden", False, error="DBOSMaxStepRetriesExceeded: step failed 3 times"),
        evidence.faulted,
        evidence.events,
        evidence.ledger,
        rules=evidence.rules,
    )
    verdict = completes(broken)
    assert verdict.held is False
    assert "the golden run (no faults) failed: DBOSMaxStepRetriesExceeded" in verdict.detail
    assert output_matches_golden(broken).held is None


def test_tools_exactly_once_catches_an_idempotency_key_that_changes_on_resume() -> None:
    trial = Trial()
    refund(trial, "golden", "call_1", "r-1")
    refund(trial, "faulted", "call_1", "r-1", kind="kill")
    refund(trial, "resume-1", "call_1", "r-2", attempt=2)  # broken: a fresh key on the re-execution
    verdict = tools_exactly_once(trial.evidence(side_effecting=("send_refund",), idempotency=BY_ARGUMENT))
    assert verdict.held is False
    assert "argument 'refund_id' 'r-1'" in verdict.detail and "carried 'r-2'" in verdict.detail
    assert "role resume-1" in verdict.detail


def test_tools_exactly_once_catches_a_tool_call_id_that_changes_on_retry() -> None:
    trial = Trial()
    refund(trial, "golden", "call_1", "r-1")
    refund(trial, "faulted", "call_1", "r-1", kind="tool_error")
    refund(trial, "faulted", "call_9", "r-1", attempt=2)  # the model call was re-run: a new call id
    verdict = tools_exactly_once(trial.evidence(side_effecting=("send_refund",), idempotency=BY_CALL_ID))
    assert verdict.held is False
    assert "tool call id 'call_1'" in verdict.detail and "carried 'call_9'" in verdict.detail


def test_tools_exactly_once_lets_distinct_idempotent_calls_have_distinct_keys() -> None:
    trial = Trial()
    refund(trial, "golden", "call_1", "r-1")
    refund(trial, "golden", "call_2", "r-2")  # two refunds with equal arguments but their own keys
    refund(trial, "faulted", "call_1", "r-1")
    refund(trial, "faulted", "call_2", "r-2")
    verdict = tools_exactly_once(trial.evidence(side_effecting=("send_refund",), idempotency=BY_ARGUMENT))
    assert verdict.held is True, verdict.detail


def test_tools_exactly_once_catches_an_idempotent_call_without_its_key_argument() -> None:
    trial = Trial()
    trial.event("faulted", "execute", REFUND, 1, call_id="call_1", args={"amount": 10})
    verdict = tools_exactly_once(trial.evidence(side_effecting=("send_refund",), idempotency=BY_ARGUMENT))
    assert verdict.held is False and "without its idempotency key" in verdict.detail


def test_tools_exactly_once_ignores_tools_not_marked_side_effecting() -> None:
    trial = Trial()
    trial.tool_call("faulted", T1)
    trial.tool_call("resume-1", T1, attempt=2)
    assert tools_exactly_once(trial.evidence(side_effecting=("send_email",))).held is True


def test_tools_exactly_once_does_not_count_a_call_whose_journaled_step_was_replayed() -> None:
    trial = Trial()
    trial.tool_call("faulted", T1)
    trial.event("resume-1", "invoke", T1, 2, call_id="call_1")
    trial.event("resume-1", "execute", T1, 2)
    trial.event(
        "resume-1", "ok", T1, 2, replayed=["load_dataset_step"]
    )  # the engine answered from its journal
    assert tools_exactly_once(trial.evidence(side_effecting=("lookup",), engine="dbos")).held is True


def step(workflow: str, step_id: int) -> dict[str, Any]:
    """Engine identifiers of a DBOS step, as the DBOS adapter reports them."""
    return {"workflow_id": workflow, "step_id": step_id, "step_attempt": None, "pid": 1}


def test_dbos_response_delivered_but_step_not_journaled_before_the_kill_is_not_a_duplicate() -> None:
    trial = Trial()
    trial.model_request("faulted", M1, engine=step("wf-1", 1))  # delivered, then the kill: no checkpoint
    trial.model_request("resume-1", M1, attempt=2, engine=step("wf-1", 1))
    calls = model_calls(trial.evidence(engine="dbos"))
    assert calls.duplicates == 0 and calls.expected_reexecutions == 1


def test_dbos_response_re_sent_after_its_step_was_journaled_is_a_duplicate() -> None:
    trial = Trial()
    trial.model_request("faulted", M1, engine=step("wf-1", 1))
    trial.checkpoint(
        "faulted", {"workflow_id": "wf-1", "function_id": 1, "function_name": "m", "error": False}
    )
    trial.model_request("resume-1", M1, attempt=2, engine=step("wf-1-fresh-1", 1))
    assert model_calls(trial.evidence(engine="dbos")).duplicates == 1


# ------------------------------------------------------------------------------------------ completes_within


def test_completes_within_is_not_applicable_without_a_bound() -> None:
    assert completes_within(Trial().evidence()) == Verdict(
        None, "no bound set (expect.max_resumes_to_complete)"
    )


def resumed(trial: Trial, times: int) -> Trial:
    """The faulted run killed ``times`` times, each kill followed by a resume."""
    trial.event("faulted", "run_start")
    for n in range(1, times + 1):
        trial.fault("faulted" if n == 1 else f"resume-{n - 1}", M1, "kill", index=n - 1)
        trial.event("faulted", "killed", exit_code=-9)
        trial.event(f"resume-{n}", "run_start", resume=True)
    return trial


def test_completes_within_holds_when_the_resumes_fit_the_bound() -> None:
    evidence = resumed(Trial(), 1).evidence(max_resumes_to_complete=1)
    assert evidence.resumes() == 1
    assert completes_within(evidence) == Verdict(True, "the run completed after 1 resume(s); the bound is 1")
    assert completes_within(Trial().evidence(max_resumes_to_complete=0)).held is True


def test_completes_within_is_violated_when_the_run_needed_more_resumes() -> None:
    verdict = completes_within(resumed(Trial(), 2).evidence(max_resumes_to_complete=1))
    assert verdict.held is False
    assert "completed only after 2 resume(s), more than the bound of 1" in verdict.detail
    assert "killed 2 time(s)" in verdict.detail


def test_completes_within_is_violated_when_the_run_never_completed() -> None:
    evidence = resumed(Trial(), 1).evidence(
        completed=False, error="RuntimeError: boom", max_resumes_to_complete=3
    )
    verdict = completes_within(evidence)
    assert verdict.held is False
    assert "did not complete within 3 resume(s): it used 1" in verdict.detail


# -------------------------------------------------------------------------------------------- bounded_retries


def attempt_of(run_id: str, count: int, allowed: int = 4, epoch: str = "1.1") -> dict[str, Any]:
    """Engine ids of one Prefect task attempt whose task allows ``allowed`` attempts."""
    return {**task(run_id, count, epoch=epoch), "max_attempts": allowed}


def test_bounded_retries_is_not_applicable_without_an_engine_retry_policy() -> None:
    trial = Trial()
    trial.model_request("faulted", M1)  # no engine ids: not inside a durable unit
    assert bounded_retries(trial.evidence()).held is None


def test_bounded_retries_holds_when_the_task_retries_within_its_policy() -> None:
    trial = Trial()
    for count in (1, 2, 3, 4):  # retries=3: 4 attempts allowed, the last one succeeds
        trial.model_request(
            "faulted", M1, count, attempt_of("r1", count), fault="http_error" if count < 4 else None
        )
    verdict = bounded_retries(trial.evidence())
    assert verdict.held is True
    assert "model_request #1 (gpt-4o), made 4 of 4 allowed attempt(s)" in verdict.detail


def test_sdk_retries_inside_one_engine_attempt_are_one_attempt() -> None:
    trial = Trial()
    for send in (1, 2, 3):  # the OpenAI SDK's own retries: three sends, one task attempt
        trial.model_request("faulted", M1, send, attempt_of("r1", 1, allowed=1), fault="http_error")
    trial.model_request("faulted", M1, 4, attempt_of("r1", 1, allowed=1))
    assert bounded_retries(trial.evidence()).held is True


def test_bounded_retries_catches_a_retry_loop_around_the_engine() -> None:
    """A user loop around agent.run starts the same request again as new task runs, in the same flow
    attempt: their attempts add up beyond the task's policy."""
    trial = Trial()
    for count in (1, 2, 3, 4):
        trial.model_request("faulted", M1, count, attempt_of("r1", count), fault="http_error")
    trial.model_request("faulted", M1, 5, attempt_of("r2", 1))  # the loop's second agent.run
    verdict = bounded_retries(trial.evidence())
    assert verdict.held is False
    assert "model_request #1 (gpt-4o) made 5 engine-level attempts in role faulted" in verdict.detail
    assert "policy allows 4, as 2 separate task runs (5 HTTP send(s) or calls in all)" in verdict.detail
    assert "retry loop around agent.run" in verdict.detail


def test_a_new_flow_attempt_or_a_new_process_starts_counting_again() -> None:
    trial = Trial()
    for count in (1, 2):
        trial.tool_call("faulted", T1, count, attempt_of("t1", count, allowed=2), fault="tool_error")
    trial.tool_call("faulted", T1, 3, attempt_of("t2", 1, allowed=2, epoch="2.2"))  # the flow retried
    trial.tool_call("resume-1", T1, 4, attempt_of("t3", 1, allowed=2, epoch="3.1"))  # a resume
    assert bounded_retries(trial.evidence()).held is True


def test_bounded_retries_counts_dbos_step_attempts() -> None:
    def dbos_attempt(step_id: int, attempt: int | None, allowed: int = 3) -> dict[str, Any]:
        return {**step("wf-1", step_id), "step_attempt": attempt, "max_attempts": allowed}

    trial = Trial()
    for attempt in (0, 1, 2):
        trial.model_request("faulted", M1, attempt + 1, dbos_attempt(1, attempt), fault="http_error")
    assert bounded_retries(trial.evidence(engine="dbos")).held is True
    trial.model_request("faulted", M1, 4, dbos_attempt(2, 0))  # the same request, a new step
    assert bounded_retries(trial.evidence(engine="dbos")).held is False


# ------------------------------------------------------------------------------------ step identity (DBOS)


def journaled(
    trial: Trial,
    role: str,
    workflow: str,
    step_id: int,
    name: str,
    event: str = "checkpoint",
    roots: tuple[str, ...] = ("wf-golden", "wf-faulted"),
    **extra: Any,
) -> None:
    """A step DBOS journaled (or replayed), and its identity, as the DBOS adapter records them."""
    step = {"workflow_id": workflow, "function_id": step_id, "function_name": name}
    trial.event(role, event, engine={**step, "error": False})
    scope = relative_workflow(workflow, list(roots))
    trial.event(
        role, "identity", engine={**step, "scope": scope, "position": step_id, "identity": name, **extra}
    )


def dbos_run(trial: Trial, role: str, root: str, names: list[str]) -> None:
    for step_id, name in enumerate(names, start=1):
        journaled(trial, role, root, step_id, name)


DOWNLOAD, MODEL = "data_analyst.download_dataset", "data_analyst_dbos__model.request"


def test_step_identity_holds_when_every_execution_calls_the_same_steps() -> None:
    trial = Trial()
    dbos_run(trial, "golden", "wf-golden", [DOWNLOAD, MODEL, MODEL])
    dbos_run(trial, "faulted", "wf-faulted", [DOWNLOAD, MODEL])
    journaled(trial, "resume-1", "wf-faulted", 1, DOWNLOAD, "replay")  # recovery replays them
    journaled(trial, "resume-1", "wf-faulted", 2, MODEL, "replay")
    journaled(trial, "resume-1", "wf-faulted", 3, MODEL)
    verdict = stable_cache_keys(trial.evidence(engine="dbos"))
    assert verdict == Verdict(
        True,
        "3 unit(s), 2 seen more than once, each with one step function; 3 of them paired with the golden "
        "run's, all the same",
    )


def test_step_identity_surfaces_dbos_refusing_a_nondeterministic_recovery() -> None:
    trial = Trial()
    dbos_run(trial, "golden", "wf-golden", [DOWNLOAD, MODEL, MODEL])
    dbos_run(trial, "faulted", "wf-faulted", [DOWNLOAD, MODEL])
    trial.event(
        "resume-1",
        "identity",
        engine={
            "workflow_id": "wf-faulted",
            "scope": "",
            "position": 1,
            "identity": MODEL,
            "recorded": DOWNLOAD,
            "error": "DBOSUnexpectedStepError: During execution of workflow wf-faulted step 1, ...",
        },
    )
    evidence = trial.evidence(completed=False, error="DBOSUnexpectedStepError: ...", engine="dbos")
    verdict = stable_cache_keys(evidence)
    assert verdict.held is False
    assert f"1 of the root run had step functions {DOWNLOAD!r}, {MODEL!r}" in verdict.detail
    assert "DBOS refused to recover it (DBOSUnexpectedStepError) in role resume-1" in verdict.detail
    assert "not deterministic" in verdict.detail
    assert "see stable_cache_keys" in completes(evidence).detail


def test_step_identity_catches_a_step_journaled_twice_under_different_names() -> None:
    trial = Trial()
    journaled(trial, "faulted", "wf-faulted", 2, "a")
    journaled(trial, "resume-1", "wf-faulted", 2, "b", "replay")
    verdict = stable_cache_keys(trial.evidence(engine="dbos"))
    assert verdict.held is False and "(roles faulted, resume-1)" in verdict.detail


def test_step_identity_compares_the_faulted_run_with_the_golden_run_modulo_ids() -> None:
    trial = Trial()
    dbos_run(trial, "golden", "wf-golden", [DOWNLOAD, MODEL])
    journaled(trial, "golden", "wf-golden-2-1", 1, "child_model")  # a child workflow started at step 2
    dbos_run(trial, "faulted", "wf-faulted", [DOWNLOAD, MODEL])
    journaled(trial, "faulted", "wf-faulted-2-1", 1, "child_model")
    assert stable_cache_keys(trial.evidence(engine="dbos")).held is True
    journaled(trial, "faulted", "wf-faulted-2-1", 2, "other")  # steps the golden run never made: fine
    assert stable_cache_keys(trial.evidence(engine="dbos")).held is True

    diverged = Trial()
    dbos_run(diverged, "golden", "wf-golden", [DOWNLOAD, MODEL, MODEL])
    dbos_run(diverged, "faulted", "wf-faulted", [MODEL, MODEL])  # skipped the download
    verdict = stable_cache_keys(diverged.evidence(engine="dbos"))
    assert verdict.held is False
    assert f"first: 1 of the root run was {DOWNLOAD!r} in the golden run and {MODEL!r}" in verdict.detail


def test_step_identity_compares_paths_modulo_the_engines_durable_sleep_before_a_retry() -> None:
    """A 429 with Retry-After beyond the SDK's retries: pydantic-ai ends the DBOS model step returning
    the wait, sleeps with DBOS.sleep (a journaled step) and sends the request again as a new step, so
    every later step id shifts. That is the engine's own reaction, not another path."""
    trial = Trial()
    dbos_run(trial, "golden", "wf-golden", [MODEL, DOWNLOAD, MODEL])
    storm = [MODEL, "DBOS.sleep", MODEL, "DBOS.sleep", MODEL, DOWNLOAD, MODEL, "DBOS.sleep", MODEL]
    dbos_run(trial, "faulted", "wf-faulted", storm)
    verdict = stable_cache_keys(trial.evidence(engine="dbos"))
    assert verdict.held is True, verdict.detail
    assert "3 of them paired" in verdict.detail and "modulo 3 wait(s)" in verdict.detail

    # A sleep that is not between two attempts of one unit is compared like any other step.
    moved = Trial()
    dbos_run(moved, "golden", "wf-golden", [MODEL, DOWNLOAD, MODEL])
    dbos_run(moved, "faulted", "wf-faulted", [MODEL, "DBOS.sleep", DOWNLOAD, MODEL])
    verdict = stable_cache_keys(moved.evidence(engine="dbos"))
    assert verdict.held is False and "'DBOS.sleep' in the faulted run" in verdict.detail

    # The same shape on an engine that declares no such reaction is a divergence.
    other = Trial()
    dbos_run(other, "golden", "wf-golden", [MODEL, DOWNLOAD])
    dbos_run(other, "faulted", "wf-faulted", [MODEL, "DBOS.sleep", MODEL, DOWNLOAD])
    assert stable_cache_keys(other.evidence(engine="restate")).held is False


def test_step_identity_pairs_by_position_when_one_run_reports_a_unit_the_other_does_not() -> None:
    """A recovered DBOS run reports the child workflow it started at step 2 (its identity read back from
    the journal) where the golden run reported nothing at that step: steps 4.. are still the same steps,
    compared position by position, not shifted onto each other in order."""
    golden, faulted = [MODEL, None, None, MODEL, "publish_step", MODEL], [MODEL, "search.run"]
    faulted += [None, MODEL, "publish_step", MODEL]
    trial = Trial()
    for role, root, names in (("golden", "wf-golden", golden), ("faulted", "wf-faulted", faulted)):
        for step_id, name in enumerate(names, start=1):
            if name is not None:
                journaled(trial, role, root, step_id, name)
    verdict = stable_cache_keys(trial.evidence(engine="dbos"))
    assert verdict.held is True, verdict.detail
    assert "4 of them paired" in verdict.detail

    # With an engine reaction as well, the retry's shift applies after it and the gap stays a gap.
    storm = Trial()
    dbos_run(storm, "golden", "wf-golden", [MODEL, DOWNLOAD, MODEL])
    journaled(storm, "faulted", "wf-faulted", 1, MODEL)
    journaled(storm, "faulted", "wf-faulted", 2, "DBOS.sleep")
    journaled(storm, "faulted", "wf-faulted", 3, MODEL)
    journaled(storm, "faulted", "wf-faulted", 5, MODEL)  # step 4 (the download) reported by no one
    verdict = stable_cache_keys(storm.evidence(engine="dbos"))
    assert verdict.held is True and "2 of them paired" in verdict.detail, verdict.detail
    journaled(storm, "faulted", "wf-faulted", 4, MODEL)  # but a real divergence at step 4 is caught
    verdict = stable_cache_keys(storm.evidence(engine="dbos"))
    assert verdict.held is False and f"first: 2 of the root run was {DOWNLOAD!r}" in verdict.detail


def test_step_identity_does_not_compare_with_golden_after_a_fault_that_changes_the_conversation() -> None:
    trial = Trial()
    dbos_run(trial, "golden", "wf-golden", [MODEL, MODEL])
    trial.fault("faulted", M1, "malformed_output", "after")
    dbos_run(trial, "faulted", "wf-faulted", [MODEL, "retry_tool", MODEL])
    verdict = stable_cache_keys(trial.evidence(engine="dbos"))
    assert verdict.held is True and "malformed_output fault legitimately changed" in verdict.detail


def test_step_identity_pairs_a_fresh_run_with_the_golden_run() -> None:
    trial = Trial()
    roots = ("wf-faulted-fresh-1", "wf-faulted")
    dbos_run(trial, "golden", "wf-golden", [MODEL, MODEL])
    dbos_run(trial, "faulted", "wf-faulted", [MODEL])
    for step_id in (1, 2):
        journaled(trial, "resume-1", "wf-faulted-fresh-1", step_id, MODEL, roots=roots)
    journaled(trial, "resume-1", "wf-faulted-fresh-1-3", 1, "child", roots=roots)  # not in golden
    assert relative_workflow("wf-faulted-fresh-1-3", ["wf-faulted", "wf-faulted-fresh-1"]) == "-3"
    assert stable_cache_keys(trial.evidence(engine="dbos")).held is True


def test_deterministic_replay_is_not_applicable_without_a_replay_check() -> None:
    verdict = CHECKERS["deterministic_replay"](Trial().evidence(engine="dbos"))
    assert verdict.held is None and "no replay check" in verdict.detail


def test_an_undecided_replay_check_is_infrastructure_not_a_divergence() -> None:
    trial = Trial()
    trial.event("faulted", "replay_check", problems=[], undecided="[TMPRL1101] Potential deadlock detected")
    verdict = CHECKERS["deterministic_replay"](trial.evidence())
    assert verdict.held is None and "infrastructure, not of the workflow" in verdict.detail
    trial.event("faulted", "replay_check", problems=["workflow wf-1 event 7: activity b instead of a"])
    assert CHECKERS["deterministic_replay"](trial.evidence()).held is False  # a divergence still counts


def test_deterministic_replay_judges_the_engines_replay_check() -> None:
    trial = Trial()
    trial.event("faulted", "replay_check", problems=[])
    assert CHECKERS["deterministic_replay"](trial.evidence()).held is True
    trial.event("faulted", "replay_check", problems=["workflow wf-1 event 7: activity b instead of a"])
    verdict = CHECKERS["deterministic_replay"](trial.evidence())
    assert verdict.held is False and "event 7" in verdict.detail and "workflow.now()" in verdict.detail


# ----------------------------------------------------------------------------------- output comparator


def test_output_matches_golden_uses_the_scenarios_comparator() -> None:
    def same_but_time(golden: Any, faulted: Any) -> bool:
        return bool(golden["v"] == faulted["v"])

    evidence = Trial().evidence(
        golden_output={"v": 1, "at": "10:00"},
        output={"v": 1, "at": "10:05"},
        comparator=same_but_time,
        comparator_name="m:same_but_time",
    )
    assert output_matches_golden(evidence) == Verdict(
        True, "the output equals the golden run's by comparator m:same_but_time"
    )
    other = Trial().evidence(
        golden_output={"v": 1}, output={"v": 2}, comparator=same_but_time, comparator_name="m:same_but_time"
    )
    assert output_matches_golden(other) == Verdict(
        False, "the output differs from the golden run's by comparator m:same_but_time (golden vs faulted)"
    )


def test_a_comparator_may_give_its_reason_and_a_failing_one_is_a_violation() -> None:
    def with_reason(golden: Any, faulted: Any) -> tuple[bool, str]:
        return False, "the totals differ"

    def broken(golden: Any, faulted: Any) -> bool:
        raise KeyError("summary")

    verdict = output_matches_golden(Trial().evidence(comparator=with_reason, comparator_name="m:with_reason"))
    assert (
        verdict.detail
        == "the output differs from the golden run's by comparator m:with_reason: the totals differ"
    )
    verdict = output_matches_golden(Trial().evidence(comparator=broken, comparator_name="m:broken"))
    assert verdict.held is False and "comparator m:broken, which raised KeyError" in verdict.detail


def test_the_comparator_receives_jsonable_values() -> None:
    seen: list[Any] = []

    def record(golden: Any, faulted: Any) -> bool:
        seen.extend([golden, faulted])
        return True

    same = Forecast(city="Paris", temperatures=[1.0])
    output_matches_golden(Trial().evidence(golden_output=same, output=same, comparator=record))
    assert seen == [{"city": "Paris", "temperatures": [1.0]}] * 2


# ------------------------------------------------------------------------------------ no_false_cache_sharing


V1 = unit("model_request", "gpt-4o", 1, "fp-v1")
V2 = unit("model_request", "gpt-4o", 2, "fp-v2")
USAGE.update({"fp-v1": (100, 10), "fp-v2": (200, 20)})


def variant_runs(
    trial: Trial, shared_sends: list[dict[str, Any]], *, shared_completed: bool = True, output: Any = "v"
) -> VariantRuns:
    """The variant ``q3``: in a fresh context it sends V1 and V2; in the shared one, what is given."""
    for u in (V1, V2):
        trial.model_request("reference:q3", u)
    for u in shared_sends:
        trial.model_request("variant:q3", u)
    return VariantRuns(
        "q3",
        reference=RunOutcome("reference:q3", True, output="v"),
        shared=RunOutcome(
            "variant:q3", shared_completed, output=output, error=None if shared_completed else "Boom: x"
        ),
    )


def test_no_false_cache_sharing_is_not_applicable_without_variants() -> None:
    assert no_false_cache_sharing(Trial().evidence()).held is None


def test_no_false_cache_sharing_holds_when_each_variant_sends_its_own_requests() -> None:
    trial = Trial()
    trial.golden_run()
    variants = (variant_runs(trial, [V1, V2]),)
    evidence = trial.evidence(variants=variants)
    assert no_false_cache_sharing(evidence).held is True
    assert model_calls(evidence).total == 0  # variant runs are not the faulted run
    assert evidence.faulted_events() == [] and len(evidence.golden_ledger()) == 2


def test_a_variant_answered_from_another_runs_cache_is_false_sharing() -> None:
    trial = Trial()
    trial.golden_run()
    variants = (variant_runs(trial, [V1]),)  # V2's response came from the golden run's cache entry
    verdict = no_false_cache_sharing(trial.evidence(variants=variants))
    assert verdict.held is False
    assert "variant 'q3' sent 1 of the 2 model request(s)" in verdict.detail
    assert "model_request #2 (gpt-4o) got a result cached for a different request" in verdict.detail


def test_reusing_an_identical_request_of_another_run_is_not_false_sharing() -> None:
    trial = Trial()
    trial.model_request("golden", V1)  # the golden run made the very same request
    variants = (variant_runs(trial, [V2]),)
    assert no_false_cache_sharing(trial.evidence(variants=variants)).held is True


def test_a_variant_that_changes_only_a_later_request_is_judged_on_that_request() -> None:
    # Other run metadata that only a tool reads: the first request is the golden run's own (legitimately
    # shared), the second carries the tool's other result; answered from the cache, it was never sent.
    trial = Trial()
    trial.model_request("golden", V1)
    trial.model_request("golden", M2)
    shared = (variant_runs(trial, []),)
    verdict = no_false_cache_sharing(trial.evidence(variants=shared))
    assert verdict.held is False and "sent 1 of the 2" in verdict.detail
    assert "model settings" in verdict.detail
    trial = Trial()
    trial.model_request("golden", V1)
    assert no_false_cache_sharing(trial.evidence(variants=(variant_runs(trial, [V2]),))).held is True


def test_a_variant_that_fails_or_answers_differently_in_the_shared_context_is_false_sharing() -> None:
    trial = Trial()
    failed = (variant_runs(trial, [V1, V2], shared_completed=False),)
    assert (
        "failed after the other runs had filled the shared one"
        in no_false_cache_sharing(trial.evidence(variants=failed)).detail
    )
    trial = Trial()
    other = (variant_runs(trial, [V1, V2], output="golden answer"),)
    verdict = no_false_cache_sharing(trial.evidence(variants=other))
    assert verdict.held is False
    assert "fresh context 'v' vs shared context 'golden answer'" in verdict.detail


# --------------------------------------------------------------------------------- configured properties


def test_default_properties_and_configured_ones() -> None:
    plain = Expect()
    assert plain.checked(has_variants=False) == list(DEFAULT_PROPERTIES)
    assert "bounded_retries" in plain.checked(False) and "completes_within" not in plain.checked(False)
    bounded = Expect(max_resumes_to_complete=1)
    assert bounded.checked(has_variants=True)[-2:] == ["completes_within", "no_false_cache_sharing"]
    assert (
        Expect(violations=["completes_within"], max_resumes_to_complete=0).checked(False)[-1]
        == "completes_within"
    )
    listed = Expect(properties=["completes"], violations=["completes"])
    assert listed.checked(has_variants=True) == ["completes"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"violations": ["completes_within"]}, "completes_within needs a bound"),
        ({"properties": ["completes"], "max_resumes_to_complete": 1}, "would never be checked"),
        ({"properties": ["completes"], "violations": ["bounded_retries"]}, "must also be listed"),
        ({"comparator": "not an import path"}, "String should match pattern"),
    ],
)
def test_expect_rejects_inconsistent_configuration(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Expect.model_validate(fields)


def test_variants_are_required_by_no_false_cache_sharing_and_must_change_an_input() -> None:
    base = {
        "schema_version": 1,
        "name": "s",
        "agent": "m:a",
        "engines": ["prefect"],
        "prompt": "p",
        "cassette": "c.yaml",
        "plans": [{"name": "p"}],
    }
    with pytest.raises(ValidationError, match="no_false_cache_sharing needs 'variants'"):
        Scenario.model_validate({**base, "expect": {"violations": ["no_false_cache_sharing"]}})
    with pytest.raises(ValidationError, match="must give another 'prompt' or other 'args'"):
        Scenario.model_validate({**base, "variants": [{"name": "v"}]})
    scenario = Scenario.model_validate({**base, "variants": [{"name": "v", "prompt": "q"}]})
    assert scenario.properties_for(scenario.plans[0])[-1] == "no_false_cache_sharing"


MCP1 = unit("mcp", "ledger:record_invoice", 1, "fp-mcp1")
MCP_LIST = unit("mcp", "ledger:tools/list", 2, "fp-mcp-list")


def test_tools_exactly_once_catches_an_mcp_tool_re_executed_after_a_kill() -> None:
    trial = Trial()
    trial.tool_call("faulted", MCP1)
    trial.model_request("faulted", M2)
    trial.tool_call("resume-1", MCP1, attempt=2)  # the MCP task's result was not replayed
    verdict = tools_exactly_once(trial.evidence(side_effecting=("record_invoice",)))
    assert verdict.held is False
    assert "'ledger:record_invoice'" in verdict.detail and "ran 2 times" in verdict.detail


def test_tools_exactly_once_holds_for_an_mcp_tool_executed_once_and_accepts_the_full_name() -> None:
    trial = Trial()
    trial.tool_call("faulted", MCP1, fault="tool_error", phase="before")  # failed before it ran
    trial.tool_call("faulted", MCP1, attempt=2)
    trial.tool_call("faulted", MCP_LIST)
    trial.tool_call("resume-1", MCP_LIST, attempt=2)  # listings are never side effects
    for name in ("record_invoice", "ledger:record_invoice"):
        verdict = tools_exactly_once(trial.evidence(side_effecting=(name,)))
        assert verdict.held is True, verdict.detail
        assert "1 side-effecting call(s)" in verdict.detail


def test_tools_exactly_once_does_not_take_a_bare_name_for_another_servers_function_tool() -> None:
    trial = Trial()
    trial.tool_call("faulted", unit("tool_call", "ledger:record_invoice", 1, "fp-x"))
    trial.tool_call("resume-1", unit("tool_call", "ledger:record_invoice", 1, "fp-x"), attempt=2)
    assert tools_exactly_once(trial.evidence(side_effecting=("record_invoice",))).held is True


def test_counts_of_concurrent_model_requests_are_marked_as_depending_on_scheduling() -> None:
    sequential = Trial()
    sequential.golden_run()
    assert model_calls(sequential.evidence()).concurrent == 0
    fan_out = Trial()
    for u in (M1, M2):  # both sent before either answered: a concurrent fan-out
        fan_out.event("golden", "invoke", u, 1, {})
    for u in (M1, M2):
        fan_out.event("golden", "ok", u, 1, {})
    calls = model_calls(fan_out.evidence())
    assert calls.concurrent == 2
    detail = no_duplicate_model_calls(fan_out.evidence()).detail
    assert "counts depend on scheduling: 2 model requests" in detail
