"""The ``durable-chaos`` command line.

Subcommands are registered in :data:`COMMANDS` (name -> :class:`Command`); each adds its own
arguments and returns a process exit code. ``validate`` checks scenario files, ``schema`` prints the
JSON Schema of scenario files for editors, ``init`` scaffolds a scenario for an agent, ``merge`` merges
the JSON reports of a run's shards (``pytest --chaos --chaos-shard K/N``) into one outcome and one set of
reports, exiting with the status an unsharded run would have (see docs/ci.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from durable_chaos import __version__, extras
from durable_chaos.scenario import model as scenario_module
from durable_chaos.scenario.discover import CASSETTES_REASON, discover_scenario_files
from durable_chaos.scenario.errors import ScenarioError
from durable_chaos.scenario.model import Scenario
from durable_chaos.scenario.read import load_scenario

EXIT_OK = 0
EXIT_INVALID = 2


@dataclass(frozen=True)
class Command:
    """A subcommand: its help text, how it adds arguments, and the handler that runs it."""

    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _configure_validate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="scenario files or directories")
    parser.add_argument(
        "--no-import",
        action="store_true",
        help="check the files only; do not import the targets to check engines, durability, tools and "
        "selectors against them",
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="check as for `pytest --chaos --chaos-record`: a cassette that does not exist yet is fine "
        "(without it, a cassette to replay must exist)",
    )


def _configuration_problems(scenario: Scenario, record: bool) -> list[str]:
    """What a trial would find before it starts, as it finds it (see
    :func:`durable_chaos.run.preflight.configuration_problems`), in replay mode."""
    from durable_chaos.run import preflight

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the target's import-time warnings are not validate's to show
        return preflight.configuration_problems(scenario, scenario.engines, record=record)


def _describe(scenario: Scenario) -> str:
    plans = len(scenario.plans)
    return f"{plans} plan{'s' if plans != 1 else ''}, engines: {', '.join(scenario.engines)}"


def run_validate(args: argparse.Namespace) -> int:
    """Validate scenario files; 0 when all are valid, 2 when any is invalid or none was found.

    Unless ``--no-import``, each file's target is imported and checked against the file: engines
    installed, the agent durable for each engine, selectors and side-effecting tools naming what the
    agent has.

    Every file gets a verdict: one bad file never stops the others. In directories, files with a
    scenario suffix that are not scenario files are listed as skipped, with the reason.
    """
    from durable_chaos.pytest_plugin.collection import looks_like_scenario

    skipped: list[tuple[Path, str]] = []
    files = discover_scenario_files(args.paths, skipped)
    in_cassettes = [path for path, reason in skipped if reason == CASSETTES_REASON]
    lookalikes = []  # files meant to be scenarios (a misspelled schema_version): invalid, as under pytest
    for path, reason in skipped:
        lookalike = looks_like_scenario(path) if reason == "no top-level schema_version" else None
        if lookalike is not None:
            lookalikes.append(lookalike)
        elif reason != CASSETTES_REASON:
            print(f"skip {path} ({reason})")
    if in_cassettes:
        print(f"skip {len(in_cassettes)} file(s) in 'cassettes' directories")
    for lookalike in lookalikes:
        print(lookalike, file=sys.stderr)
    if not files:
        joined = ", ".join(str(p) for p in args.paths)
        print(f"error: no scenario files found in: {joined}", file=sys.stderr)
        return EXIT_INVALID
    failed = len(lookalikes)
    for path in files:
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            failed += 1
            print(exc, file=sys.stderr)
        except Exception as exc:  # noqa: BLE001 - load_scenario raises only ScenarioError; never a traceback
            failed += 1
            print(f"{path}: internal error while loading: {type(exc).__name__}: {exc}", file=sys.stderr)
        else:
            found = [] if args.no_import else _configuration_problems(scenario, args.record)
            skip = None if found else extras.skip_reason(scenario.skip_without_extras)
            if skip is not None:
                print(f"skip {path}: {skip}")
            elif found:
                failed += 1
                for problem in found:
                    print(problem, file=sys.stderr)  # path:line: field: message
            else:
                print(f"ok   {path} ({_describe(scenario)})")
    if failed:
        print(f"{failed} of {len(files) + len(lookalikes)} scenario file(s) invalid", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


def _configure_init(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="MODULE:ATTR", help="the agent to scaffold for (importable)")
    parser.add_argument(
        "--dir", type=Path, default=Path("."), help="where to write the files (default: here)"
    )
    parser.add_argument("--engine", help="the engine to run on (default: the agent's durability)")
    parser.add_argument("--prompt", help="the prompt of the trials (default: a placeholder)")
    parser.add_argument("--force", action="store_true", help="overwrite files that exist")


def run_init(args: argparse.Namespace) -> int:
    """Describe the agent and write a scripted-server script and a scenario beside each other."""
    from durable_chaos.scaffold import ScaffoldError, scaffold

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            made = scaffold(args.target, args.dir, engine=args.engine, prompt=args.prompt, force=args.force)
        except ScaffoldError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_INVALID
    print("\n".join(made.info.lines()))
    print(f"wrote {made.script_path} (the scripted model conversation)")
    print(f"wrote {made.scenario_path} (a kill, a 429 burst, a tool error)")
    guessed = ", ".join(made.side_effecting) or "none"
    print(f"side_effecting_tools guessed from the names: {guessed}; confirm them in the scenario")
    print(f"next: pytest --chaos --chaos-record {made.scenario_path} && pytest --chaos {made.scenario_path}")
    return EXIT_OK


def _configure_schema(parser: argparse.ArgumentParser) -> None:
    """``schema`` takes no arguments."""


def run_schema(args: argparse.Namespace) -> int:
    """Print the JSON Schema of scenario files."""
    print(json.dumps(scenario_module.json_schema(), indent=2))
    return EXIT_OK


MERGE_REPORTS = (
    ("--html", "durable_chaos.report.html:write_report", "the HTML report"),
    ("--json", "durable_chaos.report.json_report:write_report", "the JSON report (version 1)"),
    ("--junit", "durable_chaos.report.junit:write_report", "JUnit XML (a test case per trial)"),
    (
        "--markdown",
        "durable_chaos.report.markdown:write_report",
        "the Markdown summary ($GITHUB_STEP_SUMMARY)",
    ),
)
"""``merge``'s reports in their write order (the Markdown summary, which repeats the outcome, last)."""


def _configure_merge(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "reports", nargs="+", type=Path, metavar="REPORT", help="the JSON reports of every shard of one run"
    )
    for option, _, what in MERGE_REPORTS:
        parser.add_argument(option, type=Path, metavar="PATH", default=None, help=f"write {what} to PATH")


def run_merge(args: argparse.Namespace) -> int:
    """Merge the shards' JSON reports (``pytest --chaos --chaos-shard K/N --chaos-report PATH``): one
    outcome (the exit status an unsharded run would have) and one set of reports. A missing, duplicated,
    incomplete or foreign shard is exit 3; an unreadable report is exit 3 with one line naming it."""
    import importlib

    from durable_chaos.report.formats import ReportInputs
    from durable_chaos.report.gate import EXIT_INFRASTRUCTURE, EXIT_MEANINGS, worst
    from durable_chaos.report.merge import MergeError, merge_record, merged_outcome, read_shard_report
    from durable_chaos.report.terminal import terminal_lines
    from durable_chaos.scrub import for_terminal

    try:
        reports = [read_shard_report(path) for path in args.reports]
    except MergeError as exc:
        print(f"durable-chaos merge: {exc}", file=sys.stderr)
        return EXIT_INFRASTRUCTURE
    results, outcome = merged_outcome(reports)
    seed = reports[0].data.get("chaos_seed")
    gate = outcome.as_dict()
    inputs = ReportInputs(results, gate, seed, False, merge_record(reports, outcome))
    code, problems = outcome.exit_code, []
    for option, writer, what in MERGE_REPORTS:
        path = getattr(args, option.lstrip("-"))
        if path is None:
            continue
        module, _, function = writer.partition(":")
        try:
            getattr(importlib.import_module(module), function)(path, inputs)
        except Exception as exc:  # noqa: BLE001 - a report that cannot be written is a harness failure
            errno_text = exc.strerror if isinstance(exc, OSError) else None
            reason = errno_text or f"{type(exc).__name__}: {exc}"
            problems.append(f"ERROR cannot write {what} to {path}: {reason}")
            code = worst([code, EXIT_INFRASTRUCTURE])
    for line in [
        *terminal_lines(results),
        f"durable-chaos exit status {code}: {EXIT_MEANINGS.get(code, code)}",
    ]:
        print(for_terminal(line))
    for message in [*outcome.messages, *problems, *(f"note: {note}" for note in outcome.notes)]:
        print(for_terminal(f"  {message}"))
    return code


COMMANDS: dict[str, Command] = {
    "validate": Command(
        "check scenario files and report every problem with its line", _configure_validate, run_validate
    ),
    "schema": Command("print the JSON Schema of scenario files", _configure_schema, run_schema),
    "merge": Command(
        "merge the JSON reports of a run's shards (pytest --chaos-shard K/N) into one outcome and reports",
        _configure_merge,
        run_merge,
    ),
    "init": Command(
        "scaffold a scripted conversation and a scenario for an importable agent", _configure_init, run_init
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per entry of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="durable-chaos", description="Chaos-test durable Pydantic AI agents."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in COMMANDS.items():
        sub = subparsers.add_parser(name, help=command.help, description=command.help)
        command.configure(sub)
        sub.set_defaults(handler=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code: 0 (all valid) or 2 (invalid input, usage errors); ``merge``
    returns the merged run's exit status (0-3, 3 for a missing or unreadable shard report)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_INVALID
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_INVALID
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INVALID
    except Exception as exc:  # noqa: BLE001 - exit codes are 0 or 2, never a traceback
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INVALID


if __name__ == "__main__":
    raise SystemExit(main())
