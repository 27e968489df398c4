"""Building a validated Schedule from what a person typed: the recurrence (cron,
once, every), its details, the time zone and the run options. Shared by
`opsconsole schedules create` and the engine's scheduled update deployments; every
mistake is a UsageError naming the option (`--cron`, `--once`, ...)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from console.errors import UsageError
from console.schedules.model import (
    CLI_UNITS,
    DEFAULT_MISFIRE_GRACE,
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


@dataclass(frozen=True)
class ScheduleOptions:
    """The options of a schedule as typed (None: not given), named like the CLI's."""

    cron: str | None = None
    once: str | None = None
    every: str | Sequence[str] | None = None
    weekdays: str | None = None
    month_days: str | None = None
    nth_weekday: str | None = None
    tz: str | None = None
    start: str | None = None
    expires: str | None = None
    parameters: Mapping[str, str] | None = None
    overlap: str | None = None
    misfire: str | None = None
    misfire_grace: str | None = None
    description: str | None = None
    disabled: bool | None = None


def build_schedule(
    name: str, runbook: str, pattern: str, args: ScheduleOptions, now: datetime | None = None
) -> Schedule:
    """A validated Schedule from `args`; exactly one of cron, once and every."""
    now = now or utc_now()
    tz = args.tz or "UTC"
    zone = parse_zone(tz)
    recurrence = _recurrence_from_args(args, zone)
    start_text = args.start
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
    expires_text = args.expires
    grace_text = args.misfire_grace
    return Schedule(
        name=name,
        runbook=runbook,
        pattern=pattern,
        recurrence=recurrence,
        start=start,
        timezone=tz,
        parameters=dict(args.parameters or {}),
        enabled=not args.disabled,
        expires=parse_wall_time(expires_text, zone, "--expires") if expires_text else None,
        overlap=args.overlap or "skip",
        misfire=args.misfire or "skip",
        misfire_grace=(
            parse_duration(grace_text) if grace_text is not None else DEFAULT_MISFIRE_GRACE
        ),
        description=args.description or "",
        created=now,
    )


def _recurrence_from_args(args: ScheduleOptions, zone: ZoneInfo) -> Recurrence:
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
    weekdays = parse_weekdays(args.weekdays) if args.weekdays else ()
    month_days = parse_month_days(args.month_days) if args.month_days else ()
    nth = parse_nth_weekdays(args.nth_weekday) if args.nth_weekday else ()
    if args.cron:
        return Recurrence(
            "cron", cron=args.cron, weekdays=weekdays, month_days=month_days, nth_weekdays=nth
        )
    if args.once:
        at = parse_wall_time(args.once, zone, "--once")
        return Recurrence("once", at=at, weekdays=weekdays, month_days=month_days, nth_weekdays=nth)
    assert args.every, "exactly one recurrence was given"
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
