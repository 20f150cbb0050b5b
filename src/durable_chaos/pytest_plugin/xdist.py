"""Trials under pytest-xdist (``pytest --chaos -n N``): results travel from the workers to the controller.

Each xdist worker collects every item and runs the trials it is handed with its own
:class:`~durable_chaos.run.runner.TrialRunner` (its own temp root, engine infrastructure, ports and
workflow ids, so trials on different workers never share state). The controller runs no trial: it
only sees the test reports the workers send through xdist's own report mechanism. So a worker attaches
the finished trial's result to the ``call`` report of its item (attribute :data:`REPORT_ATTRIBUTE`,
which pytest's report serialization carries along as it carries every extra attribute of a report),
and the controller rebuilds the result from it in ``pytest_runtest_logreport``. The gate, the terminal
summary and the JSON, Markdown and HTML reports then run on the controller alone, over every trial.

Session-level facts that the gate needs (the trials selected, scenario files collected, scenario
errors) travel in xdist's ``workeroutput`` at the end of each worker's session. A worker that crashed
sends none, and its running trial's result never arrives: the controller knows which trials it is
owed (from the workers' reports, or the ids xdist collected), so a lost trial is never a silent gap.

The result travels pickled (base64 text, which execnet carries): the reports need the whole
:class:`TrialResult` (history events, outcomes, verdicts), and worker and controller run the same
code (xdist requires it, also for remote workers). A worker is as trusted as the code it runs.
"""

from __future__ import annotations

import base64
import pickle
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from durable_chaos.run.results import TrialResult

REPORT_ATTRIBUTE = "durable_chaos_result"
"""The attribute of a worker's ``call`` report that holds the trial's result (see :func:`encode`)."""
WORKEROUTPUT_KEY = "durable_chaos"


def is_worker(config: pytest.Config) -> bool:
    """Whether this process is an xdist worker."""
    return hasattr(config, "workerinput")


def is_controller(config: pytest.Config) -> bool:
    """Whether this process is an xdist controller that hands trials to workers (``-n N``, ``--dist``)."""
    if is_worker(config):
        return False
    try:
        numprocesses = config.getoption("numprocesses")
        tx = config.getoption("tx")
        dist = config.getoption("dist")
    except ValueError:
        return False
    return bool(numprocesses or tx) and dist != "no"


def encode(result: TrialResult) -> str:
    """The result as text for the report. The runs' outputs travel as JSON-able data (their repr when
    they have none): they are the user's objects, whose classes the controller may not import, and
    the checkers have already judged them."""
    from dataclasses import replace

    from pydantic_core import to_jsonable_python

    def plain(outcome: Any) -> Any:
        if outcome is None:
            return None
        return replace(outcome, output=to_jsonable_python(outcome.output, fallback=repr))

    result = replace(
        result,
        golden=plain(result.golden),
        faulted=plain(result.faulted),
        variants=[replace(v, reference=plain(v.reference), shared=plain(v.shared)) for v in result.variants],
    )
    return base64.b64encode(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)).decode("ascii")


def decode(text: str) -> TrialResult:
    """The result a worker attached to a report (:func:`encode`)."""
    return pickle.loads(base64.b64decode(text))  # noqa: S301 - from our own xdist worker, see module doc


class Controller:
    """The controller's collector: every trial result the workers report, and their session counts."""

    def __init__(self, config: pytest.Config, results: list[TrialResult]) -> None:
        self.config = config
        self.results = results
        self.received: set[str] = set()
        """The node ids of the trials whose result arrived."""
        self.skipped: set[str] = set()
        """The node ids of the items skipped before they ran (a skip marker)."""
        self.reported: list[str] | None = None
        """The trials the workers selected, as they reported at their end (None: no worker did)."""
        self.collected: list[str] = []
        """Every item id a worker collected (xdist sends them at the start): the trials among them
        stand in for :attr:`reported` when no worker lived to report."""
        self.files = 0
        self.scenario_errors: list[str] = []
        self.split: dict[str, object] | None = None
        """Under ``--chaos-shard``: the whole unsplit run's fingerprint and size, as a worker reported it."""

    @property
    def planned(self) -> list[str]:
        """The node ids of the trials the session selected."""
        if self.reported is not None:
            return self.reported
        return [i for i in self.collected if i.partition("::")[0].endswith(SCENARIO_SUFFIXES)]

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        text = getattr(report, REPORT_ATTRIBUTE, None)
        if text is not None and report.when == "call":
            self.results.append(decode(text))
            self.received.add(report.nodeid)
        if report.when == "setup" and report.skipped:
            self.skipped.add(report.nodeid)

    @pytest.hookimpl
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if not self.collected:
            self.collected = list(ids)

    @pytest.hookimpl
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """A worker finished: every worker collects every item, so any report's list is the list."""
        counts = getattr(node, "workeroutput", {}).get(WORKEROUTPUT_KEY)
        if not counts:
            return
        if self.reported is None or len(counts["planned"]) > len(self.reported):
            self.reported = list(counts["planned"])
        self.files = max(self.files, counts["files"])
        if counts.get("split") is not None:
            self.split = dict(counts["split"])
        for error_text in counts["scenario_errors"]:
            if error_text not in self.scenario_errors:
                self.scenario_errors.append(error_text)


SCENARIO_SUFFIXES = (".yaml", ".yml", ".toml")


def publish_counts(
    config: pytest.Config,
    planned: list[str],
    files: int,
    scenario_errors: list[str],
    split: dict[str, object] | None = None,
) -> None:
    """On a worker: hand the session's trials and counts to the controller (in xdist's ``workeroutput``);
    ``split``: under ``--chaos-shard``, the whole unsplit run's fingerprint and size."""
    output = getattr(config, "workeroutput", None)
    if output is not None:
        output[WORKEROUTPUT_KEY] = {
            "planned": list(planned),
            "files": files,
            "scenario_errors": list(scenario_errors),
            "split": split,
        }
