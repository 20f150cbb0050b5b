"""The scenario's ``restate:`` table."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from durable_chaos.infra.engines.base import EngineOptions


class RestateOptions(EngineOptions):
    """How the harness runs a target on Restate.

    The retry policy is Restate's *invocation* retry policy: after a crash of the service (a kill) or a
    failed attempt, Restate retries the invocation against the endpoint, replaying its journal. The
    harness puts it on the service it wraps around an ``agent:`` target and makes it the embedded
    server's default; an ``entry:`` service keeps the policy its author declared, if any. Short
    intervals keep a kill->recover cycle fast; ``max_attempts`` must leave room for a restart of the
    endpoint (each refused connection is an attempt).
    """

    retry_initial_interval: float = Field(default=0.05, gt=0, description="seconds before the first retry")
    retry_factor: float = Field(default=2.0, ge=1.0, description="growth of the interval per attempt")
    retry_max_interval: float = Field(default=0.5, gt=0, description="upper bound of the interval, seconds")
    retry_max_attempts: int = Field(
        default=60, ge=1, description="attempts (the first included) before giving up"
    )
    on_max_attempts: Literal["kill", "pause"] = Field(
        default="kill",
        description="what Restate does when attempts run out: 'kill' fails the run; 'pause' leaves the "
        "invocation paused (the harness then reports it as not completed)",
    )
    handler: str | None = Field(
        default=None,
        description="entry targets given as a service: the handler to invoke (needed when it has several)",
    )
    key: str | None = Field(
        default=None,
        description="virtual object key or workflow id for an entry target (default: the run's id, so "
        "every run, and every workflow, gets a fresh one)",
    )
    recovery_timeout: float = Field(
        default=120.0, gt=0, description="seconds a run (or a resume) waits for the invocation's result"
    )
    upgrade_endpoint: Literal["same_address", "new_address"] = Field(
        default="same_address",
        description="upgrade trials (docs/upgrades.md): how N+1 is deployed; 'same_address' serves it where "
        "N's deployment was (an in-place update), 'new_address' registers it as a new deployment at another "
        "address, as an immutable deployment is",
    )

    def retry_policy_config(self) -> dict[str, str]:
        """The policy as the server's ``default-retry-policy`` settings."""
        return {
            "initial-interval": f"{round(self.retry_initial_interval * 1000)}ms",
            "exponentiation-factor": str(self.retry_factor),
            "max-interval": f"{round(self.retry_max_interval * 1000)}ms",
            "max-attempts": str(self.retry_max_attempts),
            "on-max-attempts": self.on_max_attempts,
        }
