"""The one way durable-chaos patches a library: :func:`patched` saves, replaces and restores an
attribute; a :class:`Hook` declares, checks and patches a library's private API.

Every private API of a library the harness relies on is declared as a :class:`Hook` in the
``private_apis`` module of the layer that uses it (``infra/engines/<engine>/private_apis.py``,
``infra/private_apis.py`` for vcrpy, ``faults/private_apis.py`` for the MCP SDK), with the properties
that depend on it and why no public API serves. Each hook checks that its target exists with the shape
it expects when its layer starts (:func:`check_hooks` when an engine starts, :meth:`Hook.problem` when a
cassette starts recording or the MCP fault layer is installed). A broken hook makes what needs it "not
applicable" (or an error), with a message naming the library, its version and the hook; it is never
installed, and the rest of the trial still runs.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any


@contextmanager
def patched(owner: Any, name: str, replacement: Any) -> Iterator[Any]:
    """Set ``owner.name`` to ``replacement`` for the block and restore the original after; yields the
    original. Used by every injector and every hook."""
    own = isinstance(owner, type) and name in owner.__dict__
    original = owner.__dict__[name] if own else getattr(owner, name)
    setattr(owner, name, replacement)
    try:
        yield original
    finally:
        if own or not isinstance(owner, type):
            setattr(owner, name, original)
        else:
            delattr(owner, name)  # the attribute was inherited: inherit it again


class HookBroken(Exception):
    """A hook's target is missing or has another shape than the one the hook was written for."""


@dataclass(frozen=True)
class Hook:
    """One private API a layer patches or reads.

    ``target``: ``module:Attr.attr`` (the owner is everything before the last dot). ``library``: the
    distribution whose version the message names. ``parameters``: names the target (a function) must
    accept. ``properties``: the properties whose verdicts depend on the hook. ``why``: why a private API
    is used (what public API is missing).
    """

    library: str
    target: str
    why: str
    properties: tuple[str, ...] = ()
    parameters: tuple[str, ...] = ()
    check: Callable[[Any], None] | None = field(default=None, compare=False)

    @property
    def owner_path(self) -> tuple[str, str]:
        module, _, attrs = self.target.partition(":")
        owner, _, name = attrs.rpartition(".")
        return f"{module}:{owner}" if owner else module, name

    def owner(self) -> Any:
        owner_path, _ = self.owner_path
        module_name, _, attrs = owner_path.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError as exc:
            raise HookBroken(f"module {module_name} cannot be imported ({exc})") from exc
        for part in filter(None, attrs.split(".")):
            if not hasattr(obj, part):
                raise HookBroken(f"{module_name} has no attribute {attrs}")
            obj = getattr(obj, part)
        return obj

    def resolve(self) -> Any:
        """The target itself; :class:`HookBroken` when it is missing or has another shape."""
        owner = self.owner()
        _, name = self.owner_path
        if not hasattr(owner, name):
            raise HookBroken(f"{self.target} does not exist")
        value = getattr(owner, name)
        if self.parameters:
            try:
                accepted = inspect.signature(value).parameters
            except (TypeError, ValueError) as exc:
                raise HookBroken(f"{self.target} is not a function ({exc})") from exc
            missing = [p for p in self.parameters if p not in accepted]
            if missing:
                raise HookBroken(f"{self.target} no longer takes {', '.join(missing)}")
        if self.check is not None:
            try:
                self.check(value)
            except HookBroken:
                raise
            except Exception as exc:  # noqa: BLE001 - any failed shape check is a broken hook
                raise HookBroken(f"{self.target}: {exc}") from exc
        return value

    def problem(self) -> str | None:
        """Why the hook cannot be used, as a sentence naming library, version and hook; else None."""
        try:
            self.resolve()
        except HookBroken as exc:
            return (
                f"{self.library} {library_version(self.library)}: private hook {self.target} is unusable "
                f"({exc}); durable-chaos relies on it because {self.why}"
            )
        return None

    @contextmanager
    def patch(self, make: Callable[[Any], Any]) -> Iterator[bool]:
        """Replace the target with ``make(original)`` for the block; yields False (and patches nothing)
        when the hook is broken, so observation degrades instead of crashing the run."""
        try:
            original = self.resolve()
        except HookBroken:
            yield False
            return
        owner = self.owner()
        _, name = self.owner_path
        with patched(owner, name, make(original)):
            yield True


def library_version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "(not installed)"


def check_hooks(hooks: list[Hook]) -> dict[str, str]:
    """For each property some broken hook serves, the first such hook's problem."""
    unusable: dict[str, str] = {}
    for hook in hooks:
        problem = hook.problem()
        if problem is None:
            continue
        for prop in hook.properties or ("(observation)",):
            unusable.setdefault(prop, problem)
    return unusable
