"""Network faults through Toxiproxy: apply a toxic (or take a proxy down) and remove it again.

A pure helper, not yet a fault kind: given something that controls a Toxiproxy (structurally, the
:class:`ToxicControl` protocol, which ``durable_chaos.infra.toxiproxy.client.ToxiproxyClient``
satisfies; faults imports nothing from fixtures), a proxy name and a :class:`ToxicSpec`::

    spec = ToxicSpec("latency", {"latency": 2000})
    with toxic(client, "model_endpoint", spec):
        ...                                   # traffic through the proxy is 2 s slower

    applied = apply_toxic(client, "postgres", ToxicSpec("reset_peer", {"timeout": 0}))
    ...
    remove_toxic(client, applied)

``ToxicSpec("down")`` is the proxy disabled (connections closed, new ones refused) rather than a toxic.
Specs are checked up front (known type, stream, toxicity in 0..1, known integer attributes), so a typo
in a scenario fails loudly instead of being ignored by the server.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "DOWN",
    "TOXIC_ATTRIBUTES",
    "AppliedToxic",
    "ToxicControl",
    "ToxicSpec",
    "apply_toxic",
    "remove_toxic",
    "toxic",
]

DOWN = "down"

# Toxiproxy's toxics and their integer attributes (toxics/*.go); units in docs/network.md.
TOXIC_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "latency": ("latency", "jitter"),
    "bandwidth": ("rate",),
    "slow_close": ("delay",),
    "timeout": ("timeout",),
    "reset_peer": ("timeout",),
    "slicer": ("average_size", "size_variation", "delay"),
    "limit_data": ("bytes",),
}


class ToxicControl(Protocol):
    def add_toxic(
        self,
        proxy: str,
        type: str,
        attributes: Mapping[str, Any] | None = None,
        *,
        stream: str = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> Any: ...

    def remove_toxic(self, proxy: str, toxic: str) -> None: ...

    def disable(self, name: str) -> Any: ...

    def enable(self, name: str) -> Any: ...


@dataclass(frozen=True)
class ToxicSpec:
    """A toxic to apply: Toxiproxy's type, attributes, stream, toxicity and (optional) name."""

    type: str
    attributes: Mapping[str, int] = field(default_factory=dict)
    stream: str = "downstream"
    toxicity: float = 1.0
    name: str | None = None

    def __post_init__(self) -> None:
        if self.type == DOWN:
            if self.attributes:
                raise ValueError("a 'down' network fault takes no attributes")
            return
        known = TOXIC_ATTRIBUTES.get(self.type)
        if known is None:
            names = ", ".join(sorted([*TOXIC_ATTRIBUTES, DOWN]))
            raise ValueError(f"unknown toxic type {self.type!r}; expected one of: {names}")
        if self.stream not in ("upstream", "downstream"):
            raise ValueError(f"toxic stream must be 'upstream' or 'downstream', not {self.stream!r}")
        if not 0.0 <= self.toxicity <= 1.0:
            raise ValueError(f"toxicity must be between 0 and 1, not {self.toxicity!r}")
        for key, value in self.attributes.items():
            if key not in known:
                raise ValueError(f"{self.type} toxic has no attribute {key!r}; it has: {', '.join(known)}")
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{self.type}.{key} must be a non-negative integer, not {value!r}")

    @property
    def toxic_name(self) -> str:
        return self.name or f"{self.type}_{self.stream}"


@dataclass(frozen=True)
class AppliedToxic:
    """What :func:`apply_toxic` did, so :func:`remove_toxic` can undo exactly that."""

    proxy: str
    spec: ToxicSpec

    @property
    def name(self) -> str:
        return self.spec.toxic_name


def apply_toxic(client: ToxicControl, proxy: str, spec: ToxicSpec) -> AppliedToxic:
    if spec.type == DOWN:
        client.disable(proxy)
    else:
        client.add_toxic(
            proxy,
            spec.type,
            dict(spec.attributes),
            stream=spec.stream,
            toxicity=spec.toxicity,
            name=spec.toxic_name,
        )
    return AppliedToxic(proxy, spec)


def remove_toxic(client: ToxicControl, applied: AppliedToxic, *, missing_ok: bool = False) -> None:
    """Undo :func:`apply_toxic`. ``missing_ok``: a toxic already gone (a 404, e.g. after a reset) is fine."""
    if applied.spec.type == DOWN:
        client.enable(applied.proxy)
        return
    try:
        client.remove_toxic(applied.proxy, applied.name)
    except Exception as exc:
        if not (missing_ok and getattr(exc, "status", None) == 404):
            raise


@contextmanager
def toxic(client: ToxicControl, proxy: str, spec: ToxicSpec) -> Iterator[AppliedToxic]:
    """The toxic applied for the block, removed after it (even if the block raised)."""
    applied = apply_toxic(client, proxy, spec)
    try:
        yield applied
    finally:
        remove_toxic(client, applied, missing_ok=True)
