"""Optional libraries are imported only where their feature runs, as a class.

Each check runs in a fresh Python where every optional library of durable-chaos is absent (a finder
first on ``sys.meta_path`` raises ModuleNotFoundError for it, as on a machine without the extra),
Prefect (the engine the examples run on) aside. In that Python
the pytest plugin, the CLI and the harness import, ``validate`` and ``init --help`` work, pytest
collects a scenario's trials; a feature whose extra is missing (network faults, an Anthropic or
Gemini model, another engine, ``durable_chaos.strategies``) is a configuration error naming the extra
to install, exit 2, without a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"

ABSENT = (
    "toxiproxy",
    "requests",
    "dbos",
    "psycopg",
    "temporalio",
    "restate",
    "hypercorn",
    "mcp",
    "fastmcp",
    "anthropic",
    "google.genai",
    "hypothesis",
    "_hypothesis_pytestplugin",
)
"""Every optional library but Prefect's, made absent."""

PRELUDE = textwrap.dedent(
    f"""
    import sys

    class Absent:
        \"\"\"Finds the optional libraries nowhere: import raises, importlib.util.find_spec too.\"\"\"

        def find_spec(self, name, path=None, target=None):
            if any(name == absent or name.startswith(absent + ".") for absent in {ABSENT!r}):
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, Absent())
    """
)


def run_python(code: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_XDIST_WORKER", None)
    return subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_plugin_cli_and_harness_import_and_validate_without_any_optional_library() -> None:
    done = run_python(
        f"""
        import contextlib, io, json
        import durable_chaos.pytest_plugin.plugin, durable_chaos.run.runner, durable_chaos.cli as cli

        def run(*argv):
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = cli.main(list(argv))
                except SystemExit as exc:
                    code = exc.code
            return [code, out.getvalue() + err.getvalue()]

        results = {{
            "init_help": run("init", "--help"),
            "prefect": run("validate", {str(SCENARIOS / "data_analyst" / "kill.yaml")!r}),
            "network": run("validate", {str(SCENARIOS / "network" / "model_endpoint.yaml")!r}),
            "anthropic": run("validate", {str(SCENARIOS / "providers" / "anthropic.yaml")!r}),
            "gemini": run("validate", {str(SCENARIOS / "providers" / "gemini.yaml")!r}),
            "dbos": run("validate", {str(SCENARIOS / "data_analyst" / "dbos_kill.yaml")!r}),
            "temporal": run("validate", {str(SCENARIOS / "temporal" / "kill.yaml")!r}),
            "restate": run("validate", {str(SCENARIOS / "restate" / "kill.yaml")!r}),
            "mcp": run("validate", {str(SCENARIOS / "mcp" / "prefect.yaml")!r}),
            "explore": run("validate", {str(REPO / "tests" / "breaker_explore.yaml")!r}),
        }}
        try:
            import durable_chaos.strategies
        except ImportError as exc:
            results["strategies"] = [None, str(exc)]
        print(json.dumps(results))
        """
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.splitlines()[-1])
    assert results["init_help"][0] == 0 and "--engine" in results["init_help"][1]
    assert results["prefect"][0] == 0, results["prefect"][1]
    expected = {
        "network": "durable-chaos[network]",
        "anthropic": "durable-chaos[providers]",
        "gemini": "durable-chaos[providers]",
        "dbos": "durable-chaos[dbos]",
        "temporal": "durable-chaos[temporal]",
        "restate": "durable-chaos[restate]",
        "mcp": "durable-chaos[mcp]",
        "explore": "durable-chaos[hypothesis]",
    }
    for case, extra in expected.items():
        code, output = results[case]
        assert code == 2 and f"pip install '{extra}'" in output, (case, output)
        assert "Traceback" not in output, (case, output)
    assert "network faults" in results["network"][1] and "toxiproxy" in results["network"][1]
    assert "pip install 'durable-chaos[hypothesis]'" in results["strategies"][1]


def pytest_in_python(*args: str) -> subprocess.CompletedProcess[str]:
    return run_python(
        f"""
        import pytest
        raise SystemExit(pytest.main({["-p", "no:cacheprovider", "-p", "no:hypothesispytest", *args]!r}))
        """
    )


def test_pytest_collects_trials_without_any_optional_library() -> None:
    done = pytest_in_python("--collect-only", "-q", str(SCENARIOS / "data_analyst" / "kill.yaml"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "3 tests collected" in done.stdout, done.stdout[-3000:]


def test_a_network_fault_without_the_network_extra_is_a_configuration_error() -> None:
    done = pytest_in_python(
        "--chaos",
        "-q",
        "-k",
        "model-endpoint-down-for-two-attempts",
        str(SCENARIOS / "network" / "model_endpoint.yaml"),
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output[-3000:]
    assert "pip install 'durable-chaos[network]'" in output, output[-3000:]
    assert "INTERNALERROR" not in output and "Traceback" not in output, output[-3000:]
