"""The options that define a schedule (`opsconsole schedules create`), and the Schedule
they build. Every mistake is a UsageError naming the option."""

from __future__ import annotations

import argparse
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from console.cli.assignments import parse_assignments
from console.errors import UsageError
from console.schedules.model import (
    CLI_UNITS,
    DEFAULT_MISFIRE_GRACE,
    MISFIRE_RULES,
    OVERLAP_RULES,
    Recurrence,
    Schedule,
    local_wall,
    naive_wall,
    parse_month_days,
    parse_nth_weekdays,
    parse_weekdays,
    parse_zone,
    resolve_wall_time,
    utc_now,
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, option: str = "--misfire-grace") -> float:
    """ "90s", "5m", "2h", "1d" or a bare number of seconds, as seconds."""
    match = _DURATION.match(text.lower())
    if not match:
        raise UsageError(f"{option}: '{text}' is not a duration; use e.g. 90s, 5m, 2h, 1d")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def parse_every(text: str) -> tuple[int, str]:
    """ "3 hours" (or "1 week", "2days") as (3, "hours")."""
    match = re.match(r"^\s*(\d+)\s*([a-z]+)\s*$", text.lower())
    if not match:
        raise UsageError(f"--every: '{text}' is not 'N UNIT'; e.g. --every 3 hours")
    interval, unit = int(match.group(1)), match.group(2)
    unit = unit if unit.endswith("s") else unit + "s"
    if unit not in CLI_UNITS:
        raise UsageError(f"--every: unknown unit '{match.group(2)}'; use {', '.join(CLI_UNITS)}")
    if interval < 1:
        raise UsageError(f"--every: the interval must be at least 1, not {interval}")
    return interval, unit


def parse_wall_time(text: str, zone: ZoneInfo, option: str) -> datetime:
    """An ISO date-time ("2026-12-01T10:00", local in `zone`; an explicit offset is
    converted) as a naive wall-clock value."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"{option}: '{text}' is not a date and time like 2026-12-01T10:00"
        ) from None
    return naive_wall(value, zone)


def next_minute(now: datetime, zone: ZoneInfo) -> datetime:
    """The next whole minute on the zone's clocks: the default start of a schedule."""
    wall = local_wall(now, zone).replace(second=0, microsecond=0)
    return wall + timedelta(minutes=1)


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
    now = now or utc_now()
    tz = getattr(args, "tz", None) or "UTC"
    zone = parse_zone(tz)
    recurrence = _recurrence_from_args(args, zone)
    start_text = getattr(args, "start", None)
    if recurrence.kind == "once":
        assert recurrence.at is not None
        if start_text:
            raise UsageError("--start: not with --once (the --once time is the start)")
        if resolve_wall_time(recurrence.at, zone) <= now:
            raise UsageError(f"--once: {recurrence.at:%Y-%m-%dT%H:%M} ({tz}) is in the past")
        start = recurrence.at
    elif start_text:
        start = parse_wall_time(start_text, zone, "--start")
    else:
        start = next_minute(now, zone)
    expires_text = getattr(args, "expires", None)
    grace_text = getattr(args, "misfire_grace", None)
    return Schedule(
        name=name,
        runbook=runbook,
        pattern=pattern,
        recurrence=recurrence,
        start=start,
        timezone=tz,
        parameters=parse_assignments(getattr(args, "params", None)),
        enabled=not getattr(args, "disabled", None),
        expires=parse_wall_time(expires_text, zone, "--expires") if expires_text else None,
        overlap=getattr(args, "overlap", None) or "skip",
        misfire=getattr(args, "misfire", None) or "skip",
        misfire_grace=(
            parse_duration(grace_text) if grace_text is not None else DEFAULT_MISFIRE_GRACE
        ),
        description=getattr(args, "description", None) or "",
        created=now,
    )


def _recurrence_from_args(args: argparse.Namespace, zone: ZoneInfo) -> Recurrence:
    given = [
        option
        for option, dest in (("--cron", "cron"), ("--once", "once"), ("--every", "every"))
        if getattr(args, dest, None)
    ]
    if len(given) != 1:
        found = " and ".join(given) if given else "none"
        raise UsageError(
            f"{' / '.join(given) or '--cron / --once / --every'}: give exactly "
            f"one recurrence (found {found})"
        )
    weekdays = parse_weekdays(args.weekdays) if getattr(args, "weekdays", None) else ()
    month_days = parse_month_days(args.month_days) if getattr(args, "month_days", None) else ()
    nth = parse_nth_weekdays(args.nth_weekday) if getattr(args, "nth_weekday", None) else ()
    if given[0] == "--cron":
        return Recurrence(
            "cron", cron=args.cron, weekdays=weekdays, month_days=month_days, nth_weekdays=nth
        )
    if given[0] == "--once":
        at = parse_wall_time(args.once, zone, "--once")
        return Recurrence("once", at=at, weekdays=weekdays, month_days=month_days, nth_weekdays=nth)
    every = args.every if isinstance(args.every, str) else " ".join(args.every)
    interval, unit = parse_every(every)
    return Recurrence(
        "every",
        interval=interval,
        unit=unit,
        weekdays=weekdays,
        month_days=month_days,
        nth_weekdays=nth,
    )
