"""An ADK pipeline compiled to Prefect by adk-fluent (scenarios/adk) as a target: the flow code
``generate_flow_code`` emits, its Gemini traffic from a cassette.

As generated (``result_persistence=True``), a completed LLM task is paid again after a kill: its input,
the model provider, cannot be hashed once its client exists, so it gets no cache key. Leaving the
provider out of the cache key makes the resumed run replay every completed task. Without the ``adk``
extra the scenario's trials are skipped, saying why.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_chaos import extras
from durable_chaos.run.results import TrialResult
from durable_chaos.run.runner import TrialRunner
from durable_chaos.scenario.read import load_scenario
from durable_chaos.scenario.trial_specs import TrialSpec

EXAMPLES = Path(__file__).resolve().parent.parent / "scenarios" / "adk"
ADK_MISSING = extras.skip_reason(["adk"])


def run_plan(runner: TrialRunner, file: str, plan: str) -> TrialResult:
    scenario = load_scenario(EXAMPLES / file)
    chosen = next(p for p in scenario.plans if p.name == plan)
    return runner.run(TrialSpec(scenario, "prefect", chosen))


def violated(result: TrialResult) -> set[str]:
    return {name for name, verdict in result.verdicts.items() if verdict.held is False}


def test_without_the_extra_the_trials_are_skipped_saying_why(
    runner: TrialRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(extras, "installed", lambda module: module not in ("adk_fluent", "google.adk"))
    result = run_plan(runner, "generated_flow_keyed.yaml", "kill-before-writer")
    assert result.verdict == "skipped"
    assert result.reason == (
        "an optional extra is missing: needs adk_fluent, google.adk, which is not installed; "
        "install it with: pip install 'durable-chaos[adk]'"
    )


@pytest.mark.skipif(ADK_MISSING is not None, reason=ADK_MISSING or "")
def test_generated_flow_pays_a_completed_llm_task_again_after_a_kill(runner: TrialRunner) -> None:
    result = run_plan(runner, "generated_flow.yaml", "kill-before-writer")
    assert violated(result) == {"no_duplicate_model_calls", "stable_cache_keys"}
    assert result.verdict == "pass", result.reason  # the known-bad configuration, caught as declared
    assert result.calls is not None and (result.calls.golden, result.calls.duplicates) == (3, 1)
    assert "in task 'analyst'" in result.verdicts["no_duplicate_model_calls"].detail


@pytest.mark.skipif(ADK_MISSING is not None, reason=ADK_MISSING or "")
def test_provider_left_out_of_the_cache_key_replays_completed_tasks(runner: TrialRunner) -> None:
    result = run_plan(runner, "generated_flow_keyed.yaml", "kill-before-writer")
    assert result.verdict == "pass", result.reason
    assert violated(result) == set()
    assert result.verdicts["output_matches_golden"].held is True
    assert result.resumes == 1
    calls = result.calls
    assert calls is not None and (calls.golden, calls.total, calls.duplicates) == (3, 3, 0)


def test_skip_without_extras_names_extras_of_durable_chaos(tmp_path: Path) -> None:
    from durable_chaos.scenario.errors import ScenarioError

    file = tmp_path / "s.yaml"
    file.write_text(
        "schema_version: 1\nname: s\nentry: m:f\nengines: [prefect]\ncassette: c.yaml\n"
        "skip_without_extras: [adk-fluent]\nplans: [{name: p, faults: []}]\n"
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(file)
    assert "s.yaml:6: skip_without_extras[0]:" in str(caught.value)
    assert "'adk-fluent' is no extra of durable-chaos" in str(caught.value)
    assert extras.skip_reason([]) is None
