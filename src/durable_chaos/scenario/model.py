"""Scenario files as pydantic models (schema version 1).

A scenario names a target (an agent, or a workflow entry point with arguments), the engines to run
it on, the cassette that holds its model traffic, and one or more fault plans. Each
(scenario x engine x plan) becomes one trial and one pytest item. Loading and error reporting live
in :mod:`durable_chaos.scenario.read` and the modules it names.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from durable_chaos import extras
from durable_chaos.faults.model import (
    EXPLORE_KINDS,
    KILL_KINDS,
    SWEEP_DEFAULT_KINDS,
    SWEEP_KINDS,
    Fault,
    fires_at_launch,
)
from durable_chaos.infra.engines import EngineOptions, engine_names, engine_specs
from durable_chaos.infra.engines.base import SHARED_FOLDER
from durable_chaos.properties import CONFIGURED_PROPERTIES, DEFAULT_PROPERTIES, PropertyName

SCHEMA_VERSION = 1


def _registered_engine(name: str) -> str:
    if name not in engine_names():
        raise ValueError(
            f"engine {name!r} is not registered (registered engines: {', '.join(engine_names()) or 'none'})"
        )
    return name


EngineName = Annotated[str, AfterValidator(_registered_engine)]
"""A registered engine (see :mod:`durable_chaos.infra.engines`)."""


def _known_extra(name: str) -> str:
    if name not in extras.EXTRA_MODULES:
        known = ", ".join(extras.EXTRA_MODULES)
        raise ValueError(f"{name!r} is no extra of durable-chaos (its extras: {known})")
    return name


ExtraName = Annotated[str, AfterValidator(_known_extra)]
"""An extra of durable-chaos (``pip install 'durable-chaos[<extra>]'``, see :mod:`durable_chaos.extras`)."""
ImportPath = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$",
        description="An import path of the form 'package.module:attribute'.",
    ),
]
Slug = Annotated[
    str,
    Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Expect(_Strict):
    """What must hold. ``violations`` names properties that are *expected* to be violated (known-bad
    agents): the trial passes only when exactly those are reported violated.

    Without an explicit ``properties`` list, the checked properties are :data:`DEFAULT_PROPERTIES`
    plus the configured ones (:data:`CONFIGURED_PROPERTIES`) whose configuration is present."""

    properties: list[PropertyName] = Field(default_factory=lambda: list(DEFAULT_PROPERTIES))
    violations: list[PropertyName] = Field(default_factory=list)
    max_resumes_to_complete: Annotated[int, Field(ge=0, le=100)] | None = Field(
        default=None,
        description="completes_within: the faulted run must complete after at most this many resumes "
        "(new worker processes after kills).",
    )
    comparator: ImportPath | None = Field(
        default=None,
        description="output_matches_golden: 'module:function' taking (golden, faulted) jsonable outputs and "
        "returning a bool or (bool, reason); structural equality when absent.",
    )

    @field_validator("properties", "violations")
    @classmethod
    def _no_repeats(cls, names: list[str]) -> list[str]:
        if len(set(names)) != len(names):
            raise ValueError("property names must not repeat")
        return names

    @field_validator("properties")
    @classmethod
    def _checks_something(cls, names: list[str]) -> list[str]:
        if not names:
            raise ValueError(
                "empty: a trial that checks no property passes whatever happens (even a crash); list the "
                "properties to check, or leave 'properties' out to check the defaults"
            )
        return names

    @property
    def lists_properties(self) -> bool:
        """Whether ``properties`` was written out (else it is the defaults plus the configured ones)."""
        return "properties" in self.model_fields_set

    @model_validator(mode="after")
    def _violations_are_checked(self) -> Expect:
        implied = () if self.lists_properties else tuple(CONFIGURED_PROPERTIES)
        missing = [v for v in self.violations if v not in self.properties and v not in implied]
        if missing:
            raise ValueError(
                f"expected violation(s) {missing} must also be listed in 'properties' so they are checked"
            )
        wanted = set(self.properties if self.lists_properties else ()) | set(self.violations)
        if "completes_within" in wanted and self.max_resumes_to_complete is None:
            raise ValueError("completes_within needs a bound: set expect.max_resumes_to_complete")
        if (
            self.max_resumes_to_complete is not None
            and self.lists_properties
            and "completes_within" not in self.properties
        ):
            raise ValueError(
                "expect.max_resumes_to_complete is set but completes_within is not in 'properties', "
                "so the bound would never be checked"
            )
        return self

    def checked(self, has_variants: bool, has_upgrade: bool = False) -> list[PropertyName]:
        """The properties a trial checks: ``properties`` as written, else the defaults plus every
        configured property whose configuration is present (a bound, variants)."""
        if self.lists_properties:
            return list(self.properties)
        present = {
            "expect.max_resumes_to_complete": self.max_resumes_to_complete is not None,
            "variants": has_variants,
            "upgrade": has_upgrade,
        }
        extra = [
            name for name, field in CONFIGURED_PROPERTIES.items() if present[field] or name in self.violations
        ]
        return [*self.properties, *(name for name in extra if name not in self.properties)]


class Plan(_Strict):
    """One fault plan: the faults armed together in one faulted run."""

    name: Slug
    faults: list[Fault] = Field(default_factory=list)
    expect: Expect | None = None

    @field_validator("faults")
    @classmethod
    def _launch_follows_a_kill(cls, faults: list[Fault]) -> list[Fault]:
        """A restart ``during: launch`` hits the launch of a worker resuming a killed run: it needs a kill."""
        if any(fires_at_launch(f) for f in faults) and not any(f.traits.kills_worker for f in faults):
            number = next(n for n, f in enumerate(faults, 1) if fires_at_launch(f))
            raise ValueError(
                f"fault #{number} restarts 'during: launch', the launch of a worker resuming a killed run, "
                "and this plan kills nothing: add a fault of kind 'kill'"
            )
        return faults


class Variant(_Strict):
    """The same scenario with other inputs (``no_false_cache_sharing``): another prompt for an
    ``agent`` target, other arguments (merged over ``args``) for an ``entry``."""

    name: Slug
    prompt: str | None = None
    args: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> Variant:
        if self.prompt is None and not self.args:
            raise ValueError("a variant must give another 'prompt' or other 'args'")
        return self


class IdempotencyArgument(_Strict):
    """The tool's idempotency key is the value of one of its arguments (``{argument: refund_id}``)."""

    argument: Annotated[str, Field(min_length=1)]


Idempotency = Literal["call_id"] | IdempotencyArgument
"""How a side-effecting tool is idempotent: by the model's tool call id, or by one argument's value."""


def _effects_function(path: str | None) -> str | None:
    """An ``effects`` import path must import (next to the scenario file) and name a callable."""
    if path is None:
        return None
    from durable_chaos.infra.engines.base import import_object

    try:
        function = import_object(path)
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's to fix
        raise ValueError(f"cannot import {path!r}: {type(exc).__name__}: {exc}") from None
    if not callable(function):
        raise ValueError(f"{path!r} is not callable (it is {type(function).__name__})")
    return path


class SideEffectingTool(_Strict):
    """A side-effecting tool, optionally idempotent (``{name: send_refund, idempotency: call_id}``),
    optionally observed (``{name: send_refund, effects: refunds:made}``).

    A plain side-effecting tool must execute exactly once per logical call; an idempotent one may run
    again, provided every re-execution carries the idempotency key of the first (``tools_exactly_once``).
    A tool with ``effects`` is judged on the effects it really made instead: the function (no arguments,
    called in the harness's process) returns the effects made so far (a count or a collection), and
    the faulted run may make no more than the golden run did.
    """

    name: Annotated[str, Field(min_length=1)]
    idempotency: Idempotency | None = None
    effects: Annotated[ImportPath | None, AfterValidator(_effects_function)] = Field(
        default=None,
        description="'module:function' returning the effects this tool made so far (an int or a "
        "collection); tools_exactly_once then counts real effects instead of trusting idempotency",
    )

    def key_spec(self) -> str | dict[str, str] | None:
        """The idempotency as plain data for the checkers: ``"call_id"``, ``{"argument": name}`` or None."""
        if isinstance(self.idempotency, IdempotencyArgument):
            return {"argument": self.idempotency.argument}
        return self.idempotency


def _side_effecting_tool(entry: Any) -> Any:
    return {"name": entry} if isinstance(entry, str) else entry


class ModelServer(_Strict):
    """A scripted OpenAI-compatible server (see ``durable_chaos.infra.model_server``) that
    serves the model traffic when recording cassettes offline."""

    script: str


if TYPE_CHECKING:
    SweepFault = str
    ExploreFault = str
else:  # the fault kinds' own traits say which kinds a sweep and an explore table may use
    SweepFault = Literal[SWEEP_KINDS]
    ExploreFault = Literal[EXPLORE_KINDS]
SweepRecovery = Literal["retry", "kill", "fresh", "warm"]
SweepUnitKind = Literal["model_request", "tool_call"]
SWEEP_UNIT_KINDS: tuple[SweepUnitKind, ...] = ("model_request", "tool_call")
SWEEP_FAULTS: tuple[SweepFault, ...] = SWEEP_DEFAULT_KINDS
SWEEP_RECOVERY: tuple[SweepRecovery, ...] = ("retry", "kill")
"""The default recovery modes; ``fresh`` (the harness abandons the run and starts a new one) and ``warm``
(the same run resumed in a worker that first ran the target once) are opt-in."""


class Sweep(_Strict):
    """Every boundary of the golden run x phase x ``faults`` x ``recovery``, each its own trial (see
    :mod:`durable_chaos.explore.sweep`). ``units: auto`` takes the units from the golden run, made at
    collection time under ``--chaos``."""

    units: Literal["auto"] = "auto"
    unit_kinds: list[SweepUnitKind] = Field(default_factory=lambda: list(SWEEP_UNIT_KINDS), min_length=1)
    faults: list[SweepFault] = Field(default_factory=lambda: list(SWEEP_FAULTS), min_length=1)
    recovery: list[SweepRecovery] = Field(default_factory=lambda: list(SWEEP_RECOVERY), min_length=1)


EXPLORE_FAULTS: tuple[ExploreFault, ...] = EXPLORE_KINDS


def _explore_faults() -> list[ExploreFault]:
    return list(EXPLORE_FAULTS)


class Explore(_Strict):
    """Generated fault plans, explored by Hypothesis as one pytest item that shrinks a failure to the
    minimal schedule and writes it out as a regression scenario (see
    :mod:`durable_chaos.explore.search`). Boundaries come from the golden run's units."""

    max_examples: Annotated[int, Field(ge=1, le=1000)] = 20
    max_faults: Annotated[int, Field(ge=1, le=10)] = 3
    kinds: list[ExploreFault] = Field(default_factory=_explore_faults, min_length=1)
    statuses: list[Annotated[int, Field(ge=400, le=599)]] = Field(
        default_factory=lambda: [429, 500], min_length=1
    )


DEFAULT_UPGRADE_WAIT = 60.0
"""Seconds a resume on N+1 waits for the engine to pick the run up before it counts as stuck."""


class Upgrade(_Strict):
    """Upgrade safety (see docs/upgrades.md): the faulted run starts on version N (the scenario's
    ``agent``/``entry``) and, after the kill, resumes on version N+1 (``to``, resolved like the target:
    next to the scenario file). The golden run stays on N. ``wait`` bounds how long a resume on N+1
    waits for the engine to pick the run up: an engine that leaves it stuck (DBOS PENDING under
    another application version) is then read and reported, never waited on forever."""

    to: ImportPath | None = Field(
        default=None,
        description="the N+1 target, 'module:attribute' like 'agent' or 'entry'; omitted with 'python': the "
        "same code resumes in another environment (a library upgrade)",
    )
    wait: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=DEFAULT_UPGRADE_WAIT,
        description="seconds a resume on N+1 waits for the engine to pick the run up before it counts as "
        "stuck (its state is then read and reported)",
    )
    python: Annotated[str, Field(min_length=1)] | None = Field(
        default=None,
        description="the N+1 environment's interpreter (a path, beside the scenario file or absolute): "
        "N+1's workers run with it, e.g. a venv with the upgraded libraries and durable-chaos installed",
    )


class ScenarioBase(_Strict):
    """A scenario file, schema version 1, without the engines' option tables (see :data:`Scenario`)."""

    schema_version: Literal[1]
    name: Slug
    description: str = ""
    agent: ImportPath | None = None
    entry: ImportPath | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    prompt: str | None = None
    engines: list[EngineName] = Field(min_length=1)
    cassette: str | None = None
    model_server: ModelServer | None = None
    side_effecting_tools: list[Annotated[SideEffectingTool, BeforeValidator(_side_effecting_tool)]] = Field(
        default_factory=list
    )
    plans: list[Plan] = Field(default_factory=list)
    sweep: Sweep | None = None
    explore: Explore | None = None
    expect: Expect = Field(default_factory=Expect)
    variants: list[Variant] = Field(default_factory=list)
    skip_without_extras: list[ExtraName] = Field(
        default_factory=list,
        description="durable-chaos extras whose absence skips the scenario's trials, with the reason and "
        "the pip install line (without it, a missing extra is a configuration error)",
    )
    max_resumes: Annotated[int, Field(ge=0, le=100)] = 3
    resume: Literal["same_run", "new_run"] = "same_run"
    resume_worker: Literal["new", "warm"] = Field(
        default="new",
        description="where a resume after a kill runs: 'new', a worker that has run nothing else; 'warm', "
        "a worker that first ran the target to completion once (a run of its own), as a long-lived "
        "production worker has (caches filled, clients open, module globals set)",
    )
    upgrade: Upgrade | None = None
    timeout: Annotated[float, Field(gt=0, le=86400)] | None = Field(
        default=None,
        description="seconds a trial of this scenario may take before it is stopped as an error "
        "(default: --chaos-timeout, 600)",
    )

    # Where the scenario lives; not fields of the file (never validated or serialized). Set them with
    # :meth:`located`, read them with :attr:`path`, :attr:`base_dir` and :meth:`line_of`.
    _path: Path | None = PrivateAttr(default=None)
    """For a scenario loaded from a file: that file."""
    _base_dir: Path | None = PrivateAttr(default=None)
    """For a scenario built in Python (no file): the folder its relative paths resolve against."""
    _line_of: Callable[[tuple[int | str, ...]], int] | None = PrivateAttr(default=None)
    """For a scenario loaded from a file: the line of a field (see
    :mod:`durable_chaos.scenario.files.lines`)."""

    @field_validator("cassette")
    @classmethod
    def _cassette_inside(cls, cassette: str | None) -> str | None:
        """A cassette is a file path relative to the scenario's folder, and stays inside it, or inside the
        shared folder beside it (``../_shared/...``, see :data:`SHARED_FOLDER`)."""
        if cassette is None:
            return None
        if not cassette.strip():
            raise ValueError("empty cassette path; give a file such as 'cassettes/<scenario>.yaml'")
        if "\x00" in cassette:
            raise ValueError("cassette path contains a NUL character")
        pure = PurePosixPath(cassette.replace("\\", "/"))
        if pure.is_absolute() or PureWindowsPath(cassette).drive:
            raise ValueError(
                f"cassette path {cassette!r} is absolute; give it relative to the scenario's folder"
            )
        depth = 0
        parts = pure.parts
        if parts[:2] == ("..", SHARED_FOLDER):  # the declared exception: the shared folder beside it
            parts = parts[2:]
        for part in parts:
            depth += -1 if part == ".." else 0 if part == "." else 1
            if depth < 0:
                raise ValueError(
                    f"cassette path {cassette!r} leaves the scenario's folder; keep cassettes beside "
                    "or below the scenario file"
                )
        if cassette.endswith(("/", "\\")) or pure.name in ("", ".", ".."):
            raise ValueError(f"cassette path {cassette!r} is a directory; give the cassette file")
        return cassette

    @field_validator("engines")
    @classmethod
    def _unique_engines(cls, engines: list[str]) -> list[str]:
        if len(set(engines)) != len(engines):
            raise ValueError("engines must not repeat")
        return engines

    @field_validator("resume_worker")
    @classmethod
    def _warm_resumes_the_same_run(cls, worker: str, info: ValidationInfo) -> str:
        if worker == "warm" and info.data.get("resume") == "new_run":
            raise ValueError("a warm worker resumes the interrupted run; 'warm' needs resume: same_run")
        return worker

    @field_validator("upgrade")
    @classmethod
    def _upgrade_fits(cls, upgrade: Upgrade | None, info: ValidationInfo) -> Upgrade | None:
        """An upgrade resumes the faulted run on N+1 after a kill: every plan must kill, a sweep must have
        kill points, and the resume must be of the same run (the fields before ``upgrade`` are in
        ``info.data`` when valid)."""
        if upgrade is None:
            return None
        data = info.data
        own = (data.get("agent"), data.get("entry"))
        if upgrade.python is None and (upgrade.to is None or upgrade.to in own):
            raise ValueError(
                "an upgrade needs 'to' (N+1's module:attribute, not the scenario's own target), 'python' "
                "(an interpreter with the upgraded libraries), or both"
            )
        if data.get("resume") == "new_run":
            raise ValueError("an upgrade resumes the interrupted run on N+1; it needs resume: same_run")
        if data.get("explore") is not None:
            raise ValueError("an upgrade runs with 'plans' or a 'sweep' (no 'explore' yet)")
        sweep: Sweep | None = data.get("sweep")
        if sweep is not None and ("kill" not in sweep.recovery or not KILL_KINDS & set(sweep.faults)):
            raise ValueError(
                "an upgrade sweep resumes its kill points on N+1: sweep.recovery needs 'kill', and "
                "sweep.faults a fault kind that kills the worker ('kill')"
            )
        plans: list[Plan] = data.get("plans") or []
        no_kill = [p.name for p in plans if not any(f.traits.kills_worker for f in p.faults)]
        if no_kill:
            raise ValueError(
                f"an upgrade resumes on N+1 after a kill, and plan(s) {no_kill} kill nothing: add a fault "
                "of kind 'kill' to each plan"
            )
        return upgrade

    @model_validator(mode="after")
    def _target_is_consistent(self) -> ScenarioBase:
        if (self.agent is None) == (self.entry is None):
            raise ValueError("give exactly one target: 'agent' (module:attr) or 'entry' (module:function)")
        if self.agent is not None and self.prompt is None:
            raise ValueError("an 'agent' target needs a 'prompt'")
        if self.cassette is None and self.model_server is None:
            raise ValueError("give a 'cassette' (recorded model traffic) or a 'model_server' script")
        if not self.plans and self.sweep is None and self.explore is None:
            raise ValueError("give at least one plan in 'plans', a 'sweep' or an 'explore' table")
        names = [plan.name for plan in self.plans]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"plan names must be unique; repeated: {duplicated}")
        tools = [tool.name for tool in self.side_effecting_tools]
        if len(set(tools)) != len(tools):
            raise ValueError("side_effecting_tools must not repeat a tool")
        variants = [variant.name for variant in self.variants]
        if len(set(variants)) != len(variants):
            raise ValueError("variant names must be unique")
        for expect in [self.expect, *(plan.expect for plan in self.plans if plan.expect is not None)]:
            named = set(expect.properties if expect.lists_properties else ()) | set(expect.violations)
            if "no_false_cache_sharing" in named and not self.variants:
                raise ValueError(
                    "no_false_cache_sharing needs 'variants': runs of the scenario with other inputs"
                )
            if "no_stale_replay" in named and self.upgrade is None:
                raise ValueError("no_stale_replay needs 'upgrade': the version N+1 the run resumes on")
        return self

    @property
    def path(self) -> Path | None:
        """The file this scenario was loaded from, if any."""
        return self._path

    def located(
        self,
        path: Path | str | None,
        *,
        base_dir: Path | str | None = None,
        line_of: Callable[[tuple[int | str, ...]], int] | None = None,
    ) -> Self:
        """A copy of this scenario that knows where it lives: ``path``, the file it was read from (its
        relative paths resolve beside it), or, for a scenario built in Python (``path`` None),
        ``base_dir``, the folder they resolve against (default: the working directory). ``line_of``
        finds the line of a field in that file; without it the copy keeps this scenario's when it
        has the same file, else has none."""
        copy = self.model_copy()
        copy._path = Path(path) if path is not None else None
        copy._base_dir = Path(base_dir) if base_dir is not None else None
        if line_of is not None or copy._path != self._path:
            copy._line_of = line_of
        return copy

    def line_of(self, loc: tuple[int | str, ...]) -> int | None:
        """The 1-based line of the field at ``loc`` (``("plans", 0, "faults", 1)``) in the scenario's file,
        or None when it was not loaded from one."""
        return self._line_of(loc) if self._line_of is not None else None

    @property
    def base_dir(self) -> Path:
        """Directory that relative paths (cassette, script, target modules) resolve against."""
        if self._path is not None:
            return self._path.parent
        return self._base_dir if self._base_dir is not None else Path.cwd()

    def resolve(self, relative: str) -> Path:
        """Resolve a path written in the scenario relative to the scenario file."""
        candidate = Path(relative)
        return candidate if candidate.is_absolute() else self.base_dir / candidate

    def version_path(self, upgraded: bool) -> str:
        """The target's import path on version N (the scenario's own), or on N+1 (``upgrade.to``)."""
        if upgraded and self.upgrade is not None and self.upgrade.to is not None:
            return self.upgrade.to
        path = self.agent or self.entry
        assert path is not None
        return path

    def side_effecting_names(self) -> tuple[str, ...]:
        """The names of the tools the scenario marks as side-effecting."""
        return tuple(tool.name for tool in self.side_effecting_tools)

    def effects_functions(self) -> dict[str, str]:
        """Tool name -> ``module:function`` counting its real effects, for the tools that give one."""
        return {tool.name: tool.effects for tool in self.side_effecting_tools if tool.effects is not None}

    def idempotency(self) -> dict[str, str | dict[str, str]]:
        """Tool name -> how it is idempotent, for the side-effecting tools that declare it."""
        return {
            tool.name: spec for tool in self.side_effecting_tools if (spec := tool.key_spec()) is not None
        }

    def expect_for(self, plan: Plan) -> Expect:
        """The expectations that apply to a plan (its own, else the scenario's)."""
        return plan.expect if plan.expect is not None else self.expect

    def properties_for(self, plan: Plan) -> list[PropertyName]:
        """The properties a trial of this plan checks (see :meth:`Expect.checked`)."""
        return self.expect_for(plan).checked(bool(self.variants), self.upgrade is not None)

    def engine_options(self, engine: str) -> EngineOptions:
        """The scenario's ``<engine>:`` table (the engine's defaults when the file has none)."""
        options = getattr(self, engine, None)
        return options if isinstance(options, EngineOptions) else engine_specs()[engine].options()


def _scenario_model() -> type[ScenarioBase]:
    """The scenario model: :class:`ScenarioBase` plus one optional table per registered engine, typed by
    that engine's options model (``prefect: {flow_retries: 1}``)."""
    tables: dict[str, Any] = {
        name: (spec.options, Field(default_factory=spec.options, description=spec.options.__doc__))
        for name, spec in engine_specs().items()
    }
    return create_model("Scenario", __base__=ScenarioBase, __module__=__name__, **tables)


if TYPE_CHECKING:
    Scenario = ScenarioBase
else:
    Scenario = _scenario_model()


def json_schema() -> dict[str, Any]:
    """The JSON Schema of scenario files, for editors."""
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "durable-chaos scenario"
    return schema
