"""Credentials planted in a tool's exception never reach any file or stream a `pytest --chaos`
session writes (reports, JUnit XML, terminal, kept artifacts), and terminal control sequences,
Markdown links, images and @mentions from that exception are neutralised."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"

# One value per credential shape; every value contains PLANTED, which nothing else in a session does.
PLANTED = {
    "database URL password": "postgresql+psycopg://chaos:PLANTED-db-1@db:5432/app",
    "password= in text": "password=PLANTED-pw-2",
    "Ocp-Apim-Subscription-Key header": "Ocp-Apim-Subscription-Key: PLANTED-ocp-3",
    "subscription-key query parameter": "https://x.azure-api.net/openai/chat?subscription-key=PLANTED-sub-4&a=b",
    "x-portkey-virtual-key header": "x-portkey-virtual-key: PLANTED-portkey-5",
    "x-functions-key header": "x-functions-key=PLANTED-functions-6",
    "Bearer under a custom header": "X-Gateway: Bearer PLANTED-bearer-7",
    "body fields": '{"access_key": "PLANTED-access-8", "license_key": "PLANTED-license-9", '
    '"userKey": "PLANTED-user-10", "max_tokens": 64}',
    "Anthropic key shape": "sk-ant-" + "api03-PLANTED11abcdefghijklmnop",
    "AWS key id shape": "AKIA" + "PLANTED12ABCDEFG",
    "GitHub token shape": "ghp_PLANTED13" + "a" * 30,
    "Google key shape": "AIzaPLANTED14" + "b" * 30,
}
HOSTILE = (
    "\x1b]0;PWNED-TITLE\x07\x1b[31m\x1b[2K\rdurable-chaos exit status 0: every guarantee held "
    "[click](http://evil.example) ![img](http://evil.example/i.png) @octocat"
)

LEAKY_MODULE = f"""\
from prefect import flow

MESSAGE = {" | ".join(PLANTED.values()) + " | " + HOSTILE!r}


@flow(name="leaky")
async def leaky(prompt: str) -> str:
    raise ConnectionError(MESSAGE)
"""

SCENARIO = """\
schema_version: 1
name: leaky
entry: leaky_agent:leaky
args: {prompt: hello}
engines: [prefect]
cassette: cassettes/data_analyst.yaml
plans:
  - name: kill
    faults:
      - kind: tool_error
        at: {kind: tool_call, name: compute_statistics, times: 1}
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    source = SCENARIOS / "data_analyst"
    target = pytester.path / "scenarios"
    target.mkdir()
    shutil.copytree(source / "cassettes", target / "cassettes")
    (target / "leaky_agent.py").write_text(LEAKY_MODULE)
    (target / "leaky.yaml").write_text(SCENARIO)
    return pytester


def test_planted_credentials_reach_no_output(project: pytest.Pytester) -> None:
    out = project.path / "out"
    result = project.runpytest_subprocess(
        "--chaos",
        "scenarios",
        f"--chaos-report={out / 'chaos.json'}",
        f"--chaos-markdown={out / 'chaos.md'}",
        f"--chaos-html={out / 'chaos.html'}",
        f"--junitxml={out / 'junit.xml'}",
        "--chaos-keep-artifacts",
        "-p",
        "no:cacheprovider",
        "-rA",
    )
    streams = {"stdout": result.stdout.str(), "stderr": result.stderr.str()}
    assert result.ret != 0, streams["stdout"]  # the flow fails: its message is in every report
    kept = re.search(r"kept in (\S+)", re.sub(r"\n +", "", streams["stdout"]))
    assert kept is not None, streams["stdout"]
    session_root = Path(kept.group(1)).parent
    planted_source = {project.path / "scenarios" / "leaky_agent.py"}  # the input, and its bytecode
    files = [
        p
        for root in (project.path, session_root)
        for p in root.rglob("*")
        if p.is_file() and p not in planted_source and "__pycache__" not in p.parts
    ]
    assert {"chaos.json", "chaos.md", "chaos.html", "junit.xml"} <= {p.name for p in files}
    assert any(p.name == "history.jsonl" for p in files) and any(p.suffix == ".log" for p in files)
    # An engine's own database (Prefect's SQLite file, kept with --chaos-keep-artifacts) is binary state
    # the harness cannot rewrite; it stays as the engine wrote it (docs/scenarios.md says so).
    engine_state = [
        p for p in files if any(part.startswith("engine-") for part in p.parts) and b"\0" in p.read_bytes()
    ]
    files = [p for p in files if p not in engine_state]
    texts = {str(p): p.read_bytes().decode("utf-8", "replace") for p in files} | streams
    # the message reached the outputs (scrubbed), so the test is not vacuous
    assert "chaos:***@db:5432/app" in texts[str(out / "chaos.json")]
    for where, text in texts.items():
        assert "PLANTED" not in text, (
            f"{where}: {text[text.index('PLANTED') - 80 : text.index('PLANTED') + 40]!r}"
        )
    for where in ("stdout", "stderr", str(out / "chaos.md"), str(out / "junit.xml")):
        assert "\x1b" not in texts[where] and "PWNED-TITLE" not in texts[where], where
    markdown = texts[str(out / "chaos.md")]
    assert "every guarantee held \\[click\\](http" in markdown.replace("\n", " ")
    for live in ("[click](", "![img](", " @octocat"):
        assert live not in markdown, live
