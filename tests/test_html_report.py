"""The HTML report: one self-contained page with the trials' data embedded as JSON, user text escaped,
and (in headless Chromium) timelines actually drawn by its script: a bar per unit attempt, fault
markers, and a SIGKILL marker for a killed worker."""

from __future__ import annotations

import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from durable_chaos.judge.checkers import Verdict
from durable_chaos.report.html import render_html, timeline, write_html
from durable_chaos.run.results import TrialResult
from durable_chaos.run.runner import TrialRunner
from durable_chaos.scenario.read import load_scenario
from durable_chaos.scenario.trial_specs import TrialSpec

EXAMPLES = Path(__file__).resolve().parent.parent / "scenarios" / "data_analyst"
CHROMIUM = Path("/usr/bin/chromium")
HOSTILE_TOOL = "<img src=x onerror=alert(1)>"


def run(runner: TrialRunner, file: str, plan: str) -> TrialResult:
    scenario = load_scenario(EXAMPLES / file)
    chosen = next(p for p in scenario.plans if p.name == plan)
    return runner.run(TrialSpec(scenario, scenario.engines[0], chosen))


@pytest.fixture(scope="module")
def killed(runner: TrialRunner) -> TrialResult:
    """A real Prefect trial whose worker is SIGKILLed before the third model request, then resumed."""
    result = run(runner, "kill.yaml", "kill-before-third-model-request")
    assert result.verdict == "pass", result.reason
    return result


@pytest.fixture(scope="module")
def timed_out(runner: TrialRunner) -> TrialResult:
    """A real Prefect trial whose second model request times out three times."""
    result = run(runner, "timeout.yaml", "model-timeout")
    assert result.verdict == "pass", result.reason
    return result


def hostile() -> TrialResult:
    """A synthetic failed trial whose every user-supplied text tries to break out of the page."""
    scenario = load_scenario(EXAMPLES / "timeout.yaml")
    scenario = scenario.model_copy(update={"description": "<script>alert('description')</script>"})
    tool = {"kind": "tool_call", "name": HOSTILE_TOOL, "ordinal": 1, "fingerprint": "f00d"}

    def event(t: float, role: str, kind: str, **fields: object) -> dict[str, object]:
        return {"t": 1000.0 + t, "pid": 7 if role == "golden" else 8, "role": role, "event": kind, **fields}

    events = [
        event(0.0, "golden", "run_start", resume=False),
        event(0.01, "golden", "invoke", unit=tool, attempt=1),
        event(0.02, "golden", "ok", unit=tool, attempt=1),
        event(0.03, "golden", "run_end", completed=True, error=None),
        event(0.1, "faulted", "run_start", resume=False),
        event(0.11, "faulted", "invoke", unit=tool, attempt=1),
        event(
            0.11,
            "faulted",
            "fault",
            unit=tool,
            attempt=1,
            fault={"index": 0, "kind": "tool_error", "phase": "before"},
        ),
        event(0.12, "faulted", "fail", unit=tool, attempt=1, error="</script><script>alert(2)</script>"),
        event(0.13, "faulted", "run_end", completed=False, error="<b>boom</b>"),
    ]
    return TrialResult(
        TrialSpec(scenario, "prefect", scenario.plans[0]),
        "fail",
        "violated: completes </script><script>alert(3)</script>",
        {"completes": Verdict(False, "<i>the run did not complete</i>")},
        events=events,
    )


def embedded(html: str) -> dict[str, object]:
    match = re.search(r'<script type="application/json" id="chaos-data">(.*?)</script>', html, re.S)
    assert match is not None
    data: dict[str, object] = json.loads(match.group(1))
    return data


def test_timeline_of_a_killed_and_resumed_trial(killed: TrialResult) -> None:
    tl = timeline(killed)
    assert [lane["role"] for lane in tl["lanes"]] == ["golden", "faulted", "resume-1"]
    outcomes = {lane["role"]: lane["outcome"] for lane in tl["lanes"]}
    assert outcomes == {"golden": "completed", "faulted": "killed", "resume-1": "completed"}
    invokes = [e for e in killed.events if e["event"] == "invoke"]
    assert len(tl["bars"]) == len(invokes)
    assert {b["kind"] for b in tl["bars"]} == {"model_request", "tool_call"}
    cut = [b for b in tl["bars"] if b["outcome"] == "killed"]
    assert [(b["role"], b["kind"], b["ordinal"], b["attempt"]) for b in cut] == [
        ("faulted", "model_request", 3, 1)
    ]
    assert [m["type"] for m in tl["marks"]] == ["fault", "killed"]
    assert tl["marks"][0]["kind"] == "kill" and tl["marks"][0]["phase"] == "before"
    killed_pid = next(lane["pids"] for lane in tl["lanes"] if lane["role"] == "faulted")
    assert tl["marks"][1]["by"] not in killed_pid  # the kill is recorded by the harness, not the victim
    assert {"checkpoint", "identity"} <= {t["type"] for t in tl["ticks"]}
    assert all(b["end"] >= b["start"] for b in tl["bars"])


def test_page_embeds_every_trial_and_needs_no_network(killed: TrialResult, timed_out: TrialResult) -> None:
    html = render_html([killed, timed_out])
    data = embedded(html)
    assert data["trials"] == [
        {
            "id": f"trial-{i}",
            "title": r.spec.title,
            "verdict": r.verdict,
            "timeline": json.loads(json.dumps(timeline(r))),
        }
        for i, r in enumerate([killed, timed_out])
    ]
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), (
        "the page loads nothing from outside"
    )
    assert "@import" not in html and "url(" not in html
    assert html.count('class="timeline"') == 2 and 'class="bar ' not in html  # bars are drawn by the script
    assert 'id="total-duplicates">0' in html
    assert f"spent {killed.tokens.spent + timed_out.tokens.spent}" in html  # type: ignore[union-attr]
    assert 'data-filter="fail"' in html and html.count('class="trial-row"') == 2


def test_user_text_is_escaped_everywhere() -> None:
    result = hostile()
    html = render_html([result])
    for raw in ("<script>alert", "<img src=x", "<b>boom", "<i>the run"):
        assert raw not in html
    assert "&lt;script&gt;alert(&#x27;description&#x27;)&lt;/script&gt;" in html
    assert "violated: completes &lt;/script&gt;&lt;script&gt;alert(3)" in html
    assert 'title="completes VIOLATED: &lt;i&gt;the run did not complete&lt;/i&gt;"' in html
    assert html.count("<script") == 2 and html.count("</script>") == 2  # the data block and the script
    data = embedded(html)
    bars = data["trials"][0]["timeline"]["bars"]  # type: ignore[index]
    assert {b["name"] for b in bars} == {HOSTILE_TOOL}
    assert bars[1]["error"] == "</script><script>alert(2)</script>"
    assert "dollars: n/a" in html


def test_gate_outcome_is_shown_when_given() -> None:
    gate = {
        "exit_code": 1,
        "meaning": "a guarantee was violated",
        "messages": ["FAIL scenario data-analyst-timeout[prefect-model-timeout]: completes", "savings <20%"],
        "notes": ["no [tool.durable-chaos] table"],
    }
    html = render_html([hostile()], gate)
    banner = html[html.index('<div class="gate bad" id="gate">') :].split("</div>", 1)[0]
    assert "<b>exit status 1</b>: a guarantee was violated" in banner
    assert "<li>savings &lt;20%</li>" in banner and "note: no [tool.durable-chaos] table" in banner
    assert "FAIL scenario" not in banner  # failing trials have their own details
    assert 'id="gate"' not in render_html([hostile()])


def test_write_html_creates_the_directory(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "chaos.html"
    write_html(path, [hostile()])
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


class Elements(HTMLParser):
    """Every element of a document, as (tag, attributes)."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def find(self, cls: str, **attrs: str) -> list[dict[str, str]]:
        return [
            a
            for _, a in self.elements
            if cls in a.get("class", "").split()
            and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]


def chromium(page: Path, profile: Path, *mode: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",
        "--window-size=1400,2000",
        *mode,
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="headless Chromium is not installed at /usr/bin/chromium (Debian: apt-get install chromium)",
)
def test_browser_draws_the_timelines(tmp_path: Path, killed: TrialResult, timed_out: TrialResult) -> None:
    results = [killed, timed_out, hostile()]
    page = tmp_path / "report.html"
    write_html(page, results)
    dom = Elements()
    dom.feed(chromium(page, tmp_path / "profile", "--dump-dom").stdout)

    for i, result in enumerate(results):
        assert dom.find("timeline", id=f"timeline-{i}", data_rendered="true"), f"timeline {i} was not drawn"
        bars = [a for a in dom.find("bar") if a["id"].startswith(f"trial-{i}-bar-")]
        invokes = [e for e in result.events if e["event"] == "invoke"]
        assert len(bars) == len(invokes), f"trial {i}: one bar per unit attempt"
        attempts = {(a["data-kind"], a["data-ordinal"], a["data-attempt"]) for a in bars}
        assert attempts == {
            (e["unit"]["kind"], str(e["unit"]["ordinal"]), str(e["attempt"])) for e in invokes
        }

    roles = [a["data-role"] for a in dom.find("lane") if a["id"].startswith("trial-0-")]
    assert roles == ["golden", "faulted", "resume-1"]
    assert len(dom.find("kill-marker", data_role="faulted")) == 1  # the SIGKILL of the faulted worker
    assert len(dom.find("fault-marker", data_kind="kill", data_phase="before")) == 1
    assert len([a for a in dom.find("bar", data_kind="model_request") if "killed" in a["class"].split()]) == 1
    assert len(dom.find("fault-marker", data_kind="timeout")) == 3
    assert (
        len([a for a in dom.find("bar") if a["id"].startswith("trial-1-") and "fail" in a["class"].split()])
        == 3
    )
    assert dom.find("checkpoint") and dom.find("identity") and dom.find("execute")
    # The hostile tool name is an attribute value, never markup: no <img> element, nothing injected.
    assert not [tag for tag, _ in dom.elements if tag == "img"]
    assert {a["data-name"] for a in dom.find("bar") if a["id"].startswith("trial-2-")} == {HOSTILE_TOOL}

    screenshot = tmp_path / "report.png"
    chromium(page, tmp_path / "profile", f"--screenshot={screenshot}")
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
