"""The CI gate: which guarantees must hold for ``pytest --chaos`` to exit 0.

Configured in the user's ``pyproject.toml``::

    [tool.durable-chaos]
    required = ["completes", "no_duplicate_model_calls", "tools_exactly_once"]
    min_token_savings = 0.2
    [tool.durable-chaos.engines.dbos]
    required = ["completes", "tools_exactly_once"]

and from the command line (``--chaos-require PROP``, repeatable, replaces every ``required`` list;
``--chaos-min-savings FRACTION``). The gate applies on top of each trial's own verdict: it can only
add failures. Pure functions: :func:`load_config` and :func:`evaluate`.

Exit codes: 0 every guarantee held; 1 a guarantee was violated (a trial failed or the gate did);
2 a scenario or the configuration is invalid; 3 the harness or its infrastructure failed (a trial
error). When several apply, 2 wins over 3, which wins over 1.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from durable_chaos.properties import PropertyName
from durable_chaos.run.results import TrialResult
from durable_chaos.scenario.model import EngineName

TABLE = "tool.durable-chaos"

EXIT_OK = 0
EXIT_VIOLATED = 1
EXIT_INVALID = 2
EXIT_INFRASTRUCTURE = 3

EXIT_MEANINGS = {
    EXIT_OK: "every guarantee held",
    EXIT_VIOLATED: "a guarantee was violated",
    EXIT_INVALID: "a scenario or the configuration is invalid",
    EXIT_INFRASTRUCTURE: "the harness or its infrastructure failed",
    4: "pytest's usage error (a path that does not exist, a bad option): nothing ran",
    5: "no test was collected: nothing was checked",
}

# Higher wins: invalid (2) > infrastructure (3) > violated (1) > ok (0).
_PRECEDENCE = {EXIT_OK: 0, EXIT_VIOLATED: 1, EXIT_INFRASTRUCTURE: 2, EXIT_INVALID: 3}


class GateConfigError(Exception):
    """The gate's configuration is invalid; the message is one line naming the file (or option) and key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class EngineGate(_Strict):
    """Per-engine override of ``[tool.durable-chaos]``."""

    required: list[PropertyName] | None = Field(
        default=None, description="properties that must hold on this engine (replaces the global list)"
    )


class GateConfig(_Strict):
    """The ``[tool.durable-chaos]`` table."""

    required: list[PropertyName] = Field(
        default_factory=list,
        description="properties that must hold (held is not false) in every trial for the run to be green",
    )
    min_token_savings: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="total tokens saved / total naive-restart tokens must be at least this fraction",
    )
    engines: dict[EngineName, EngineGate] = Field(default_factory=dict)

    def required_for(self, engine: str) -> list[str]:
        """The properties required of a trial on ``engine``."""
        override = self.engines.get(engine)  # type: ignore[call-overload]
        if override is not None and override.required is not None:
            return list(dict.fromkeys(override.required))
        return list(dict.fromkeys(self.required))


class _CliOverrides(_Strict):
    required: list[PropertyName] | None = None
    min_token_savings: float | None = Field(default=None, ge=0.0, le=1.0)


CLI_OPTIONS = {"required": "--chaos-require", "min_token_savings": "--chaos-min-savings"}


def _location(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            out += " (key)"
        else:
            out += f".{part}" if out else str(part)
    return out


def _describe(exc: ValidationError, prefix: str, keys: Mapping[str, str] | None = None) -> str:
    problems = []
    for error in exc.errors():
        loc = list(error["loc"])
        if keys and loc and str(loc[0]) in keys:
            where = keys[str(loc[0])]  # the option, whichever of its values is at fault
        else:
            where = f"{prefix}.{_location(loc)}" if loc else prefix
        message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        if error["type"] not in {"extra_forbidden", "missing"}:
            message += f" (got {error['input']!r})"
        problems.append(f"{where}: {message}")
    return "; ".join(problems)


def read_table(pyproject_path: Path) -> dict[str, Any]:
    """The raw ``[tool.durable-chaos]`` table of a pyproject.toml; empty when the file or table is absent."""
    if not pyproject_path.is_file():
        return {}
    try:
        data = tomllib.loads(pyproject_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise GateConfigError(f"{pyproject_path}: not valid TOML: {exc}") from None
    table = data.get("tool", {}).get("durable-chaos", {})
    if not isinstance(table, dict):
        raise GateConfigError(f"{pyproject_path}: {TABLE} must be a table, got {type(table).__name__}")
    return table


def parse_fraction(value: Any, option: str = CLI_OPTIONS["min_token_savings"]) -> float:
    """A command-line fraction (``0.2``, ``20%``)."""
    text = str(value).strip()
    try:
        return float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise GateConfigError(f"{option}: not a number: {value!r}") from None


def load_config(pyproject_path: Path, cli_overrides: Mapping[str, Any] | None = None) -> GateConfig:
    """The gate configuration: ``[tool.durable-chaos]`` of ``pyproject_path`` (defaults when absent),
    then the command-line overrides (``required``: a list of property names that replaces the global
    and every per-engine list; ``min_token_savings``: a fraction, or a string such as ``"0.2"``).

    Raises :class:`GateConfigError` with a one-line message naming the file and key (or the option).
    """
    table = read_table(pyproject_path)
    try:
        config = GateConfig.model_validate(table)
    except ValidationError as exc:
        raise GateConfigError(f"invalid [{TABLE}] in {pyproject_path}: {_describe(exc, TABLE)}") from None
    overrides = {k: v for k, v in (cli_overrides or {}).items() if v is not None and v != []}
    if not overrides:
        return config
    unknown = sorted(set(overrides) - set(CLI_OPTIONS))
    if unknown:
        raise GateConfigError(f"unknown gate override(s): {', '.join(unknown)}")
    if "min_token_savings" in overrides and not isinstance(overrides["min_token_savings"], float | int):
        overrides["min_token_savings"] = parse_fraction(overrides["min_token_savings"])
    if "required" in overrides:
        overrides["required"] = list(overrides["required"])
    try:
        cli = _CliOverrides.model_validate(overrides)
    except ValidationError as exc:
        raise GateConfigError(
            f"invalid command-line option: {_describe(exc, 'option', CLI_OPTIONS)}"
        ) from None
    update: dict[str, Any] = {}
    if cli.required is not None:
        update["required"] = cli.required
        update["engines"] = {
            name: gate.model_copy(update={"required": None}) for name, gate in config.engines.items()
        }
    if cli.min_token_savings is not None:
        update["min_token_savings"] = cli.min_token_savings
    return config.model_copy(update=update)


@dataclass(frozen=True)
class GateOutcome:
    """The exit code the chaos run earns, why (``messages``, one per problem), and ``notes`` that do
    not change the exit code (a trial skipped, savings not measurable)."""

    exit_code: int
    messages: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    summary: str | None = None
    """What the exit code means here, when the table's meaning would mislead (a failed ordinary test
    is exit status 1 too, but no guarantee was violated)."""

    @property
    def meaning(self) -> str:
        return self.summary or EXIT_MEANINGS.get(self.exit_code, f"exit status {self.exit_code}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "meaning": self.meaning,
            "messages": list(self.messages),
            "notes": list(self.notes),
        }


def worst(codes: Iterable[int]) -> int:
    """The exit code that wins: 2 > 3 > 1 > 0. Codes outside 0-3 (pytest's own 4, 5) rank below
    every non-zero code of ours and above 0."""
    best = EXIT_OK
    for code in codes:
        code = int(code)
        if _rank(code) > _rank(best):
            best = code
    return best


def _rank(code: int) -> float:
    return _PRECEDENCE.get(code, 0.5)


TRIAL_MESSAGE_PREFIXES = ("FAIL scenario ", "ERROR scenario ", "INVALID scenario ")
"""Messages about one trial start with one of these: each report details those trials in one place
(the terminal: pytest's FAILURES section; Markdown and HTML: the trial's own section), so the exit
status's reasons count them instead of repeating them."""


def _where(result: TrialResult) -> str:
    spec = result.spec
    return f"scenario {spec.scenario.name!r}, engine {spec.engine}, plan {spec.plan.name!r}"


def _declared(result: TrialResult) -> set[str]:
    return set(result.spec.scenario.expect_for(result.spec.plan).violations)


def _failure_messages(result: TrialResult) -> list[str]:
    """Why a failed trial failed: each unexpected violation with its detail (unit and fix), or the
    known-bad agent that was not caught as declared."""
    declared = _declared(result)
    violated = [name for name, v in result.verdicts.items() if v.held is False]
    unexpected = [name for name in violated if name not in declared]
    messages = [
        f"FAIL {_where(result)}: {name} violated: {result.verdicts[name].detail}" for name in unexpected
    ]
    missing = sorted(declared - set(violated))
    if missing:
        messages.append(
            f"FAIL {_where(result)}: the known-bad agent was not caught: expected {', '.join(missing)} to be "
            "violated, but it held (the harness or the scenario no longer reproduces the bug)"
        )
    return messages or [f"FAIL {_where(result)}: {result.reason}"]


def savings(results: Sequence[TrialResult]) -> tuple[int, int, list[TrialResult]]:
    """Tokens saved and naive-restart tokens over the trials that count for ``min_token_savings``:
    judged trials (not errors) of agents that declare no expected violation (a known-bad agent wastes
    tokens by design)."""
    counted = [r for r in results if r.verdict != "error" and r.tokens is not None and not _declared(r)]
    saved = sum(r.tokens.saved for r in counted if r.tokens is not None)
    naive = sum(r.tokens.naive_restart for r in counted if r.tokens is not None)
    return saved, naive, counted


def evaluate(results: Sequence[TrialResult], config: GateConfig) -> GateOutcome:
    """The exit code and messages for a chaos run: trial errors (3), trial failures and gate
    failures (1), else 0. Messages on 1 name the scenario, engine and plan, and carry the violated
    property's detail (the unit and the fix)."""
    invalid: list[str] = []
    errors: list[str] = []
    failures: list[str] = []
    notes: list[str] = []
    unchecked: dict[str, list[str]] = {}
    for result in results:
        if result.verdict == "invalid":
            invalid.append(f"INVALID {_where(result)}: {result.reason}")
            continue
        if result.verdict == "error":
            errors.append(f"ERROR {_where(result)}: {result.reason}")
            continue
        if result.verdict == "skipped":
            notes.append(f"SKIPPED {_where(result)}: {result.reason}")
            continue
        if result.verdict != "pass":
            failures.extend(_failure_messages(result))
        declared = _declared(result)
        for name in config.required_for(result.spec.engine):
            verdict = result.verdicts.get(name)
            if verdict is None:
                unchecked.setdefault(name, []).append(result.spec.title)
                continue
            if verdict.held is False and name not in declared and result.verdict == "pass":
                # A passing trial never has an undeclared violation (see checkers.judge); kept for
                # results produced elsewhere.
                failures.append(f"FAIL {_where(result)}: required property {name} violated: {verdict.detail}")
    for name, titles in unchecked.items():
        shown = ", ".join(titles[:3]) + (f" and {len(titles) - 3} more" if len(titles) > 3 else "")
        failures.append(
            f"GATE required property {name} was not checked by {len(titles)} trial(s) ({shown}), so it is "
            "not established: add it to the scenario's expect.properties, or stop requiring it "
            "(--chaos-require, or 'required' in [tool.durable-chaos])"
        )
    if config.min_token_savings is not None:
        saved, naive, counted = savings(results)
        if not counted or naive <= 0:
            notes.append(
                f"min_token_savings {config.min_token_savings:.1%} not evaluated: no judged trial of a "
                "healthy agent with model traffic"
            )
        else:
            fraction = saved / naive
            summary = (
                f"tokens saved {saved} of {naive} naive-restart tokens ({fraction:.1%}) over "
                f"{len(counted)} trial(s)"
            )
            if fraction + 1e-12 < config.min_token_savings:
                failures.append(
                    f"GATE min_token_savings: {summary}, below the required {config.min_token_savings:.1%}: "
                    "durable resume is re-paying for work a naive restart would not; see the trials' "
                    "duplicate model calls and cache keys"
                )
            else:
                notes.append(f"min_token_savings {config.min_token_savings:.1%} met: {summary}")
    if invalid:
        code = EXIT_INVALID
    elif errors:
        code = EXIT_INFRASTRUCTURE
    elif failures:
        code = EXIT_VIOLATED
    else:
        code = EXIT_OK
    return GateOutcome(code, invalid + errors + failures, notes)


# pytest's own exit statuses (pytest.ExitCode), without importing pytest here.
PYTEST_OK, PYTEST_FAILED, PYTEST_INTERRUPTED, PYTEST_INTERNAL_ERROR, PYTEST_USAGE, PYTEST_NO_TESTS = range(6)


def session_outcome(
    results: Sequence[TrialResult],
    config: GateConfig,
    *,
    pytest_status: int,
    planned: Sequence[str],
    received: Iterable[str],
    files: int = 0,
    scenario_errors: Sequence[str] = (),
    skipped: Iterable[str] = (),
    fixture_tests: int = 0,
    lookalikes: list[str] | tuple[str, ...] = (),
    ignored: list[str] | tuple[str, ...] = (),
    sharded: bool = False,
) -> GateOutcome:
    """The one outcome of a ``pytest --chaos`` session, written to every report and returned as the
    process's exit status. Computed once pytest's own status (``pytest_status``) and every result are
    known: ``planned`` are the ids of the trials the session selected, ``received`` those that produced
    a result (under xdist, those whose result reached the controller), ``skipped`` those pytest
    skipped before they ran (a skip marker: accounted for, noted); ``fixture_tests`` the tests that use
    the ``chaos`` fixture, ``lookalikes`` and ``ignored`` what collection found
    (:func:`collection_outcome`); ``sharded``: the session is one shard of a run (``--chaos-shard``),
    which may own no trial (``durable-chaos merge`` judges the whole run).

    - a planned trial without a result is exit status 3 whatever pytest says (``-x`` stopped the
      session, a worker crashed, the process was interrupted): no guarantee is established for it;
    - pytest's failure of a test that is not a trial (an ordinary test, a ``chaos`` fixture test) is 1;
    - pytest's usage error (4), "no test collected" (5) and any other status of its own (``pytest.exit``
      with a return code) stay as pytest says: a session pytest calls unsuccessful is never green;
    - a session that ran no chaos trial, or collected a file that looks like a misspelled scenario, is
      never green (:func:`collection_outcome`, exit 2 unless pytest's own 4 or 5 says it first);
    - otherwise the trials' verdicts and the gate decide (:func:`evaluate`); precedence 2 > 3 > 1.
    """
    gate = evaluate(results, config)
    code, messages, notes = gate.exit_code, list(gate.messages), list(gate.notes)
    # Planned trials mean scenario files were collected (their loss is judged below, as exit 3).
    collected = collection_outcome(len(planned) + fixture_tests, files, lookalikes, ignored)
    messages = collected.messages + messages
    notes += collected.notes
    if pytest_status in (PYTEST_OK, PYTEST_FAILED):  # pytest's own other statuses stay as it says
        code = worst([code, collected.exit_code])
    if scenario_errors:
        code = worst([code, EXIT_INVALID])
        messages = [f"INVALID {error}" for error in scenario_errors] + messages
    seen, passed_over = set(received), set(skipped) - set(received)
    missing = [trial for trial in planned if trial not in seen and trial not in passed_over]
    ran = sum(trial in seen for trial in planned)
    skipped_count = sum(trial in passed_over for trial in planned)
    if skipped_count:
        notes.append(f"{skipped_count} trial(s) skipped by pytest (a skip marker): nothing checked in them")
    if sharded and not planned and files:
        notes.append("this shard owned no trial (the other shards did): `durable-chaos merge` judges the run")
    unfinished = _unfinished(int(pytest_status), ran, len(planned), missing, 0 if sharded else files)
    if unfinished:
        code = worst([code, EXIT_INFRASTRUCTURE])
        messages.insert(0, unfinished)
    summary = None
    if pytest_status == PYTEST_FAILED and code == EXIT_OK:
        code, summary = EXIT_VIOLATED, "a test failed"
        messages.append(
            "pytest: a test failed that is not a chaos trial (an ordinary test, a test using the 'chaos' "
            "fixture, or a trial's setup or teardown): see pytest's report above"
        )
    elif pytest_status != PYTEST_OK and code == EXIT_OK:
        code = int(pytest_status)
    return GateOutcome(code, messages, notes, summary)


def _unfinished(status: int, ran: int, planned: int, missing: Sequence[str], files: int) -> str | None:
    """Why a session that did not run its trials to the end establishes no guarantee, or None."""
    if status == PYTEST_INTERRUPTED:
        return (
            f"INTERRUPTED after {ran} of {planned} trial(s): the other {len(missing)} did not run, "
            "so no guarantee is established"
        )
    if status == PYTEST_INTERNAL_ERROR:
        return f"pytest failed internally after {ran} of {planned} trial(s): no guarantee is established"
    if planned == 0 and files:
        return (
            f"no trial ran although {files} scenario file(s) were collected (none was selected): "
            "nothing was checked, so nothing is green"
        )
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        return (
            f"only {ran} of {planned} trial(s) produced a result (no result from {shown}): the session "
            "stopped early (-x, --maxfail), a worker process died, or the trial ended the process; no "
            "guarantee is established for them"
        )
    return None


def collection_outcome(
    trials: int, scenario_files: int, lookalikes: Sequence[str], ignored: Sequence[str]
) -> GateOutcome:
    """What a ``--chaos`` session's collection adds to its outcome (combine with :func:`worst`).
    ``trials``: the trials that ran, plus the tests that use the ``chaos`` fixture.

    - each file that looks like a scenario but was not collected (a misspelled ``schema_version``):
      exit 2, as an invalid scenario is;
    - no chaos trial ran and no scenario file was collected: exit 2, nothing was checked (the paths,
      or the files, are wrong); the session is never green;
    - scenario files in directories pytest skips: a note each (the user may skip them on purpose).

    (Scenario files collected but no trial selected is exit 3: see :func:`session_outcome`.)"""
    messages = [f"INVALID {line}" for line in lookalikes]
    if trials == 0 and scenario_files == 0:
        messages.append(
            "no chaos trial ran: pytest collected no scenario file (a YAML or TOML file with a top-level "
            "schema_version) from the paths given, so nothing was checked and nothing is green"
        )
    notes = [f"not collected: {line}" for line in ignored]
    return GateOutcome(EXIT_INVALID if messages else EXIT_OK, messages, notes)
