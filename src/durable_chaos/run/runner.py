"""The trial runner: a session that runs trials, each turned into a verdict.

:meth:`TrialRunner.run` checks the trial's configuration, starts its engine, runs it (:mod:`.trial`)
under its deadline, and turns every failure of its own into a trial *error* (or ``invalid``,
``skipped``) with a clear message.
"""

from __future__ import annotations

import asyncio
import time
import traceback

from durable_chaos.infra.cassettes import CassetteError
from durable_chaos.infra.engines import EngineUnavailable, TargetMismatch
from durable_chaos.infra.engines.base import RestartUnavailable
from durable_chaos.judge.effects import EffectsError
from durable_chaos.run import preflight
from durable_chaos.run.fault_services.network import NetworkUnavailable, TargetNotOffered
from durable_chaos.run.guards.deadline import TrialTimeout, deadline
from durable_chaos.run.guards.exit_guard import ProcessExitCalled, exit_reason, exits_stopped
from durable_chaos.run.records.artifacts import scrub_directory
from durable_chaos.run.results import TrialResult
from durable_chaos.run.session import Session
from durable_chaos.run.targets import TrialSetupError, TrialSkipped
from durable_chaos.run.trial import run_trial
from durable_chaos.scenario.trial_specs import TrialSpec


class TrialRunner(Session):
    """Runs trials, owning engine infrastructure and temp directories for one session."""

    def run(self, spec: TrialSpec, *, golden_only: bool = False) -> TrialResult:
        """Run one trial. ``golden_only``: make (or take from the cache) only its golden run, as a
        result whose verdict is ``pass`` when the golden run completed (a sweep expands from it)."""
        started = time.monotonic()
        self.counter += 1
        workdir = self.root / f"{self.counter:03d}-{spec.scenario.name}-{spec.id}"
        workdir.mkdir(parents=True, exist_ok=True)
        history = workdir / "history.jsonl"
        try:
            # Configuration mistakes (target not importable, engine not installed, agent not durable for
            # it, selectors naming nothing the agent has, no cassette to replay) are an invalid trial,
            # found before anything starts, as `durable-chaos validate` finds them.
            skip = preflight.skipped(spec.scenario)
            if skip is not None:
                raise TrialSkipped(skip)
            with exits_stopped() as exits:  # the target is imported and may run in this process
                preflight.check(spec.scenario, spec.engine, record=self.record)
                self.engine(spec.engine)  # the session's infrastructure starts outside the trial's deadline
                seconds = spec.scenario.timeout or self.timeout
                self.deadline_at = None if not seconds else time.monotonic() + seconds
                try:
                    with deadline(seconds, history, on_expiry=self.stop_workers):
                        result = asyncio.run(run_trial(self, spec, workdir, golden_only))
                finally:
                    self.deadline_at = None
            if exits:  # the engine may have taken the exception for a failed unit and gone on
                result = TrialResult(spec, "error", exit_reason(exits))
        except TargetMismatch as exc:
            result = TrialResult(spec, "invalid", str(exc))
        except (TargetNotOffered, RestartUnavailable, TrialSkipped) as exc:
            result = TrialResult(spec, "skipped", str(exc))
        except (TrialSetupError, EffectsError, EngineUnavailable, CassetteError, NetworkUnavailable) as exc:
            result = TrialResult(spec, "error", str(exc))
        except Exception as exc:  # noqa: BLE001 - the harness's own failure is an error verdict
            (workdir / "harness-error.txt").write_text(traceback.format_exc())
            result = TrialResult(
                spec,
                "error",
                f"harness failure: {type(exc).__name__}: {exc} "
                f"(traceback in {workdir / 'harness-error.txt'})",
            )
        except TrialTimeout as exc:
            result = TrialResult(spec, "error", str(exc))
        except ProcessExitCalled as exc:
            result = TrialResult(spec, "error", exit_reason([exc.status]))
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - user code must not end the session, nor pass
            # SystemExit, GeneratorExit, or the user's own BaseException subclass (at import, in a tool)
            result = TrialResult(
                spec,
                "error",
                f"the target raised {type(exc).__name__}({exc}) during the trial: user code ended the run "
                "instead of returning or raising an error, so nothing about it can be judged",
            )
        result.workdir = workdir
        result.seconds = time.monotonic() - started
        if result.verdict not in ("pass", "skipped"):
            self.kept.append(workdir)
            scrub_directory(workdir)  # kept artifacts carry no credential, even if the session dies
        return result
