"""docs/own-agent.md, followed to the letter on a fresh project: the agent file it shows, then every
``$`` command it gives (the install line aside: this environment has durable-chaos installed), each
exiting 0. This also proves that ``durable-chaos init`` output records and runs unchanged."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PAGE = REPO / "docs" / "own-agent.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)


def commands() -> list[str]:
    return [line[2:] for block in blocks("console") for line in block.splitlines() if line.startswith("$ ")]


def argv(command: str) -> list[str]:
    words = shlex.split(command)
    if words[0] == "durable-chaos":
        return [sys.executable, "-m", "durable_chaos", *words[1:]]
    assert words[0] == "pytest", command
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *words[1:]]


def test_the_page_is_followable_as_written() -> None:
    [install, *steps] = commands()
    assert install == "pip install 'durable-chaos[prefect]'"
    assert [s.split()[:2] for s in steps] == [
        ["durable-chaos", "init"],
        ["durable-chaos", "validate"],
        ["pytest", "--chaos"],
        ["pytest", "--chaos"],
    ]
    assert "--chaos-record" in steps[2] and "--chaos-record" not in steps[3]
    assert "docs/own-agent.md" in (REPO / "README.md").read_text()


def test_a_new_project_reaches_a_green_chaos_run_by_following_the_page(tmp_path: Path) -> None:
    [agent] = blocks("python")
    name = agent.splitlines()[0].removeprefix("# ").strip()
    (tmp_path / name).write_text(agent)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "SUPPORT_SANDBOX": str(tmp_path / "sandbox")}
    env.pop("OPENAI_API_KEY", None)  # the page promises no key is needed
    refunds = tmp_path / "sandbox" / "refunds.log"
    for command in commands()[1:]:
        before = len(refunds.read_text().splitlines()) if refunds.exists() else 0
        done = subprocess.run(
            argv(command), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, f"$ {command}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        if command.startswith("pytest"):
            assert "3 passed" in done.stdout and "every guarantee held" in done.stdout
            assert len(refunds.read_text().splitlines()) - before >= 4  # tools really run, as it says
    assert (tmp_path / "cassettes" / "triage.yaml").exists()
    assert (tmp_path / "chaos-report.html").exists()
