"""Upgrade safety (docs/upgrades.md): a run started on version N resumes on version N+1.

The schema (``upgrade: {to, wait}``, errors naming file:line:field) and, per engine, one safe upgrade
that must hold and one known-bad upgrade that must be caught with exactly its violation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from durable_chaos.infra.engines import RunOutcome, engine_spec
from durable_chaos.judge.checkers import CHECKERS, deterministic_replay
from durable_chaos.judge.evidence import Evidence
from durable_chaos.judge.upgrades import changed_components, restored_stale
from durable_chaos.run.results import TrialResult
from durable_chaos.run.runner import TrialRunner
from durable_chaos.scenario.errors import ScenarioError
from durable_chaos.scenario.model import DEFAULT_UPGRADE_WAIT, Upgrade
from durable_chaos.scenario.read import load_scenario
from durable_chaos.scenario.trial_specs import TrialSpec

UPGRADES = Path(__file__).resolve().parent.parent / "scenarios" / "upgrade"

BASE = """\
schema_version: 1
name: demo
entry: app_v1:run
engines: [dbos]
cassette: cassettes/demo.yaml
upgrade: {UPGRADE}
plans:
  - name: one
    faults:
      - {FAULT}
"""
KILL = "{kind: kill, at: {kind: model_request, occurrence: 2}}"


def scenario_file(tmp_path: Path, upgrade: str, fault: str = KILL) -> Path:
    path = tmp_path / "demo.yaml"
    path.write_text(BASE.replace("{UPGRADE}", upgrade).replace("{FAULT}", fault))
    return path


def test_an_upgrade_names_the_n_plus_1_target_and_a_wait_limit(tmp_path: Path) -> None:
    scenario = load_scenario(scenario_file(tmp_path, '{to: "app_v2:run"}'))
    assert scenario.upgrade == Upgrade(to="app_v2:run", wait=DEFAULT_UPGRADE_WAIT, python=None)
    assert (scenario.version_path(False), scenario.version_path(True)) == ("app_v1:run", "app_v2:run")
    plain = load_scenario(scenario_file(tmp_path, "null"))
    assert plain.upgrade is None and plain.version_path(True) == "app_v1:run"


@pytest.mark.parametrize(
    ("upgrade", "fault", "message"),
    [
        ('{to: "app_v1:run"}', KILL, "an upgrade needs 'to' (N+1's module:attribute, not the scenario's own"),
        ("{wait: 5}", KILL, "'python' (an interpreter with the upgraded libraries), or both"),
        ('{to: "app_v2:run", wait: 0}', KILL, "upgrade.wait: Input should be greater than 0"),
        ('{to: "not a path"}', KILL, "upgrade.to: String should match pattern"),
        ('{to: "app_v2:run"}', "{kind: timeout, at: {kind: model_request}}", "plan(s) ['one'] kill nothing"),
        ('{to: "app_v2:run", venv: .venv}', KILL, "upgrade.venv: unknown field"),
    ],
)
def test_a_bad_upgrade_is_an_error_naming_its_line_and_field(
    tmp_path: Path, upgrade: str, fault: str, message: str
) -> None:
    path = scenario_file(tmp_path, upgrade, fault)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value).startswith(f"{path}:6: upgrade"), str(caught.value)
    assert message in str(caught.value)


def run_upgrade(runner: TrialRunner, file: str, **upgrade: object) -> TrialResult:
    scenario = load_scenario(UPGRADES / file)
    if upgrade:
        assert scenario.upgrade is not None
        changed = scenario.upgrade.model_copy(update=upgrade)
        scenario = scenario.model_copy(update={"upgrade": changed}).located(scenario.path)
    return runner.run(TrialSpec(scenario, scenario.engines[0], scenario.plans[0]))


def violated(result: TrialResult) -> set[str]:
    return {name for name, verdict in result.verdicts.items() if verdict.held is False}


def test_dbos_with_a_pinned_application_version_resumes_on_the_new_release(runner: TrialRunner) -> None:
    """The safe twin of both the unpinned edit and the Temporal instructions change: N+1 recovers the
    run, and every request after the deploy carries N+1's instructions."""
    result = run_upgrade(runner, "dbos_new_instructions.yaml")
    assert result.verdict == "pass", result.reason
    assert violated(result) == set()
    assert result.upgrade is not None
    assert {k: result.upgrade[k] for k in ("from", "to", "resumed_on_n_plus_1")} == {
        "from": "report_dbos_v1:report",
        "to": "report_dbos_v2_instructions:report",
        "resumed_on_n_plus_1": True,
    }
    assert set(result.upgrade["environments"]) == {"N", "N+1"}  # the report says what ran where
    started = [(e["role"], e.get("version")) for e in result.events if e["event"] == "run_start"]
    assert started == [("golden", "N"), ("reference:_upgraded", "N+1"), ("faulted", "N"), ("resume-1", "N+1")]
    stale = result.verdicts["no_stale_replay"].detail
    assert "2 request(s) sent after the deploy" in stale and "(a mixed-version run)" in stale


def test_an_upgrade_resumes_with_the_n_plus_1_environment_s_interpreter(
    runner: TrialRunner, tmp_path: Path
) -> None:
    """``upgrade.python``: N+1's workers run with another interpreter (here a second venv that sees this
    one's libraries; in CI, one with upgraded libraries), and the report says which ran where. It is also
    Restate's safe twin: N+1 served at the deployment's address resumes the invocation."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "n1")], check=True)
    python = tmp_path / "n1" / "bin" / "python"
    site = next(Path(p) for p in sys.path if p.endswith("site-packages"))
    probe = [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
    purelib = Path(subprocess.run(probe, check=True, capture_output=True, text=True).stdout.strip())
    (purelib / "n_plus_1.pth").write_text(f"import site; site.addsitedir({str(site)!r})\n")
    result = run_upgrade(runner, "restate_same_address.yaml", python=str(python))
    assert result.verdict == "pass", result.reason
    assert violated(result) == set()
    assert result.upgrade is not None and result.upgrade["resumed_on_n_plus_1"] is True
    environments = result.upgrade["environments"]
    assert environments["N"]["python"] == sys.executable and environments["N+1"]["python"] == str(python)
    assert environments["N+1"]["pydantic-ai-slim"] == environments["N"]["pydantic-ai-slim"]


def test_dbos_with_the_default_application_version_is_stuck_and_says_why(runner: TrialRunner) -> None:
    result = run_upgrade(runner, "dbos_unpinned.yaml", wait=2.0)
    assert result.verdict == "pass", result.reason  # caught: exactly the declared violation
    assert violated(result) == {"completes"}
    detail = result.verdicts["completes"].detail
    assert "UpgradeStuck" in detail and "status PENDING" in detail
    assert "application_version" in detail and "DBOS.patch()" in detail
    assert result.upgrade is not None and result.upgrade["resumed_on_n_plus_1"] is True


def replay_evidence(checks: list[dict[str, object]], completed: bool) -> Evidence:
    events = [
        {"t": float(i), "pid": 1, "role": "faulted", "event": "replay_check", **c}
        for i, c in enumerate(checks)
    ]
    golden = RunOutcome("golden", True, output="x")
    faulted = RunOutcome(
        "faulted", completed, output="x" if completed else None, error=None if completed else "stuck"
    )
    return Evidence(
        golden, faulted, events, [], (), extra={"engine": "temporal"}, rules=engine_spec("temporal").rules
    )


def test_n_s_history_replayed_against_n_plus_1_is_judged_even_when_the_run_is_stuck() -> None:
    across = {"history": "golden", "against": "N+1", "problems": ["workflow w: diverged at history event 5"]}
    verdict = deterministic_replay(replay_evidence([across], completed=False))
    assert verdict.held is False
    assert "does not replay against N+1's code" in verdict.detail and "history event 5" in verdict.detail
    assert "workflow.patched()" in verdict.detail
    held = deterministic_replay(
        replay_evidence([{**across, "problems": []}, {"problems": []}], completed=True)
    )
    assert held.held is True and "N's golden history against N+1's code included" in held.detail
    plain = deterministic_replay(replay_evidence([{"problems": []}], completed=False))
    assert plain.held is None  # no upgrade: a stuck run has no finished history to replay


def test_temporal_with_an_unpatched_activity_added_is_nondeterministic(runner: TrialRunner) -> None:
    result = run_upgrade(runner, "temporal_unpatched.yaml")
    assert result.verdict == "pass", result.reason  # caught: exactly the declared violations
    assert violated(result) == {"completes", "deterministic_replay"}
    stuck = result.verdicts["completes"].detail
    assert "[TMPRL1100]" in stuck and "stays RUNNING" in stuck and "workflow.patched()" in stuck
    replay = result.verdicts["deterministic_replay"].detail
    assert "report_temporal_v2_unpatched.Report" in replay and "(MarkerRecorded" in replay


def test_temporal_retrying_an_in_flight_request_with_n_s_instructions_is_a_stale_replay(
    runner: TrialRunner,
) -> None:
    result = run_upgrade(runner, "temporal_new_instructions.yaml")
    assert result.verdict == "pass", result.reason  # caught: exactly the declared violation
    assert violated(result) == {"no_stale_replay"}
    detail = result.verdicts["no_stale_replay"].detail
    assert "N's inputs for 1 step(s), first model request #2 (sent by resume-1)" in detail
    # No new command: N's golden history replays against N+1 (the safe twin of the unpatched change).
    replayed = result.verdicts["deterministic_replay"]
    assert replayed.held is True and "N's golden history against N+1's code included" in replayed.detail


def ledger_entry(role: str, fingerprint: str, t: float, status: int = 200) -> dict[str, object]:
    return {"t": t, "role": role, "fingerprint": fingerprint, "status": status}


def stale_evidence(faulted: list[tuple[str, str]], upgrade: bool = True) -> Evidence:
    """N sends a1 a2 a3, N+1 from scratch b1 b2 b3; ``faulted`` the (role, fingerprint) it got answers to."""
    ledger = [ledger_entry("golden", f"a{i}", float(i)) for i in (1, 2, 3)]
    ledger += [ledger_entry("reference:_upgraded", f"b{i}", 10.0 + i) for i in (1, 2, 3)]
    ledger += [ledger_entry("faulted", "a2", 19.0, status=500)]  # a failed attempt answers nothing
    ledger += [ledger_entry(role, fp, 20.0 + i) for i, (role, fp) in enumerate(faulted)]
    golden = RunOutcome("golden", True, output="x")
    return Evidence(
        golden, RunOutcome("faulted", True, output="x"), [], ledger, (), extra={"upgrade": upgrade}
    )


def test_no_stale_replay_flags_n_s_inputs_next_to_n_plus_1_s_after_the_deploy() -> None:
    check = CHECKERS["no_stale_replay"]
    stale = check(stale_evidence([("faulted", "a1"), ("resume-1", "a2"), ("resume-1", "b3")]))
    assert stale.held is False and "first model request #2 (sent by resume-1)" in stale.detail
    current = check(stale_evidence([("faulted", "a1"), ("resume-1", "b2"), ("resume-1", "b3")]))
    assert current.held is True and "1 answer(s) N got before the deploy were reused" in current.detail
    kept = check(stale_evidence([("faulted", "a1"), ("resume-1", "a2"), ("resume-1", "a3")]))
    assert kept.held is True and "kept N's inputs throughout" in kept.detail
    resent = check(
        stale_evidence([("faulted", "a1"), ("resume-1", "a1"), ("resume-1", "b2"), ("resume-1", "b3")])
    )
    assert resent.held is True  # the same request sent again after a kill is the same step
    asked_again = check(
        stale_evidence([("faulted", "a1"), ("resume-1", "b1"), ("resume-1", "b2"), ("resume-1", "b3")])
    )
    assert asked_again.held is True and "mixed-version" not in asked_again.detail  # Prefect: N+1 asked anew
    assert check(stale_evidence([], upgrade=False)).held is None


def task_unit(
    role: str, position: str, key: str, inputs: str, output: str, restored: bool
) -> dict[str, object]:
    return {
        "role": role,
        "position": position,
        "key": key,
        "inputs": inputs,
        "output": output,
        "restored": restored,
    }


def test_a_result_restored_on_n_plus_1_for_what_n_plus_1_computes_differently_is_stale() -> None:
    """Prefect's cache hits send nothing: the fingerprints of a restored unit's inputs and result say it.
    N's result restored where the key ignored the changed instructions, or where the tool's body changed,
    is stale; a restore whose inputs and result N+1 computes the same way is not, nor a unit N computes
    differently each time (no proof the release changed it)."""
    golden = [task_unit("golden", "request#1", "g", "in-n", "out-n", False)]
    new = [task_unit("reference:_upgraded", "request#1", "r", "in-n1", "out-n", False)]
    produced = task_unit("faulted", "request#1", "k", "in-n", "out-n", False)
    restored = task_unit("resume-1", "request#1", "k", "in-n1", "out-n", True)
    (found,) = restored_stale([produced, restored], golden, new)
    assert found.startswith("request#1 (restored by resume-1 from the result faulted computed)")
    assert "its inputs changed across the upgrade" in found and "the key ignores an input" in found
    same_inputs = {**restored, "inputs": "in-n"}
    assert restored_stale([produced, same_inputs], golden, [{**new[0], "inputs": "in-n"}]) == []
    body = [{**new[0], "inputs": "in-n", "output": "out-n1"}]
    (tool,) = restored_stale([produced, same_inputs], golden, body)
    assert "for the same inputs N+1 computes another result" in tool and "(a tool's body)" in tool
    chance = [{**golden[0], "inputs": "in-other", "output": "out-other"}]
    assert restored_stale([produced, restored], chance, new) == []  # N computes it differently each time
    assert restored_stale([produced, {**restored, "role": "faulted"}], golden, new) == []  # before the deploy


def test_the_part_of_a_cache_key_that_changed_is_named() -> None:
    def seen(**components: str) -> dict[str, object]:
        return {"engine": {"identity": "k", "components": components}}

    before, after = seen(inputs="a", source="s", run="r"), seen(inputs="b", source="s", run="r")
    assert changed_components([before, after]) == ["inputs"]
    assert changed_components([before, {"engine": {"identity": "k"}}]) == []  # no parts reported


def test_no_stale_replay_is_configured_by_the_upgrade(tmp_path: Path) -> None:
    upgraded = load_scenario(scenario_file(tmp_path, '{to: "app_v2:run"}'))
    assert "no_stale_replay" in upgraded.properties_for(upgraded.plans[0])
    plain = load_scenario(scenario_file(tmp_path, "null"))
    assert "no_stale_replay" not in plain.properties_for(plain.plans[0])
    path = scenario_file(tmp_path, "null")
    path.write_text(path.read_text() + "expect: {violations: [no_stale_replay]}\n")
    with pytest.raises(ScenarioError, match="no_stale_replay needs 'upgrade'"):
        load_scenario(path)


def test_restate_new_deployment_strands_the_invocation_on_the_old_one(runner: TrialRunner) -> None:
    result = run_upgrade(runner, "restate_new_address.yaml", wait=3.0)
    assert result.verdict == "pass", result.reason  # caught: exactly the declared violation
    assert violated(result) == {"completes"}
    detail = result.verdicts["completes"].detail
    assert "UpgradeStranded" in detail and "RT0010" in detail and "keep N's deployment" in detail


def test_restate_journaled_step_added_at_the_same_address_is_a_journal_mismatch(runner: TrialRunner) -> None:
    """Restate's other trap (its safe twin is the same address without a new step, in the interpreter
    test above): N+1 at N's address replays N's journal with another first entry."""
    result = run_upgrade(runner, "restate_step_added.yaml")
    assert result.verdict == "pass", result.reason  # caught: exactly the declared violations
    assert violated(result) == {"completes", "stable_cache_keys"}
    detail = result.verdicts["completes"].detail
    assert "UpgradeJournalMismatch" in detail and "RT0016" in detail, detail
    assert "Model call != record_request" in detail and "new deployment at a new address" in detail
    assert "'Model call', 'record_request'" in result.verdicts["stable_cache_keys"].detail


def test_prefect_release_that_keeps_every_cache_key_restores_n_s_results(runner: TrialRunner) -> None:
    result = run_upgrade(runner, "prefect_retries.yaml")
    assert result.verdict == "pass", result.reason
    assert violated(result) == set()
    assert result.upgrade is not None and result.upgrade["resumed_on_n_plus_1"] is True


def test_prefect_release_with_new_instructions_pays_again_and_repeats_the_side_effect(
    runner: TrialRunner,
) -> None:
    result = run_upgrade(runner, "prefect_instructions.yaml")
    assert result.verdict == "pass", result.reason  # caught: exactly the declared violations
    assert violated(result) == {"stable_cache_keys", "tools_exactly_once"}
    keys = result.verdicts["stable_cache_keys"].detail
    assert "It changed across the upgrade" in keys
    assert "the part(s) of it that changed: the task's inputs (PrefectAgentInputs)" in keys, keys
    assert result.verdicts["no_stale_replay"].held is True  # asked anew with N+1's inputs: not stale
    assert "'load_dataset'" in result.verdicts["tools_exactly_once"].detail


def test_prefect_key_that_ignores_the_changed_instructions_restores_a_stale_answer(
    runner: TrialRunner,
) -> None:
    """The application's own cache policy keys tasks by place, not inputs: N+1 restores the answer N got
    to the first model request (asked with N's instructions) though N+1 asks with its own. Keys are
    stable and nothing runs twice: only no_stale_replay, from the restored unit's input fingerprints,
    sees it. Its twins: prefect_instructions.yaml (the default policy: asked anew, not stale) and
    prefect_retries.yaml (N's results restored for unchanged inputs)."""
    result = run_upgrade(runner, "prefect_positional_instructions.yaml")
    assert result.verdict == "pass", result.reason  # caught: exactly the declared violation
    assert violated(result) == {"no_stale_replay"}
    detail = result.verdicts["no_stale_replay"].detail
    assert "first Model Request: gpt-4o#1 (restored by resume-1" in detail, detail
    assert "its inputs changed across the upgrade" in detail and "the key ignores an input" in detail


def test_prefect_tool_whose_body_changed_restores_n_s_result(runner: TrialRunner) -> None:
    """The default key covers a tool's name, description, schema and arguments, not its body: N+1 restores
    the rows N loaded, though N+1 from scratch loads others for the same inputs."""
    result = run_upgrade(runner, "prefect_tool_body.yaml")
    assert result.verdict == "pass", result.reason  # caught: exactly the declared violation
    assert violated(result) == {"no_stale_replay"}
    detail = result.verdicts["no_stale_replay"].detail
    assert "first Call Tool: load_dataset#1 (restored by resume-1" in detail, detail
    assert "for the same inputs N+1 computes another result" in detail


UPGRADED_PYTHON = os.environ.get("DURABLE_CHAOS_TEST_UPGRADE_PYTHON")
"""An interpreter whose environment has newer libraries than this one and durable-chaos installed (.ci/run
sets it to the newest-versions venv while it runs this suite with the oldest supported versions)."""


@pytest.mark.skipif(not UPGRADED_PYTHON, reason="DURABLE_CHAOS_TEST_UPGRADE_PYTHON: a newer venv's python")
@pytest.mark.parametrize("file", ["dbos_pinned.yaml", "temporal_patched.yaml"])
def test_a_library_upgrade_resumes_the_same_code_on_newer_libraries(runner: TrialRunner, file: str) -> None:
    """A library upgrade (``upgrade: {python: ...}``, no new code): the run starts with this environment's
    libraries and, after the kill, resumes in the other's. The report names both library sets."""
    assert UPGRADED_PYTHON is not None
    result = run_upgrade(runner, file, to=None, python=UPGRADED_PYTHON)
    assert result.upgrade is not None and result.upgrade["resumed_on_n_plus_1"] is True, result.reason
    environments = result.upgrade["environments"]
    assert environments["N+1"]["python"] == UPGRADED_PYTHON
    assert environments["N"]["pydantic-ai-slim"] != environments["N+1"]["pydantic-ai-slim"]
    assert result.verdict == "pass", result.reason
    assert violated(result) == set(), result.reason
