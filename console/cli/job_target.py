"""Where a job runs, as the command line says it: a host pattern, or `--run-on GROUP`
(one worker of the group, locally) for `run`, `schedules create` and `webhooks create`.

A run-on target is stored as the pattern `run-on/GROUP` (console.workers.protocol), so
a schedule or webhook made either way fires the same job as `run --run-on GROUP`.
"""

from __future__ import annotations

import argparse

from console.errors import UsageError
from console.workers.protocol import run_on_pattern


def add_target_arguments(parser: argparse.ArgumentParser, pattern_help: str) -> None:
    parser.add_argument("pattern", nargs="?", help=pattern_help)
    parser.add_argument(
        "--run-on",
        metavar="GROUP",
        help="run it locally on one worker of this worker group (instead of a pattern)",
    )


def given_target(args: argparse.Namespace) -> str | None:
    """The pattern given, `run-on/GROUP` for --run-on, or None when neither was."""
    if args.run_on is None:
        return str(args.pattern) if args.pattern else None
    if args.pattern:
        raise UsageError("give a pattern or --run-on GROUP, not both")
    return run_on_pattern(args.run_on)


def required_target(args: argparse.Namespace) -> str:
    """As `given_target`, for commands that have no runbook default to fall back on."""
    target = given_target(args)
    if target is None:
        raise UsageError("give a PATTERN (the hosts) or --run-on GROUP")
    return target
