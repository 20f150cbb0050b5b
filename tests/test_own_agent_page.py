"""docs/own-agent.md, followed to the letter on a fresh project: the agent file it shows, then every
``$`` command it gives, each exiting 0. This also proves that ``durable-chaos init`` output records and
runs unchanged.

The install line installs the wheel built from this checkout (once per session), not an editable
checkout, into a fresh venv: so the page's commands run the installed ``durable-chaos`` script, plugin
and package data. The venv sees this environment's libraries (a ``.pth`` line), so pip installs only
durable-chaos itself, offline and in seconds; ``ci/extras-check.sh`` installs each engine extra alone,
its dependencies included, from the same wheel."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGE = REPO / "docs" / "own-agent.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)


def commands() -> list[str]:
    return [line[2:] for block in blocks("console") for line in block.splitlines() if line.startswith("$ ")]


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of this checkout, built once per session."""
    dist = tmp_path_factory.mktemp("dist")
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist)]
    subprocess.run([*build, str(REPO)], check=True, capture_output=True, timeout=600)
    [built] = dist.glob("durable_chaos-*.whl")
    return built


def fresh_venv(where: Path) -> Path:
    """A venv without durable-chaos that sees this environment's libraries; its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=300)
    python = where / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "durable_chaos_test_libraries.pth").write_text("\n".join(sorted(ours)) + "\n")
    return python


def install(command: str, python: Path, wheel: Path) -> list[str]:
    """The page's install line, with the built wheel for the package."""
    words = shlex.split(command)
    assert words[:2] == ["pip", "install"] and words[2].startswith("durable-chaos["), command
    requirement = f"{wheel}{words[2].removeprefix('durable-chaos')}"
    return [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-index", requirement]


def argv(command: str, python: Path) -> list[str]:
    words = shlex.split(command)
    if words[0] == "durable-chaos":
        return [str(python.parent / "durable-chaos"), *words[1:]]  # the installed script
    assert words[0] == "pytest", command
    return [str(python), "-m", "pytest", "-p", "no:cacheprovider", *words[1:]]


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


def test_a_new_project_reaches_a_green_chaos_run_by_following_the_page(tmp_path: Path, wheel: Path) -> None:
    [agent] = blocks("python")
    name = agent.splitlines()[0].removeprefix("# ").strip()
    (tmp_path / name).write_text(agent)
    env = {**os.environ, "SUPPORT_SANDBOX": str(tmp_path / "sandbox")}
    env.pop("PYTHONPATH", None)  # durable-chaos comes from the wheel only
    env.pop("OPENAI_API_KEY", None)  # the page promises no key is needed
    python = fresh_venv(tmp_path / "venv")
    refunds = tmp_path / "sandbox" / "refunds.log"
    [install_line, *steps] = commands()
    for command in [install_line, *steps]:
        before = len(refunds.read_text().splitlines()) if refunds.exists() else 0
        run = install(command, python, wheel) if command == install_line else argv(command, python)
        done = subprocess.run(run, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"$ {command}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        if command.startswith("pytest"):
            assert "3 passed" in done.stdout and "every guarantee held" in done.stdout
            assert len(refunds.read_text().splitlines()) - before >= 4  # tools really run, as it says
    assert (tmp_path / "cassettes" / "triage.yaml").exists()
    assert (tmp_path / "chaos-report.html").exists()
    installed = subprocess.run(
        [str(python), "-c", "import durable_chaos; print(durable_chaos.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert installed.startswith(str(tmp_path / "venv")), installed  # the wheel's copy ran, not src/
