"""The Markdown summary for a CI step summary (``--chaos-markdown``), on synthetic trials."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from durable_chaos.judge.accounting import ModelCalls, Tokens
from durable_chaos.judge.checkers import Verdict
from durable_chaos.judge.pricing import Cost
from durable_chaos.report.gate import GateConfig, evaluate
from durable_chaos.report.markdown import escape_cell, render_markdown, write_markdown
from durable_chaos.run.results import TrialResult
from durable_chaos.scenario.model import Scenario
from durable_chaos.scenario.trial_specs import TrialSpec

PROPERTIES = ["completes", "no_duplicate_model_calls", "stable_cache_keys", "output_matches_golden"]
DETAIL = (
    "1 unit(s) changed cache key between attempts; first: task 'record-analysis-request' #1 had keys "
    "143b4a393657, 16cfe8d87fba. Something in the unit's inputs changes on every attempt: make the inputs "
    "deterministic or exclude that field from the cache policy."
)


def trial(
    verdict: str,
    *,
    name: str = "analyst",
    engine: str = "prefect",
    plan: str = "kill",
    violated: Sequence[str] = (),
    declared: Sequence[str] = (),
    reason: str = "every property held",
    cost: Cost | None = None,
    ran: bool = True,
) -> TrialResult:
    scenario = Scenario.model_validate(
        {
            "schema_version": 1,
            "name": name,
            "agent": "agent_module:agent",
            "prompt": "Analyze",
            "cassette": "cassette.yaml",
            "engines": ["prefect", "dbos"],
            "plans": [{"name": plan}],
            "expect": {"properties": PROPERTIES, "violations": list(declared)},
        }
    )
    spec = TrialSpec(scenario, engine, scenario.plans[0])
    if not ran:
        return TrialResult(spec, verdict, reason)
    verdicts = {p: Verdict(False, DETAIL) if p in violated else Verdict(True, "fine") for p in PROPERTIES}
    return TrialResult(
        spec,
        verdict,
        reason,
        verdicts,
        ModelCalls(golden=3, total=4, duplicates=1 if verdict == "fail" else 0, expected_reexecutions=0),
        Tokens(golden=1728, spent=2275, naive_restart=2705, saved=430),
        cost=cost,
    )


PRICED = Cost(golden=0.0053, spent=0.0070, naive_restart=0.0083, saved=0.0013)


def results() -> list[TrialResult]:
    return [
        trial("pass", cost=PRICED),
        trial(
            "pass",
            name="data-analyst-unstable-cache-key",
            plan="tool-exception-flow-retry",
            violated=["stable_cache_keys"],
            declared=["stable_cache_keys"],
            reason="the known-bad agent was caught",
            cost=Cost(None, None, None, None, ["local|llama"]),
        ),
        trial(
            "fail",
            name="audited",
            engine="dbos",
            violated=["stable_cache_keys"],
            reason="violated: ...",
            cost=None,
        ),
        trial(
            "error",
            name="never-fires",
            reason="planned fault #1 (kill at {'occurrence': 9}) never fired",
            ran=False,
        ),
    ]


def table_rows(markdown: str) -> list[list[str]]:
    rows = [line for line in markdown.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in rows]


def test_totals_line_counts_trials_tokens_and_dollars() -> None:
    markdown = render_markdown(results())
    assert markdown.startswith("## durable-chaos\n")
    totals = next(line for line in markdown.splitlines() if line.startswith("**4 trial(s)**"))
    assert "2 passed, 1 failed, 1 error(s)" in totals
    assert "Model calls 12, duplicated 1" in totals
    assert "Tokens spent 6825 vs naive restart 8115: saved **1290** (15.9%)" in totals
    assert "dollars saved **\\$0.0013** of \\$0.0083 (unpriced: local|llama)" in totals


def test_one_table_row_per_trial() -> None:
    header, *rows = table_rows(render_markdown(results()))
    assert header == [
        "Scenario",
        "Engine",
        "Plan",
        "Verdict",
        "Violated properties",
        "Duplicate model calls",
        "Tokens spent / naive / saved",
        "Dollars spent / naive / saved",
    ]
    assert rows[0] == [
        "analyst",
        "prefect",
        "kill",
        "PASS",
        "none",
        "0 of 4",
        "2275 / 2705 / 430",
        "\\$0.0070 / \\$0.0083 / \\$0.0013",
    ]
    assert rows[1][3:5] == ["PASS", "stable_cache_keys (expected)"]
    assert rows[1][7] == "tokens only (unpriced: local\\|llama)"  # the | is escaped in the cell
    assert rows[2][:6] == ["audited", "dbos", "kill", "FAIL", "stable_cache_keys", "1 of 4"]
    assert rows[2][7] == "tokens only (not priced)"
    assert rows[3][3:] == ["ERROR", "not judged", "-", "-", "-"]


def test_every_row_has_as_many_cells_as_the_header() -> None:
    markdown = render_markdown(results())
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    counts = {line.replace("\\|", "").count("|") for line in lines}
    assert counts == {9}


def test_each_trial_that_did_not_pass_gets_a_section_with_the_violated_detail() -> None:
    markdown = render_markdown(results())
    sections = markdown.split("\n### ")[1:]
    assert [s.splitlines()[0] for s in sections] == [
        "FAIL: audited on dbos, plan kill",
        "ERROR: never-fires on prefect, plan kill",
    ]
    failed = sections[0]
    assert "- `stable_cache_keys`: 1 unit(s) changed cache key" in failed
    assert "'record-analysis-request' #1" in failed and "make the inputs deterministic" in failed
    assert "planned fault #1 (kill at {'occurrence': 9}) never fired" in sections[1]


def test_a_known_bad_agent_that_was_not_caught_says_so() -> None:
    missed = trial("fail", declared=["stable_cache_keys"], reason="expected exactly ['stable_cache_keys']")
    markdown = render_markdown([missed])
    assert "- `stable_cache_keys`: expected to be violated (known-bad agent) but held" in markdown


def test_gate_outcome_leads_the_summary() -> None:
    outcome = evaluate(results(), GateConfig(min_token_savings=0.5))
    markdown = render_markdown(results(), outcome.as_dict())
    assert "**Exit status 3**: the harness or its infrastructure failed." in markdown
    gate = markdown[: markdown.index("| Scenario |")]
    assert "- 1 trial(s) failed and 1 trial(s) errored: see below" in gate
    assert "- GATE min_token_savings: tokens saved" in gate
    assert "ERROR scenario" not in gate  # the trial's own section below says it


def test_no_emoji_and_plain_ascii() -> None:
    assert render_markdown(results()).isascii()


def test_markdown_is_escaped() -> None:
    assert escape_cell("a|b") == "a\\|b"
    assert escape_cell("two\nlines") == "two lines"
    assert escape_cell("<script> *x* `y` $1") == "&lt;script&gt; \\*x\\* \\`y\\` \\$1"
    assert escape_cell("tool_call and _emphasis_") == "tool_call and \\_emphasis\\_"


def test_no_trials(tmp_path: Path) -> None:
    path = tmp_path / "out" / "chaos.md"
    write_markdown(path, [], {"exit_code": 2, "meaning": "a scenario or the configuration is invalid"})
    text = path.read_text()
    assert "**Exit status 2**" in text and "No chaos trial ran." in text


def test_multi_line_messages_stay_one_list_item() -> None:
    gate = {
        "exit_code": 2,
        "meaning": "a scenario or the configuration is invalid",
        "messages": ["INVALID a.yaml:3: plans: required\nb.yaml:4: name: too long"],
        "notes": [],
    }
    markdown = render_markdown([], gate)
    assert "- INVALID a.yaml:3: plans: required b.yaml:4: name: too long\n" in markdown
