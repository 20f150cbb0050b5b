"""Recording cassettes from the scripted server, on the real Prefect engine: credentials scrubbed,
only the model provider's traffic recorded (never the Prefect API), and the result replays."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from durable_chaos.run.runner import TrialRunner
from durable_chaos.scenario.read import load_scenario
from durable_chaos.scenario.trial_specs import TrialSpec

EXAMPLES = Path(__file__).resolve().parent.parent / "scenarios" / "data_analyst"


def test_record_then_replay(runner: TrialRunner, tmp_path: Path, monkeypatch: object) -> None:
    folder = tmp_path / "data_analyst"  # beside a copy of the shared folder its scenario files name
    folder.mkdir()
    shutil.copytree(EXAMPLES.parent / "_shared", tmp_path / "_shared")
    for name in ("data_analyst_agent.py", "tool_error.yaml"):
        shutil.copy(EXAMPLES / name, folder / name)
    scenario = load_scenario(folder / "tool_error.yaml")
    recording = TrialRunner(record=True, root=tmp_path / "record-run")
    recording.engines = runner.engines  # share the session's Prefect server
    try:
        result = recording.run(TrialSpec(scenario, "prefect", scenario.plans[0]))
    finally:
        recording.engines = {}
    assert result.verdict == "pass", result.reason

    cassette = folder / "cassettes" / "data_analyst.yaml"
    text = cassette.read_text()
    interactions = yaml.safe_load(text)["interactions"]
    assert len(interactions) == 3
    assert {i["request"]["uri"] for i in interactions} == {"https://api.openai.com/v1/chat/completions"}
    assert "authorization" not in text.lower()
    assert "sk-" not in text
    assert "/api/" not in text  # nothing of the Prefect API

    replayed = runner.run(TrialSpec(scenario, "prefect", scenario.plans[0]))
    assert replayed.verdict == "pass", replayed.reason
