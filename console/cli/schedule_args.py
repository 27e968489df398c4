"""The options that define a schedule (`opsconsole schedules create`); the Schedule
they build comes from `console.schedules.building`, whose errors name the option."""

from __future__ import annotations

import argparse
import dataclasses
from datetime import datetime

from console.cli.assignments import parse_assignments
from console.schedules.building import ScheduleOptions, build_schedule
from console.schedules.model import MISFIRE_RULES, OVERLAP_RULES, Schedule


def add_schedule_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that define a schedule, for `opsconsole schedules add` (and `set`).

    Every option defaults to None so that `schedule_from_args` can tell "not given" apart
    and report contradictory combinations itself, as UsageErrors naming the option."""
    when = parser.add_argument_group("recurrence (exactly one)")
    when.add_argument(
        "--cron",
        metavar="EXPR",
        help="cron expression, 5 fields in local time of --tz (a 6th field is seconds)",
    )
    when.add_argument("--once", metavar="TIME", help="run once at TIME, e.g. 2026-12-01T10:00")
    when.add_argument(
        "--every",
        nargs=2,
        metavar=("N", "UNIT"),
        help="every N minutes|hours|days|weeks|months (from --start)",
    )
    detail = parser.add_argument_group("recurrence details")
    detail.add_argument("--weekdays", metavar="DAYS", help="with weeks: e.g. mon,wed,fri")
    detail.add_argument(
        "--month-days",
        metavar="DAYS",
        help="with months: e.g. 1,15,last (missing days are skipped)",
    )
    detail.add_argument(
        "--nth-weekday", metavar="NTH", help="with months: e.g. 2nd-tue or last-fri"
    )
    detail.add_argument("--tz", metavar="ZONE", help="IANA time zone (default UTC)")
    detail.add_argument(
        "--start",
        metavar="TIME",
        help="first possible run; its time of day anchors --every (default: the next whole minute)",
    )
    detail.add_argument("--expires", metavar="TIME", help="no runs at or after TIME")
    run = parser.add_argument_group("runs")
    run.add_argument(
        "-p",
        "--param",
        dest="params",
        action="append",
        metavar="NAME=VALUE",
        help="runbook parameter (repeatable)",
    )
    run.add_argument(
        "--overlap",
        choices=OVERLAP_RULES,
        help="when the previous run is still going (default skip)",
    )
    run.add_argument(
        "--misfire",
        choices=MISFIRE_RULES,
        help="runs missed while no engine ran: skip them, or run once (default skip)",
    )
    run.add_argument(
        "--misfire-grace",
        metavar="DURATION",
        help="a run late by less than this still runs (default 60s)",
    )
    run.add_argument("--description", metavar="TEXT")
    run.add_argument(
        "--disabled", action="store_true", default=None, help="create the schedule disabled"
    )


def schedule_from_args(
    name: str, runbook: str, pattern: str, args: argparse.Namespace, now: datetime | None = None
) -> Schedule:
    """Build a validated Schedule from options added by `add_schedule_arguments`."""
    typed = {
        field.name: getattr(args, field.name, None)
        for field in dataclasses.fields(ScheduleOptions)
        if field.name != "parameters"
    }
    parameters = parse_assignments(getattr(args, "params", None))
    return build_schedule(
        name, runbook, pattern, ScheduleOptions(**typed, parameters=parameters), now
    )
