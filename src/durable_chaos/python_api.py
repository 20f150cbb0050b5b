"""The Python API: the ``chaos`` fixture's object, which runs a trial and returns its verdicts.

``chaos.run(scenario, plan)`` runs one trial with the session's :class:`TrialRunner` (the one the
scenario files' items use: the same engines, warm workers and golden-run cache, so repeated examples
of a ``@given`` test reuse the scenario's golden run) and returns a :class:`ChaosOutcome`:
per-property verdicts and :meth:`ChaosOutcome.assert_held`, whose failure names the violated
property and why. A violated plan is also written out as a regression scenario file
(:mod:`durable_chaos.explore.regressions`), named in the failure message.

``scenario`` is a scenario file's path, a :class:`Scenario`, or one built with :meth:`Chaos.scenario`
from Python (target, prompt or args, engines, cassette or model_server). ``plan`` is a :class:`Plan`
(e.g. drawn from :func:`durable_chaos.strategies.fault_plans`) or a list of faults.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from durable_chaos.explore.schedules import plan_of
from durable_chaos.explore.sweep import Unit, golden_units
from durable_chaos.faults.model import Fault
from durable_chaos.run.records.golden_cache import golden_key
from durable_chaos.scenario.model import Plan, Scenario
from durable_chaos.scenario.trial_specs import TrialSpec

if TYPE_CHECKING:
    from durable_chaos.judge.checkers import Verdict
    from durable_chaos.run.results import TrialResult
    from durable_chaos.run.runner import TrialRunner

_FAULTS: TypeAdapter[list[Any]] = TypeAdapter(list[Fault])
_active: contextvars.ContextVar[Chaos | None] = contextvars.ContextVar("durable_chaos_chaos", default=None)
"""The ``chaos`` fixture's object while it is active (:meth:`Chaos.active`); read it with
:func:`active_chaos`. Strategies built over a scenario's golden-run units ask it for them."""


class ChaosError(Exception):
    """Bad input to the Python API (a scenario that does not load, an unknown engine): one line."""


class ChaosViolation(AssertionError):
    """A trial broke a guarantee (:meth:`ChaosOutcome.assert_held`)."""


class ChaosTrialError(AssertionError):
    """A trial could not be judged (error, invalid): the harness, the setup or a fault that never fired."""


@dataclass
class ChaosOutcome:
    """One trial's verdicts."""

    result: TrialResult
    regression: Path | None = None
    """The regression scenario file written for this trial, when it violated a property."""

    def __repr__(self) -> str:
        return f"<ChaosOutcome {self.result.spec.title}: {self.verdict}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Hypothesis (and IPython) print this, not the dataclass's fields (the whole trial)."""
        printer.text(repr(self))

    @property
    def verdict(self) -> str:
        """``pass``, ``fail`` (a property violated), ``error``, ``invalid`` or ``skipped``."""
        return self.result.verdict

    @property
    def reason(self) -> str:
        return self.result.reason

    @property
    def plan(self) -> Plan:
        return self.result.spec.plan

    @property
    def properties(self) -> dict[str, Verdict]:
        """Per property: its verdict (``held`` True, False, or None when not applicable; ``reason``)."""
        return dict(self.result.verdicts)

    def held(self, name: str) -> bool | None:
        """Whether property ``name`` held (None: not applicable, or not checked)."""
        verdict = self.result.verdicts.get(name)
        return None if verdict is None else verdict.held

    @property
    def violated(self) -> list[str]:
        """The properties reported violated (expected ones included)."""
        return [name for name, v in self.result.verdicts.items() if v.held is False]

    def describe(self) -> str:
        faults = "; ".join(_fault_text(f) for f in self.plan.faults) or "no faults"
        lines = [f"{self.result.spec.title} with [{faults}]: {self.verdict.upper()}: {self.reason}"]
        lines += [f"  {name} VIOLATED: {self.result.verdicts[name].detail}" for name in self.violated]
        if self.regression is not None:
            lines.append(f"  regression scenario written to {self.regression}")
            lines.append(f"  reproduce: pytest --chaos {self.regression}")
        return "\n".join(lines)

    def assert_held(self, *properties: str) -> None:
        """Raise unless the trial passed (every checked property held, or was the scenario's expected
        violation). With ``properties``, only those must hold (the others are reported, not asserted).
        A trial that could not be judged raises :class:`ChaosTrialError`, never passes."""
        if self.verdict in ("error", "invalid"):
            raise ChaosTrialError(self.describe())
        if self.verdict == "skipped":
            raise ChaosTrialError(f"{self.result.spec.title} was skipped: {self.reason}")
        if properties:
            unknown = [p for p in properties if p not in self.result.verdicts]
            if unknown:
                raise ChaosTrialError(
                    f"property {unknown[0]!r} was not checked by {self.result.spec.title} "
                    f"(checked: {', '.join(self.result.verdicts)})"
                )
            if any(self.held(p) is False for p in properties):
                raise ChaosViolation(self.describe())
            return
        if self.verdict != "pass":
            raise ChaosViolation(self.describe())


def _fault_text(fault: Any) -> str:
    at = fault.at.model_dump(exclude_defaults=True)
    where = " ".join(f"{k}={v}" for k, v in at.items())
    extra = f" {fault.status}" if fault.kind == "http_error" else ""
    return f"{fault.kind}{extra} at {where or 'any unit'}"


@dataclass(repr=False)
class Chaos:
    """The ``chaos`` fixture: runs trials on a session's runner.

    ``runner`` is called once, on the first trial (the plugin passes its session runner, which it
    closes at the session's end). ``seed`` is the session's chaos seed (recorded in regression files);
    ``current_test`` names the running test (regression files are named after it)."""

    runner: Callable[[], TrialRunner]
    seed: int | None = None
    current_test: Callable[[], str | None] = lambda: None
    regressions: Path | None = None
    """Where regression files go (default: beside the scenario file)."""
    memoize: bool = True
    """Run each distinct (scenario, engine, plan) once per session and hand later calls its outcome:
    Hypothesis's shrinker asks again for plans it already tried (different choices, same sorted
    faults), and a cassette-replayed trial gives the same verdicts each time. False runs every call."""
    trials: int = 0
    """Trials run (not counting outcomes reused)."""
    _outcomes: dict[tuple[str, ...], ChaosOutcome] = field(default_factory=dict)
    _scenarios: dict[str, Scenario] = field(default_factory=dict)
    _units: dict[tuple[str, str], list[Unit]] = field(default_factory=dict)

    def scenario(self, source: str | Path | Scenario | None = None, /, **fields: Any) -> Scenario:
        """A scenario: loaded from a file (cached), given as is, or built from ``fields`` (``name``,
        ``agent`` + ``prompt`` or ``entry`` + ``args``, ``engines``, ``cassette`` or ``model_server``, ...;
        ``base_dir`` is the folder relative paths and target modules resolve against, default the
        current directory)."""
        if isinstance(source, Scenario):
            return source
        if source is not None:
            key = str(Path(source).resolve())
            if key not in self._scenarios:
                from durable_chaos.scenario.errors import ScenarioError
                from durable_chaos.scenario.read import load_scenario

                try:
                    self._scenarios[key] = load_scenario(source)
                except ScenarioError as exc:
                    raise ChaosError(str(exc)) from None
            return self._scenarios[key]
        base_dir = fields.pop("base_dir", None)
        data = {"schema_version": 1, "plans": [{"name": "python"}], **fields}
        try:
            built = Scenario.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "scenario"
            raise ChaosError(f"scenario built in Python: {where}: {first['msg']}") from None
        built = built.located(None, base_dir=base_dir)
        return built

    def engine_for(self, scenario: Scenario, engine: str | None) -> str:
        if engine is None:
            return scenario.engines[0]
        if engine not in scenario.engines:
            raise ChaosError(
                f"scenario {scenario.name!r} does not run on {engine!r} (its engines: "
                f"{', '.join(scenario.engines)})"
            )
        return engine

    def units(self, source: str | Path | Scenario, engine: str | None = None) -> list[Unit]:
        """The durable units of the scenario's golden run on ``engine`` (made once per session)."""
        scenario = self.scenario(source)
        engine = self.engine_for(scenario, engine)
        key = (golden_key(TrialSpec(scenario, engine, Plan(name="units")))[2] + str(scenario.path), engine)
        if key not in self._units:
            baseline = self.runner().run(TrialSpec(scenario, engine, Plan(name="units-baseline")))
            found = golden_units(baseline.events)
            if baseline.golden is None or not baseline.golden.completed or not found:
                raise ChaosError(
                    f"scenario {scenario.name!r} on {engine}: the golden run gave no units "
                    f"({baseline.verdict}: {baseline.reason})"
                )
            self._units[key] = found
        return self._units[key]

    def run(
        self,
        source: str | Path | Scenario,
        plan: Plan | Sequence[Any] | None = None,
        *,
        engine: str | None = None,
    ) -> ChaosOutcome:
        """Run one trial of the scenario with ``plan`` (a Plan, a list of faults or fault dicts, or
        None for no faults) on ``engine`` (default: the scenario's first) and return its verdicts."""
        scenario = self.scenario(source)
        engine = self.engine_for(scenario, engine)
        chosen = _as_plan(plan)
        key = (
            *golden_key(TrialSpec(scenario, engine, chosen)),
            scenario.expect.model_dump_json(),
            chosen.model_dump_json(exclude={"name"}),
        )
        if self.memoize and key in self._outcomes:
            outcome = self._outcomes[key]
            if outcome.regression is not None:  # rewritten: the last failing call is the minimal one
                outcome.regression = self._write(scenario, chosen, outcome.result)
            return outcome
        result = self.runner().run(TrialSpec(scenario, engine, chosen))
        self.trials += 1
        outcome = ChaosOutcome(result)
        if result.verdict == "fail":
            outcome.regression = self._write(scenario, chosen, result)
        if self.memoize:
            self._outcomes[key] = outcome
        return outcome

    def _write(self, scenario: Scenario, plan: Plan, result: TrialResult) -> Path | None:
        """The regression scenario of a violated plan (None when it cannot be written)."""
        from durable_chaos.explore.regressions import write_regression

        violated = [n for n, v in result.verdicts.items() if v.held is False]
        try:
            return write_regression(
                scenario,
                plan,
                test=self.current_test(),
                seed=self.seed,
                violations=[f"{n}: {result.verdicts[n].detail}" for n in violated],
                directory=self.regressions,
            )
        except OSError:  # a read-only tree still gets its verdicts
            return None

    def __repr__(self) -> str:  # Hypothesis prints the fixture in its falsifying examples
        return f"<chaos fixture: seed {self.seed}, {self.trials} trial(s) run>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Hypothesis's printer shows a dataclass's fields (every outcome so far: megabytes) unless
        the object prints itself: one short line."""
        printer.text(repr(self))

    @contextlib.contextmanager
    def active(self) -> Iterator[Chaos]:
        """Make this the object that scenario-based strategies ask for golden-run units (see
        :func:`active_chaos`), for the block; the one active before comes back after it."""
        token = _active.set(self)
        try:
            yield self
        finally:
            _active.reset(token)


def _as_plan(plan: Plan | Sequence[Any] | None) -> Plan:
    if isinstance(plan, Plan):
        return plan
    if plan is None:
        return Plan(name="no-faults")
    try:
        faults = _FAULTS.validate_python([f if isinstance(f, dict) else f.model_dump() for f in plan])
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ChaosError(f"plan: faults.{where}: {first['msg']}") from None
    return plan_of(faults)


def active_chaos() -> Chaos | None:
    """The active ``chaos`` fixture's object (inside :meth:`Chaos.active`), or None."""
    return _active.get()


def session_units(source: str | Path | Scenario, engine: str | None) -> list[Unit]:
    """The golden-run units of a scenario, from the active ``chaos`` fixture (for the strategies)."""
    chaos = active_chaos()
    if chaos is None:
        raise ChaosError(
            "strategies built with scenario=... take their boundaries from the scenario's golden run, "
            "which the 'chaos' fixture makes: add the 'chaos' fixture to the test's arguments"
        )
    return chaos.units(source, engine)
