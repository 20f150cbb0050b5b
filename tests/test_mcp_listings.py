"""MCP tool listings counted per model request (``ModelCalls.mcp_listings``): the golden run's
``<server>:tools/list`` units, reported in the JSON report's ``model_calls``, the terminal and markdown
model-call lines and the HTML page's trial facts. pydantic-ai's durable wrappers (Prefect, DBOS,
Temporal) run a listing as a unit of its own and, with ``cache_tools`` (the default), once per run;
``cache_tools=False`` lists again before every model request (``scenarios/mcp/relisting.yaml``).
"""

from __future__ import annotations

from pathlib import Path

from durable_chaos.report.html import render_html
from durable_chaos.report.markdown import _calls_cell
from durable_chaos.report.terminal import detail_lines, mcp_listings_text
from durable_chaos.run.runner import TrialRunner
from durable_chaos.scenario.read import load_scenario
from durable_chaos.scenario.trial_specs import TrialSpec

EXAMPLES = Path(__file__).resolve().parent.parent / "scenarios" / "mcp"


def test_a_wrapper_that_lists_before_every_model_request_is_counted(runner: TrialRunner) -> None:
    scenario = load_scenario(EXAMPLES / "relisting.yaml")
    result = runner.run(TrialSpec(scenario, scenario.engines[0], scenario.plans[0]))
    assert result.verdict == "pass", result.reason
    calls = result.to_report()["model_calls"]
    assert (calls["golden"], calls["mcp_listings"], calls["mcp_listing_units"]) == (3, 3, 3)
    assert calls["mcp_listings_per_model_request"] == 1.0
    text = "MCP tool listings 3 (3 as engine units), 1.00 per model request"
    assert mcp_listings_text(calls) == text
    assert text in " ".join(" ".join(line.split()) for line in detail_lines(result, width=400))
    assert _calls_cell(calls).endswith(text)
    assert text in render_html([result])


def test_no_listing_no_mention() -> None:
    calls = {"duplicates": 0, "total": 3, "mcp_listings": 0, "mcp_listing_units": 0}
    assert mcp_listings_text(calls) is None and _calls_cell(calls) == "0 of 3"
