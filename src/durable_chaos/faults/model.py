"""Fault kinds and boundary selectors, as data.

A *durable unit* is one model request, one tool call, or one MCP call (a server's tool listing or
one of its tool calls, named ``<server>:<tool>`` and ``<server>:tools/list``): what the engine wraps as
a task, step or activity. A :class:`Selector` picks units and the moment to strike; a fault says what
goes wrong there. Faults are injected beneath the unit (HTTP transport, tool body, worker process) so the
engine's own retry and checkpoint machinery sees them exactly as in production.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from durable_chaos.faults.injectors.network import ToxicSpec

UnitKind = Literal["model_request", "tool_call", "mcp"]
SelectorKind = Literal["model_request", "tool_call", "mcp", "any"]
Phase = Literal["before", "after"]
UNIT_KINDS: tuple[UnitKind, ...] = ("model_request", "tool_call", "mcp")


@dataclass(frozen=True)
class Traits:
    """What a fault kind is, as data. Each fault class carries its own (``traits``); every list of fault
    kinds outside this module (what fails a unit, what the sweep and the explorer may use, ...) is
    derived from them (see :func:`kinds_where`), so a new kind is declared here once."""

    unit_kinds: tuple[UnitKind, ...] = UNIT_KINDS
    """The unit kinds it can strike at all."""
    fails_unit: bool = False
    """The unit it strikes fails (so a system without checkpoints would restart from scratch: counted in
    what a naive restart loses, see ``judge.accounting``)."""
    changes_conversation: bool = False
    """After it, the agent legitimately sends other model requests than the golden run (a retry prompt),
    so the faulted run's units are not compared with the golden run's."""
    kills_worker: bool = False
    """It SIGKILLs the worker process: its runs happen in worker processes, it fires at most once per
    generated fault, and a sweep uses it for its ``kill`` and ``fresh`` recovery modes."""
    sweep: int | None = None
    """Its place among the kinds a ``sweep`` table's ``faults`` may list (None: not sweepable)."""
    sweep_default: bool = False
    """Among a sweep's default ``faults`` (and the fault-coverage universe)."""
    explore: int | None = None
    """Its place among the kinds Hypothesis generates (``explore`` tables, ``strategies``), simplest first:
    shrinking prefers earlier kinds, and faults at one boundary are listed in this order (None: never
    generated)."""
    explore_max_times: int = 1
    """How many times a generated fault of this kind may fire at most, by default."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Selector(_Strict):
    """Which unit a fault strikes, at which moment, and how often.

    - ``kind``: ``model_request``, ``tool_call``, ``mcp`` or ``any``.
    - ``name``: glob on the unit's name (the tool name, the model name for model requests, and
      ``<server id>:<tool>`` or ``<server id>:tools/list`` for MCP units, e.g. ``"ledger:*"``).
    - ``occurrence``: 1-based index among the units of the run that match ``kind`` and ``name``,
      in order of first appearance; unset means every matching unit.
    - ``phase``: ``before`` the unit runs (the fault replaces it) or ``after`` it ran but before its
      result reaches the engine (the at-least-once window).
    - ``attempt``: strike only this attempt of the unit (1 = first try); unset means any attempt.
      For model requests an attempt is one HTTP send, so the provider SDK's own retries count.
    - ``times``: how many times the fault fires in total, e.g. fail twice then succeed.
    """

    kind: SelectorKind = "any"
    name: str = "*"
    occurrence: Annotated[int, Field(ge=1)] | None = None
    phase: Phase = "before"
    attempt: Annotated[int, Field(ge=1)] | None = None
    times: Annotated[int, Field(ge=1, le=1000)] = 1

    def matches_unit(self, kind: str, name: str) -> bool:
        """True when a unit of this kind and name is one this selector may strike."""
        return (self.kind == "any" or self.kind == kind) and fnmatch.fnmatchcase(name, self.name)


class _Fault(_Strict):
    traits: ClassVar[Traits] = Traits()
    streaming_only: ClassVar[bool] = False
    """Whether the fault can strike only model requests whose response streams (SSE)."""
    at: Selector = Selector()

    def applies_to(self, kind: str) -> bool:
        """Whether this fault kind can strike a unit of the given kind at all."""
        return kind in self.traits.unit_kinds

    def fires_in(self, *, resumed: bool) -> bool:
        """Whether the fault may fire in this process of the run (``resumed``: a worker started after a
        kill, recovering the run)."""
        return True


class TimeoutFault(_Fault):
    """The client times out talking to the model endpoint or MCP server, after an optional delay."""

    traits: ClassVar[Traits] = Traits(
        unit_kinds=("model_request", "mcp"), fails_unit=True, sweep=2, explore=2, explore_max_times=4
    )
    kind: Literal["timeout"]
    delay: Annotated[float, Field(ge=0, le=600)] = 0.0


class HttpErrorFault(_Fault):
    """The model endpoint answers with an HTTP error shaped like the provider's real one."""

    traits: ClassVar[Traits] = Traits(
        unit_kinds=("model_request",),
        fails_unit=True,
        sweep=1,
        sweep_default=True,
        explore=0,
        explore_max_times=4,
    )
    kind: Literal["http_error"]
    status: Annotated[int, Field(ge=400, le=599)] = 500
    retry_after: Annotated[float, Field(ge=0, le=3600)] | None = None
    message: str | None = None


class LatencyFault(_Fault):
    """The unit is slowed down by ``seconds`` (before it runs or before its result returns)."""

    kind: Literal["latency"]
    seconds: Annotated[float, Field(ge=0, le=600)]


class ToolErrorFault(_Fault):
    """The tool raises ``exception`` with ``message``.

    ``exception`` is an importable ``Exception`` subclass (``module.Class``, ``module:Class``, or a
    builtin's bare name) that can be built from one message string; this is checked when the
    scenario is loaded, so a typo is a scenario error rather than some other exception at run time.
    ``SystemExit``, ``KeyboardInterrupt`` and ``GeneratorExit`` (and their subclasses) are refused:
    they stop the process or generator instead of failing the tool. Other ``BaseException``s, such as
    ``asyncio.CancelledError``, are allowed.
    """

    traits: ClassVar[Traits] = Traits(
        unit_kinds=("tool_call", "mcp"),
        fails_unit=True,
        changes_conversation=True,
        sweep=0,
        sweep_default=True,
        explore=1,
        explore_max_times=2,
    )
    kind: Literal["tool_error"]
    exception: str = "builtins.RuntimeError"
    message: str = "injected by durable-chaos"

    @field_validator("exception")
    @classmethod
    def _dotted_path(cls, value: str) -> str:
        if "." not in value and ":" not in value:
            value = f"builtins.{value}"
        exception_class(value)
        return value


_IMPORT_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*[.:][A-Za-z_]\w*$")
_PROCESS_CONTROL = (SystemExit, KeyboardInterrupt, GeneratorExit)


def exception_class(path: str) -> type[BaseException]:
    """The exception class a ``tool_error`` fault names, checked: importable, an exception, not one
    that stops the process, and buildable from one message string. Raises ValueError saying why not.
    """
    if not _IMPORT_PATH.match(path):
        raise ValueError(f"{path!r} is not an import path like 'ValueError' or 'package.module.Error'")
    module_name, _, attr = path.replace(":", ".").rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's to fix
        raise ValueError(f"cannot import module {module_name!r} for exception {path!r}: {exc}") from None
    cls = getattr(module, attr, None)
    if cls is None:
        close = difflib.get_close_matches(attr, [n for n in dir(module) if n[:1].isupper()], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"module {module_name!r} has no exception {attr!r}{hint}")
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        raise ValueError(f"{path!r} is not an exception class (it is {type(cls).__name__!s} {cls!r:.60})")
    stopper = next((base for base in _PROCESS_CONTROL if issubclass(cls, base)), None)
    if stopper is not None:
        raise ValueError(
            f"{path!r} is a {stopper.__name__}, which stops the process or generator rather than "
            "failing the tool; use an Exception subclass (e.g. RuntimeError, ConnectionError)"
        )
    try:
        cls("injected by durable-chaos")
    except Exception as exc:  # noqa: BLE001 - a constructor that wants other arguments
        raise ValueError(
            f"{path!r} cannot be built from one message string ({type(exc).__name__}: {exc}); "
            "use an exception class whose constructor takes a message"
        ) from None
    return cls


class _ResponseFault(_Fault):
    """A fault that acts on the model's response: it always strikes ``after`` the request (the
    response must exist); a selector that leaves ``phase`` unset gets ``after``."""

    traits: ClassVar[Traits] = Traits(unit_kinds=("model_request",), fails_unit=True)

    @model_validator(mode="before")
    @classmethod
    def _phase_after(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("at"), dict) and "phase" not in data["at"]:
            data = {**data, "at": {**data["at"], "phase": "after"}}
        elif isinstance(data, dict) and "at" not in data:
            data = {**data, "at": {"phase": "after"}}
        return data

    @field_validator("at")
    @classmethod
    def _only_after(cls, at: Selector) -> Selector:
        if at.phase != "after":
            raise ValueError("this fault strikes the response, so its phase must be 'after'")
        return at


class MalformedOutputFault(_ResponseFault):
    """The model's response comes back, but with tool arguments or output that fail validation
    (JSON bodies and streams alike). Strikes ``after`` the request."""

    traits: ClassVar[Traits] = Traits(
        unit_kinds=("model_request",), fails_unit=True, changes_conversation=True
    )
    kind: Literal["malformed_output"]


class StreamCutFault(_ResponseFault):
    """The connection drops after ``after_events`` server-sent events of a streamed response (at most
    all events but the last, so the stream is always incomplete). Strikes only requests that stream."""

    streaming_only: ClassVar[bool] = True
    kind: Literal["stream_cut"]
    after_events: Annotated[int, Field(ge=0, le=100_000)] = 1


class StreamStallFault(_ResponseFault):
    """The stream stalls for ``seconds`` after ``after_events`` events; when that is longer than the
    client's read timeout, the client's read times out (as the SDK's own timeout error), else the
    stream resumes. Strikes only requests that stream."""

    streaming_only: ClassVar[bool] = True
    kind: Literal["stream_stall"]
    seconds: Annotated[float, Field(ge=0, le=3600)] = 600.0
    after_events: Annotated[int, Field(ge=0, le=100_000)] = 1


class StreamMalformedFault(_ResponseFault):
    """Server-sent event number ``event`` (1-based, at most the last) is replaced by one whose data is
    not JSON. Strikes only requests that stream."""

    streaming_only: ClassVar[bool] = True
    kind: Literal["stream_malformed"]
    event: Annotated[int, Field(ge=1, le=100_000)] = 1


class StreamErrorFault(_ResponseFault):
    """The provider reports an error inside a streamed response that began with HTTP 200: after
    ``after_events`` events (at most all but the last) comes the API's own in-stream error event (for
    Anthropic Messages, ``event: error`` with ``{"type": "error", "error": {"type": <error_type>, ...}}``;
    OpenAI's and Gemini's in their modules) and the stream ends. The provider module renders the event,
    so the SDK raises what it raises for a real one. Strikes only streams of APIs that have such an
    event (all four known ones); on others it stays armed, and a fault that never fires makes the trial
    an error."""

    streaming_only: ClassVar[bool] = True
    kind: Literal["stream_error"]
    after_events: Annotated[int, Field(ge=0, le=100_000)] = 1
    error_type: Annotated[str, Field(pattern=r"^[a-z_]{1,64}$")] = "overloaded_error"
    message: str | None = None


class ConnectionResetFault(_Fault):
    """The peer resets the connection to the model endpoint: ``before``, the request never reaches the
    provider; ``after``, the provider answered (and billed it) but the response is lost on the way. The
    HTTP client raises its own read error (``[Errno 104] Connection reset by peer``), which the provider
    SDK turns into its connection error (and retries) as it does for a real reset."""

    traits: ClassVar[Traits] = Traits(unit_kinds=("model_request",), fails_unit=True)
    kind: Literal["connection_reset"]


NetworkTarget = Literal["model_endpoint", "database", "engine_api"]
NETWORK_TARGETS: tuple[str, ...] = ("model_endpoint", "database", "engine_api")


class NetworkFault(_Fault):
    """A Toxiproxy toxic on the connection to ``target``, applied when the boundary ``at`` is reached
    and removed ``duration`` seconds later, or at the boundary ``until``, or (neither given) when the
    process's run ends.

    - ``target``: ``model_endpoint`` (the model requests), ``database`` (the engine's database
      connection, e.g. DBOS's Postgres) or ``engine_api`` (the engine's API server, e.g. Prefect's).
      The engine says which targets it has and where they are; the fault layer only names them.
    - ``toxic``: a Toxiproxy toxic type (``latency``, ``bandwidth``, ``slow_close``, ``timeout``,
      ``reset_peer``, ``slicer``, ``limit_data``) or ``down`` (the proxy disabled: connections closed,
      new ones refused); ``attributes`` are the toxic's integer attributes (``latency: 2000`` ms).
    - ``stream`` (``downstream``: towards the client) and ``toxicity`` (probability per connection).

    A network fault does not fail the unit itself: what it does to the run is the network's doing.
    """

    kind: Literal["network"]
    target: NetworkTarget
    toxic: str
    attributes: dict[str, int] = Field(default_factory=dict)
    stream: Literal["upstream", "downstream"] = "downstream"
    toxicity: Annotated[float, Field(ge=0, le=1)] = 1.0
    duration: Annotated[float, Field(gt=0, le=3600)] | None = None
    until: Selector | None = None

    @model_validator(mode="after")
    def _checked(self) -> NetworkFault:
        if self.duration is not None and self.until is not None:
            raise ValueError("give 'duration' or 'until', not both")
        ToxicSpec(self.toxic, dict(self.attributes), self.stream, self.toxicity)  # raises ValueError
        return self

    def toxic_spec(self, index: int) -> ToxicSpec:
        """The toxic of this fault (plan ``index``
        names the toxic, so two faults on one proxy do not collide)."""
        return ToxicSpec(
            self.toxic,
            dict(self.attributes),
            self.stream,
            self.toxicity,
            name=None if self.toxic == "down" else f"chaos{index}_{self.toxic}",
        )

    def describe(self) -> str:
        """``latency (latency=2000) on model_endpoint`` — for messages."""
        attrs = ", ".join(f"{k}={v}" for k, v in self.attributes.items())
        return f"{self.toxic}{f' ({attrs})' if attrs else ''} on {self.target}"


RestartTarget = Literal["database", "engine_api"]
RESTART_TARGETS: tuple[str, ...] = ("database", "engine_api")


class RestartFault(_Fault):
    """The engine's ``database`` (e.g. DBOS's Postgres) or ``engine_api`` server (e.g. Prefect's) is
    stopped when the boundary ``at`` is reached and started again ``downtime`` seconds later.

    - ``during``: ``any`` (default: the first process of the run that reaches the boundary),
      ``recovery`` (only in a resumed worker, after a kill: the restart hits the run while it recovers)
      or ``launch`` (no boundary: the first worker resuming a killed run stops the server just before it
      launches the engine, so the engine starts and recovers pending work during the outage; ``at`` is
      not given, and the plan needs a ``kill``).

    The worker cannot restart infrastructure itself: it asks the process that owns it (the session) and
    goes on once the server is down; the engine must ride out the outage (or the run is left stranded).
    Which targets an engine can restart is the engine's to say (``EngineSpec.restart_targets``).
    """

    kind: Literal["restart"]
    target: RestartTarget
    downtime: Annotated[float, Field(ge=0, le=600)] = 1.0
    during: Literal["any", "recovery", "launch"] = "any"

    @model_validator(mode="after")
    def _launch_has_no_boundary(self) -> RestartFault:
        if self.during == "launch" and "at" in self.model_fields_set:
            raise ValueError(
                "a restart 'during: launch' fires when the worker resuming a killed run launches the "
                "engine, at no unit boundary: remove 'at'"
            )
        return self

    def fires_in(self, *, resumed: bool) -> bool:
        if self.during == "launch":
            return False  # fired by the resumed worker before it launches the engine, never at a unit
        return self.during == "any" or resumed

    def describe(self) -> str:
        """``database down 2.0 s, during recovery`` — for messages."""
        during = f", during {self.during}" if self.during != "any" else ""
        return f"{self.target} down {self.downtime:.1f} s{during}"


def fires_at_launch(fault: Fault) -> bool:
    """A fault that fires when a resumed worker launches the engine rather than at a unit boundary."""
    return isinstance(fault, RestartFault) and fault.during == "launch"


class McpServerExitFault(_Fault):
    """The MCP server's stdio process dies (SIGKILL) just before the call reaches it; the call then
    fails the way a call to a dead server fails. Strikes only MCP units."""

    traits: ClassVar[Traits] = Traits(unit_kinds=("mcp",), fails_unit=True)
    kind: Literal["mcp_server_exit"]


class KillFault(_Fault):
    """SIGKILL of the worker process at the boundary; the engine must resume from its checkpoint."""

    traits: ClassVar[Traits] = Traits(
        fails_unit=True, kills_worker=True, sweep=3, sweep_default=True, explore=3, explore_max_times=1
    )
    kind: Literal["kill"]


Fault = Annotated[
    TimeoutFault
    | HttpErrorFault
    | LatencyFault
    | ToolErrorFault
    | MalformedOutputFault
    | StreamCutFault
    | StreamStallFault
    | StreamMalformedFault
    | StreamErrorFault
    | ConnectionResetFault
    | NetworkFault
    | RestartFault
    | McpServerExitFault
    | KillFault,
    Field(discriminator="kind"),
]

StreamFault = StreamCutFault | StreamStallFault | StreamMalformedFault | StreamErrorFault

FAULT_CLASSES: tuple[type[_Fault], ...] = get_args(get_args(Fault)[0])
"""Every fault class, in the order of the :data:`Fault` union (reports and error messages use it)."""


def _kind_of(cls: type[_Fault]) -> str:
    (kind,) = get_args(cls.model_fields["kind"].annotation)
    return str(kind)


TRAITS: dict[str, Traits] = {_kind_of(cls): cls.traits for cls in FAULT_CLASSES}
"""Each fault kind's traits, in the order of the union."""
FAULT_KINDS: tuple[str, ...] = tuple(TRAITS)


def traits_of(kind: str) -> Traits:
    """The traits of a fault kind (as a history's ``fault`` event names it)."""
    return TRAITS[kind]


def kinds_where(test: Callable[[Traits], bool]) -> tuple[str, ...]:
    """The fault kinds whose traits pass ``test``, in the order of the union."""
    return tuple(kind for kind, traits in TRAITS.items() if test(traits))


def _ranked(place: Callable[[Traits], int | None]) -> tuple[str, ...]:
    placed = {kind: place(traits) for kind, traits in TRAITS.items()}
    return tuple(sorted((k for k, p in placed.items() if p is not None), key=lambda k: placed[k] or 0))


FAILING_KINDS: frozenset[str] = frozenset(kinds_where(lambda t: t.fails_unit))
"""Kinds that fail the unit they strike."""
CONVERSATION_CHANGING_KINDS: frozenset[str] = frozenset(kinds_where(lambda t: t.changes_conversation))
"""Kinds after which the agent legitimately sends other requests than the golden run."""
KILL_KINDS: frozenset[str] = frozenset(kinds_where(lambda t: t.kills_worker))
"""Kinds that SIGKILL the worker process."""
SWEEP_KINDS: tuple[str, ...] = _ranked(lambda t: t.sweep)
"""The kinds a sweep may list, in their order."""
SWEEP_DEFAULT_KINDS: tuple[str, ...] = tuple(k for k in SWEEP_KINDS if TRAITS[k].sweep_default)
"""A sweep's default kinds (and those of the fault-coverage universe)."""
EXPLORE_KINDS: tuple[str, ...] = _ranked(lambda t: t.explore)
"""The kinds Hypothesis generates, simplest first."""
