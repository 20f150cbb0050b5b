"""The plugin's command-line options: registered in one place (:func:`add_options`), and their values
checked before anything runs: a bad value is exit 2 naming the option, never a failure of every trial
(see :func:`trial_timeout`, :func:`load_gate`)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from durable_chaos.infra.engines.command_line import command_line_options
from durable_chaos.pytest_plugin.state import GATE_KEY, SHARD_KEY, TIMEOUT_KEY
from durable_chaos.report.formats import FORMATS

if TYPE_CHECKING:
    from durable_chaos.report.gate import GateConfig

MAX_TRIAL_TIMEOUT_SECONDS = 86400.0
"""The longest deadline a trial may have (a scenario's ``timeout`` has the same bound)."""


class OptionError(Exception):
    """A command-line option has an invalid value; the message is one line naming the option."""


def trial_timeout(value: object, option: str = "--chaos-timeout") -> float:
    """``--chaos-timeout``: a finite number of seconds, greater than 0 and at most a day. There is no
    value that turns the deadline off (``0`` is refused rather than meaning "no deadline")."""
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        raise OptionError(f"{option}: not a number of seconds: {text!r}") from None
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_TRIAL_TIMEOUT_SECONDS:
        raise OptionError(
            f"{option}: must be a number of seconds greater than 0 and at most "
            f"{MAX_TRIAL_TIMEOUT_SECONDS:g} (got {text!r}); a trial always has a deadline"
        )
    return seconds


def add_options(parser: pytest.Parser) -> None:
    """Every option of the plugin, in one place: the report formats' from their table
    (:data:`durable_chaos.report.formats.FORMATS`), the engines' from their packages."""
    group = parser.getgroup("durable-chaos", "chaos-testing of durable agents (durable-chaos)")
    group.addoption(
        "--chaos",
        action="store_true",
        default=False,
        help="run the chaos trials of scenario files (without it they are collected and skipped)",
    )
    group.addoption(
        "--chaos-record",
        action="store_true",
        default=False,
        help="record the model requests the scenarios' cassettes do not hold yet (recorded ones are "
        "kept), scrubbed of credentials; a scenario's model_server script stands in for the provider",
    )
    group.addoption(
        "--chaos-engine",
        metavar="NAME",
        action="append",
        default=[],
        help="only run trials on this engine (repeatable): any registered engine "
        "(durable-chaos ships prefect, dbos, temporal, restate)",
    )
    for report in FORMATS:
        group.addoption(report.option, metavar="PATH", default=None, dest=report.dest, help=report.help)
    group.addoption(
        "--chaos-require",
        metavar="PROP",
        action="append",
        default=[],
        help="a property that must hold in every trial for exit status 0 (repeatable); replaces the "
        "'required' lists of [tool.durable-chaos] in pyproject.toml",
    )
    group.addoption(
        "--chaos-min-savings",
        metavar="FRACTION",
        default=None,
        help="fail (exit 1) unless total tokens saved / naive-restart tokens is at least FRACTION "
        "(e.g. 0.2); overrides min_token_savings of [tool.durable-chaos]",
    )
    group.addoption(
        "--chaos-timeout",
        metavar="SECONDS",
        default="600",
        help="stop a trial that runs longer than this as an error naming where it was stuck, in-process "
        "or in workers (default 600, at most 86400; a scenario's 'timeout' wins)",
    )
    for option in command_line_options():  # each engine's own (--chaos-dbos-url, ...)
        group.addoption(option.flag, metavar=option.metavar, default=None, dest=option.dest, help=option.help)
    group.addoption(
        "--chaos-sweep",
        action="store_true",
        default=False,
        help="also sweep every scenario without a 'sweep' table: each unit of its golden run x phase x "
        "tool_error/http_error/kill x retry/kill, one trial each (a progress line per sweep with the "
        "time left, silent with -q; a verdict matrix and fault coverage in every report)",
    )
    group.addoption(
        "--chaos-seed",
        metavar="N",
        type=int,
        default=None,
        help="seed the Hypothesis tests that use the 'chaos' fixture with N (as Hypothesis's @seed(N)): "
        "the same seed generates the same fault schedules and verdicts; printed and recorded in the "
        "JSON report and regression files",
    )
    group.addoption(
        "--chaos-shard",
        metavar="K/N",
        default=None,
        help="run only shard K of N (1 <= K <= N) of the selected tests: a deterministic, balanced split of "
        "the trials, sweep points and other tests by their ids, the same on every machine (the others are "
        "deselected); the JSON report records the shard for `durable-chaos merge` (see docs/ci.md)",
    )
    group.addoption(
        "--chaos-shard-durations",
        metavar="FILE",
        action="append",
        default=[],
        help="with --chaos-shard: balance the shards by the test durations recorded in FILE (an earlier "
        "run's merged or shard JSON report, or a JSON object of test id to seconds; repeatable); tests "
        "without one count as the mean, and a FILE that does not exist falls back to the hash split "
        "(see docs/ci.md)",
    )
    group.addoption(
        "--chaos-keep-artifacts",
        action="store_true",
        default=False,
        help="keep each trial's history, ledger, engine logs (engine-<role>.log) and engine data in the temp "
        "directory (those of trials that did not pass are always kept, and named in the report)",
    )


def apply_options(config: pytest.Config) -> None:
    """Options read when the session is configured: the Hypothesis profile, the engines' options (into
    the environment, which worker processes read too) and ``--chaos-timeout`` (exit 2 when invalid)."""
    for option in command_line_options():
        value = config.getoption(option.dest, None)
        if value:
            os.environ[option.environment] = value  # worker processes read it too
    try:  # the chaos fixture runs trials without --chaos too
        config.stash[TIMEOUT_KEY] = trial_timeout(config.getoption("chaos_timeout"))
    except OptionError as exc:
        pytest.exit(f"durable-chaos: {exc}", returncode=2)
    shard = config.getoption("chaos_shard", None)
    if shard is not None:
        from durable_chaos.explore.shards import ENVIRONMENT, ShardError, parse_shard

        try:
            config.stash[SHARD_KEY] = parse_shard(shard)
        except ShardError as exc:
            pytest.exit(f"durable-chaos: {exc}", returncode=2)
        os.environ[ENVIRONMENT] = str(config.stash[SHARD_KEY])  # the trial runner's temp root names it
        from durable_chaos.pytest_plugin.sharding import load_durations

        load_durations(config)
    if config.getoption("hypothesis_profile", None) == "durable-chaos":  # before Hypothesis loads it
        from durable_chaos.strategies import register_profile

        register_profile()  # after the shard is in the environment: its example database is per shard


def load_gate(config: pytest.Config) -> None:
    """Under ``--chaos``: the gate (``[tool.durable-chaos]`` with the command-line overrides) into the
    stash; an invalid one ends the session with exit status 2 (said in the Markdown summary too)."""
    from durable_chaos.report.gate import EXIT_INVALID, GateConfigError
    from durable_chaos.report.markdown import write_invalid_configuration

    try:
        config.stash[GATE_KEY] = gate_config(config)
    except GateConfigError as exc:
        message = f"durable-chaos: {exc}"
        markdown = config.getoption("chaos_markdown")
        if markdown:
            try:
                write_invalid_configuration(Path(markdown), str(exc))
            except OSError as err:
                message += f" (and the Markdown summary could not be written: {err})"
        pytest.exit(message, returncode=EXIT_INVALID)


def pyproject_path(config: pytest.Config) -> Path:
    """The project's pyproject.toml: pytest's inifile when that is one, else the one in the rootdir."""
    inipath = config.inipath
    if inipath is not None and inipath.name == "pyproject.toml":
        return Path(inipath)
    return Path(config.rootpath) / "pyproject.toml"


def gate_config(config: pytest.Config) -> GateConfig:
    """``[tool.durable-chaos]`` with the command-line overrides applied."""
    from durable_chaos.report.gate import load_config

    overrides = {
        "required": config.getoption("chaos_require") or None,
        "min_token_savings": config.getoption("chaos_min_savings"),
    }
    return load_config(pyproject_path(config), overrides)
