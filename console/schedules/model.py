"""Schedules: when a runbook starts by itself, and the arithmetic of its fire times.

A schedule has one recurrence: a cron expression, a single time (`once`), or Azure's
frequencies ("every N minutes|hours|days|weeks|months", with weekdays for weeks and
month days or nth weekdays for months). Wall-clock values (`start`, `expires`, a `once`
time) are stored as naive datetimes meaning "what the clocks in `timezone` show", so that
"daily at 02:30" keeps meaning 02:30 across daylight saving changes.

Turning a wall-clock time into an instant follows two rules, applied everywhere
(`resolve_wall_time`):

* **Gap** (clocks jump forward and the time never exists, e.g. 02:30 in Europe/Berlin on
  the last Sunday of March): the run fires once, at the first instant after the gap
  (03:00 local). Several wall times inside one gap collapse into that single run.
* **Fold** (clocks fall back and the time exists twice): the run fires once, at the first
  occurrence. The repeated hour does not repeat runs: a "*/15 * * * *" cron is quiet
  while the clocks show 02:00-02:59 the second time; use "--every 15 minutes" for a
  stopwatch that ignores the clocks.

Calendar frequencies (days, weeks, months) and cron expressions are computed in wall-clock
time and then resolved with those rules. croniter only ever sees naive wall-clock values:
given aware datetimes, croniter 7 yields "30 2 * * *" twice on the fall-back day (02:30
+02:00 and 02:30 +01:00), the double fire this module exists to prevent.
Short frequencies (seconds, minutes, hours) are measured in absolute time from the
start, so "every 1 hour" fires 23 or 25 times on a changeover day, like a stopwatch.
Month days that a month lacks (31 in April) are skipped, as in Azure; `last` means the
last day of every month.

Every fire time returned is an aware datetime in UTC; convert with `astimezone` to show it.
"""

from __future__ import annotations

import argparse
import re
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from console.errors import UsageError

KINDS = ("cron", "once", "every")
# "seconds" exists for tests of the scheduler loop; the command line does not offer it.
UNITS = ("seconds", "minutes", "hours", "days", "weeks", "months")
CLI_UNITS = UNITS[1:]
OVERLAP_RULES = ("skip", "queue", "allow")
MISFIRE_RULES = ("skip", "run-once")
DEFAULT_MISFIRE_GRACE = 60.0

LAST_DAY = -1  # in month_days and as an nth-weekday occurrence: "the last one"
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ORDINALS = {"1st": 1, "2nd": 2, "3rd": 3, "4th": 4, "5th": 5, "last": LAST_DAY}
_ABSOLUTE_STEP = {"seconds": 1, "minutes": 60, "hours": 3600}
# A monthly schedule whose days never occur (every 12 months on the 30th, from February)
# yields nothing; stop looking after this many empty periods instead of looping forever.
_MAX_EMPTY_PERIODS = 1200


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Recurrence:
    """How often a schedule fires. `kind` picks which of the other fields apply:

    * cron: `cron` (5 fields, or 6 with seconds last);
    * once: `at` (naive wall-clock time in the schedule's zone);
    * every: `interval` and `unit`, plus `weekdays` (weeks only: 0=Monday..6=Sunday;
      default the start's weekday), or `month_days` (months only: 1..31 and LAST_DAY) or
      `nth_weekdays` (months only: (occurrence 1..5 or LAST_DAY, weekday)); a monthly
      schedule with neither fires on the start's day of the month.
    """

    kind: str
    cron: str | None = None
    at: datetime | None = None
    interval: int = 0
    unit: str | None = None
    weekdays: tuple[int, ...] = ()
    month_days: tuple[int, ...] = ()
    nth_weekdays: tuple[tuple[int, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind}
        if self.kind == "cron":
            data["cron"] = self.cron
        elif self.kind == "once":
            data["at"] = self.at.isoformat() if self.at else None
        else:
            data.update(interval=self.interval, unit=self.unit)
            if self.weekdays:
                data["weekdays"] = [WEEKDAY_NAMES[d] for d in self.weekdays]
            if self.month_days:
                data["month_days"] = ["last" if d == LAST_DAY else d for d in self.month_days]
            if self.nth_weekdays:
                data["nth_weekdays"] = [_nth_text(n) for n in self.nth_weekdays]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recurrence:
        at = data.get("at")
        return cls(
            kind=data["kind"],
            cron=data.get("cron"),
            at=datetime.fromisoformat(at) if at else None,
            interval=int(data.get("interval", 0)),
            unit=data.get("unit"),
            weekdays=parse_weekdays(",".join(data.get("weekdays", []))),
            month_days=parse_month_days(",".join(str(d) for d in data.get("month_days", []))),
            nth_weekdays=parse_nth_weekdays(",".join(data.get("nth_weekdays", []))),
        )

    def describe(self) -> str:
        """A short human summary, e.g. "every 2 weeks on mon,wed"."""
        if self.kind == "cron":
            return f"cron {self.cron}"
        if self.kind == "once":
            return f"once at {self.at:%Y-%m-%d %H:%M}" if self.at else "once"
        text = f"every {self.interval} {self.unit}"
        if self.weekdays:
            text += " on " + ",".join(WEEKDAY_NAMES[d] for d in self.weekdays)
        if self.month_days:
            text += " on day " + ",".join(_month_day_text(d) for d in self.month_days)
        if self.nth_weekdays:
            text += " on the " + ",".join(_nth_text(n) for n in self.nth_weekdays)
        return text


@dataclass
class Schedule:
    """A runbook started by time. Construction validates (UsageError naming the option)."""

    name: str
    runbook: str
    pattern: str  # the target: host, group, glob or Ansible-style pattern
    recurrence: Recurrence
    start: datetime  # naive wall clock in `timezone`; anchors the time of day of `every`
    timezone: str = "UTC"
    parameters: dict[str, str] = field(default_factory=dict)
    enabled: bool = True
    expires: datetime | None = None  # naive wall clock; no run at or after it
    overlap: str = "skip"
    misfire: str = "skip"
    misfire_grace: float = DEFAULT_MISFIRE_GRACE  # seconds
    description: str = ""
    created: datetime = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        self.start = _naive_wall(self.start, self.zone)
        if self.expires is not None:
            self.expires = _naive_wall(self.expires, self.zone)
        self.validate()

    @property
    def zone(self) -> ZoneInfo:
        return parse_zone(self.timezone)

    def start_instant(self) -> datetime:
        return resolve_wall_time(self.start, self.zone)

    def expires_instant(self) -> datetime | None:
        return None if self.expires is None else resolve_wall_time(self.expires, self.zone)

    def validate(self) -> None:
        for option, value in (
            ("name", self.name),
            ("runbook", self.runbook),
            ("target", self.pattern),
        ):
            if not value.strip():
                raise UsageError(f"schedule {option}: must not be empty")
        _validate_recurrence(self.recurrence)
        if self.overlap not in OVERLAP_RULES:
            raise UsageError(
                f"--overlap: '{self.overlap}' is not one of {', '.join(OVERLAP_RULES)}"
            )
        if self.misfire not in MISFIRE_RULES:
            raise UsageError(
                f"--misfire: '{self.misfire}' is not one of {', '.join(MISFIRE_RULES)}"
            )
        if self.misfire_grace < 0:
            raise UsageError("--misfire-grace: must not be negative")
        if self.expires is not None:
            first = self.recurrence.at if self.recurrence.kind == "once" else self.start
            assert first is not None
            if self.expires <= first:
                what = "--once time" if self.recurrence.kind == "once" else "--start"
                raise UsageError(
                    f"--expires: {self.expires:%Y-%m-%dT%H:%M} is not after "
                    f"the {what} {first:%Y-%m-%dT%H:%M}"
                )

    def describe(self) -> str:
        return f"{self.recurrence.describe()} ({self.timezone})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "runbook": self.runbook,
            "pattern": self.pattern,
            "recurrence": self.recurrence.to_dict(),
            "start": self.start.isoformat(),
            "timezone": self.timezone,
            "parameters": dict(self.parameters),
            "enabled": self.enabled,
            "expires": self.expires.isoformat() if self.expires else None,
            "overlap": self.overlap,
            "misfire": self.misfire,
            "misfire_grace": self.misfire_grace,
            "description": self.description,
            "created": self.created.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schedule:
        return cls(
            name=data["name"],
            runbook=data["runbook"],
            pattern=data["pattern"],
            recurrence=Recurrence.from_dict(data["recurrence"]),
            start=datetime.fromisoformat(data["start"]),
            timezone=data.get("timezone", "UTC"),
            parameters=dict(data.get("parameters", {})),
            enabled=bool(data.get("enabled", True)),
            expires=datetime.fromisoformat(data["expires"]) if data.get("expires") else None,
            overlap=data.get("overlap", "skip"),
            misfire=data.get("misfire", "skip"),
            misfire_grace=float(data.get("misfire_grace", DEFAULT_MISFIRE_GRACE)),
            description=data.get("description", ""),
            created=datetime.fromisoformat(data["created"]),
        )


def _validate_recurrence(rec: Recurrence) -> None:
    if rec.kind not in KINDS:
        raise UsageError(
            f"schedule recurrence: unknown kind '{rec.kind}'; use --cron, --once or --every"
        )
    if rec.kind == "cron":
        _validate_cron(rec.cron or "")
    elif rec.kind == "once" and rec.at is None:
        raise UsageError("--once: a time is required")
    if rec.kind != "every":
        for option, value in (
            ("--weekdays", rec.weekdays),
            ("--month-days", rec.month_days),
            ("--nth-weekday", rec.nth_weekdays),
        ):
            if value:
                raise UsageError(f"{option}: only with --every, not with --{rec.kind}")
        return
    if rec.interval < 1:
        raise UsageError(f"--every: the interval must be at least 1, not {rec.interval}")
    if rec.unit not in UNITS:
        raise UsageError(f"--every: unknown unit '{rec.unit}'; use {', '.join(CLI_UNITS)}")
    if rec.weekdays and rec.unit != "weeks":
        raise UsageError(f"--weekdays: only with --every N weeks, not {rec.unit}")
    if (rec.month_days or rec.nth_weekdays) and rec.unit != "months":
        option = "--month-days" if rec.month_days else "--nth-weekday"
        raise UsageError(f"{option}: only with --every N months, not {rec.unit}")
    if rec.month_days and rec.nth_weekdays:
        raise UsageError("--month-days and --nth-weekday: choose one of them")


def _validate_cron(expr: str) -> None:
    fields = expr.split()
    if len(fields) not in (5, 6):
        raise UsageError(
            f"--cron: '{expr}' has {len(fields)} fields; use 5 (minute hour "
            "day-of-month month day-of-week), or 6 with seconds last"
        )
    from croniter import croniter  # on use: its import runs `file` (a subprocess)

    if not croniter.is_valid(expr):
        raise UsageError(f"--cron: '{expr}' is not a valid cron expression")


# --- wall clock and instants ---------------------------------------------------------


def parse_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"--tz: unknown time zone '{name}'; use an IANA name such as UTC or Europe/Berlin"
        ) from None


def _naive_wall(value: datetime, zone: ZoneInfo) -> datetime:
    """Aware values become what the zone's clocks show at that instant."""
    if value.tzinfo is None:
        return value
    return value.astimezone(zone).replace(tzinfo=None)


def _local_wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def resolve_wall_time(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant at which the clocks of `zone` show `wall`.

    Ambiguous (fold): the first occurrence. Nonexistent (gap): the first instant after
    the gap, found by bisection so that any zone's transition, of any size, is handled.
    """
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _local_wall(first, zone) == wall:
        return first
    other = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    # Before the transition the clocks show less than `wall`, after it more.
    lo = int(min(first, other).timestamp()) - 1
    hi = int(max(first, other).timestamp()) + 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _local_wall(datetime.fromtimestamp(mid, UTC), zone) >= wall:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


# --- fire times ------------------------------------------------------------------------


def next_fire_times(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    """The next `count` fire times strictly after `after` (aware), honouring start and
    expiry. Fewer are returned when the schedule ends."""
    times: list[datetime] = []
    if count <= 0:
        return times
    for instant in iter_fire_times(schedule, after):
        times.append(instant)
        if len(times) == count:
            break
    return times


def iter_fire_times(schedule: Schedule, after: datetime) -> Iterator[datetime]:
    """Fire times (UTC, strictly increasing) after `after`, at or after the start and
    before the expiry."""
    if after.tzinfo is None:
        raise ValueError("after must be an aware datetime")
    after = after.astimezone(UTC)
    start = schedule.start_instant()
    expires = schedule.expires_instant()
    floor = max(after, start - timedelta(microseconds=1))
    previous = floor
    for instant in _candidates(schedule, floor):
        if expires is not None and instant >= expires:
            return
        if instant <= previous:  # before the floor, or a gap time collapsed into one run
            continue
        previous = instant
        yield instant


def _candidates(schedule: Schedule, floor: datetime) -> Iterator[datetime]:
    """Non-decreasing instants that include every fire time after `floor`."""
    rec, zone = schedule.recurrence, schedule.zone
    if rec.kind == "once":
        assert rec.at is not None
        yield resolve_wall_time(rec.at, zone)
    elif rec.kind == "cron":
        assert rec.cron is not None
        yield from _cron_instants(rec.cron, zone, floor)
    elif rec.unit in _ABSOLUTE_STEP:
        yield from _absolute_instants(schedule, floor)
    else:
        for wall in _calendar_walls(schedule, _local_wall(floor, zone)):
            yield resolve_wall_time(wall, zone)


def _cron_instants(expr: str, zone: ZoneInfo, floor: datetime) -> Iterator[datetime]:
    # Resolving is monotonic and never maps a wall time to a later instant than the
    # wall time's own position, so iterating from the floor's wall clock misses nothing.
    from croniter import CroniterError, croniter

    it = croniter(expr, _local_wall(floor, zone))
    while True:
        try:
            wall = it.get_next(datetime)
        except CroniterError:  # e.g. "0 0 31 2 *": no such date, ever
            return
        yield resolve_wall_time(wall, zone)


def _absolute_instants(schedule: Schedule, floor: datetime) -> Iterator[datetime]:
    rec = schedule.recurrence
    assert rec.unit is not None
    step = timedelta(seconds=rec.interval * _ABSOLUTE_STEP[rec.unit])
    origin = schedule.start_instant()
    k = 0 if floor < origin else (floor - origin) // step
    while True:
        yield origin + k * step
        k += 1


def _calendar_walls(schedule: Schedule, floor_wall: datetime) -> Iterator[datetime]:
    """Wall-clock times of a days/weeks/months schedule from about `floor_wall` on."""
    rec, start = schedule.recurrence, schedule.start
    n, at = rec.interval, start.time()
    first_day = start.date()
    if rec.unit == "days":
        k = max(0, (floor_wall.date() - first_day).days // n - 1)
        while True:
            yield datetime.combine(first_day + timedelta(days=k * n), at)
            k += 1
    elif rec.unit == "weeks":
        monday = first_day - timedelta(days=first_day.weekday())
        days = rec.weekdays or (first_day.weekday(),)
        k = max(0, (floor_wall.date() - monday).days // 7 // n - 1)
        while True:
            week = monday + timedelta(weeks=k * n)
            for weekday in days:
                yield datetime.combine(week + timedelta(days=weekday), at)
            k += 1
    else:
        yield from _monthly_walls(schedule, floor_wall)


def _monthly_walls(schedule: Schedule, floor_wall: datetime) -> Iterator[datetime]:
    rec, start = schedule.recurrence, schedule.start
    n, at = rec.interval, start.time()
    first_month = start.year * 12 + start.month - 1
    k = max(0, (floor_wall.year * 12 + floor_wall.month - 1 - first_month) // n - 1)
    empty = 0
    while empty < _MAX_EMPTY_PERIODS:
        year, month0 = divmod(first_month + k * n, 12)
        days = _days_in_month(year, month0 + 1, rec, start.day)
        empty = 0 if days else empty + 1
        for day in days:
            yield datetime.combine(date(year, month0 + 1, day), at)
        k += 1


def _days_in_month(year: int, month: int, rec: Recurrence, start_day: int) -> list[int]:
    """The days of one month a monthly schedule fires on (missing days are skipped)."""
    length = _month_length(year, month)
    if rec.nth_weekdays:
        found = (_nth_weekday_day(year, month, length, n, wd) for n, wd in rec.nth_weekdays)
        return sorted({d for d in found if d is not None})
    wanted = rec.month_days or (start_day,)
    return sorted({length if d == LAST_DAY else d for d in wanted if d <= length})


def _month_length(year: int, month: int) -> int:
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def _nth_weekday_day(year: int, month: int, length: int, nth: int, weekday: int) -> int | None:
    if nth == LAST_DAY:
        last = date(year, month, length)
        return length - (last.weekday() - weekday) % 7
    day = 1 + (weekday - date(year, month, 1).weekday()) % 7 + (nth - 1) * 7
    return day if day <= length else None


@dataclass(frozen=True)
class DueTimes:
    """Fire times in a window: the last `keep` of them and how many there were.

    `exact` is False when counting stopped at the limit (a very long outage); `count`
    is then a lower bound."""

    times: list[datetime]
    count: int
    exact: bool
    first: datetime | None


def due_times(
    schedule: Schedule,
    after: datetime,
    until: datetime,
    *,
    keep: int = 100,
    count_limit: int = 10_000,
) -> DueTimes:
    """Fire times in (after, until], cheaply even for a year of a per-minute schedule."""
    kept: deque[datetime] = deque(maxlen=keep)
    count = 0
    first: datetime | None = None
    for instant in iter_fire_times(schedule, after):
        if instant > until:
            return DueTimes(list(kept), count, True, first)
        first = first or instant
        kept.append(instant)
        count += 1
        if count >= count_limit:
            assert first is not None
            density = (instant - first) / max(count - 1, 1)
            tail = _last_times(schedule, instant, until, keep, density)
            return DueTimes(tail or list(kept), count, False, first)
    return DueTimes(list(kept), count, True, first)


def _last_times(
    schedule: Schedule, lower: datetime, until: datetime, keep: int, spacing: timedelta
) -> list[datetime]:
    """The last `keep` fire times in (lower, until], looking back in growing windows."""
    span = max(spacing * keep * 2, timedelta(seconds=1))
    while True:
        begin = max(lower, until - span)
        kept: deque[datetime] = deque(maxlen=keep)
        for instant in iter_fire_times(schedule, begin):
            if instant > until:
                break
            kept.append(instant)
        if len(kept) >= keep or begin == lower:
            return list(kept)
        span *= 4


# --- parsing helpers (command line and stored text) ------------------------------------


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


def _items(text: str) -> list[str]:
    return [item.strip().lower() for item in text.split(",") if item.strip()]


def _weekday(text: str, option: str) -> int:
    for index, name in enumerate(WEEKDAY_NAMES):
        if len(text) >= 3 and _FULL_DAY[index].startswith(text):
            return index
        if text == name:
            return index
    raise UsageError(f"{option}: unknown weekday '{text}'; use {','.join(WEEKDAY_NAMES)}")


_FULL_DAY = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_weekdays(text: str) -> tuple[int, ...]:
    """ "mon,wed" as (0, 2)."""
    return tuple(sorted({_weekday(item, "--weekdays") for item in _items(text)}))


def parse_month_days(text: str) -> tuple[int, ...]:
    """ "1,15,last" as (1, 15, LAST_DAY)."""
    days: set[int] = set()
    for item in _items(text):
        if item == "last":
            days.add(LAST_DAY)
        elif item.isdigit() and 1 <= int(item) <= 31:
            days.add(int(item))
        else:
            raise UsageError(f"--month-days: '{item}' is not a day 1..31 or 'last'")
    return tuple(sorted(days, key=lambda d: 99 if d == LAST_DAY else d))


def parse_nth_weekdays(text: str) -> tuple[tuple[int, int], ...]:
    """ "2nd-tue,last-fri" as ((2, 1), (LAST_DAY, 4))."""
    found: list[tuple[int, int]] = []
    for item in _items(text):
        nth, _, day = item.partition("-")
        if nth not in _ORDINALS or not day:
            raise UsageError(
                f"--nth-weekday: '{item}' is not like 2nd-tue or last-fri "
                "(1st, 2nd, 3rd, 4th, 5th or last, then a weekday)"
            )
        pair = (_ORDINALS[nth], _weekday(day, "--nth-weekday"))
        if pair not in found:
            found.append(pair)
    return tuple(found)


def parse_wall_time(text: str, zone: ZoneInfo, option: str) -> datetime:
    """An ISO date-time ("2026-12-01T10:00", local in `zone`; an explicit offset is
    converted) as a naive wall-clock value."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"{option}: '{text}' is not a date and time like 2026-12-01T10:00"
        ) from None
    return _naive_wall(value, zone)


def parse_parameters(items: Sequence[str] | None) -> dict[str, str]:
    """["NAME=VALUE", ...] as a dict; values keep any '=' after the first."""
    params: dict[str, str] = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"-p: '{item}' is not NAME=VALUE")
        params[name.strip()] = value
    return params


def _month_day_text(day: int) -> str:
    return "last" if day == LAST_DAY else str(day)


def _nth_text(pair: tuple[int, int]) -> str:
    nth, weekday = pair
    word = next(k for k, v in _ORDINALS.items() if v == nth)
    return f"{word}-{WEEKDAY_NAMES[weekday]}"


def next_minute(now: datetime, zone: ZoneInfo) -> datetime:
    """The next whole minute on the zone's clocks: the default start of a schedule."""
    wall = _local_wall(now, zone).replace(second=0, microsecond=0)
    return wall + timedelta(minutes=1)


# --- command line ------------------------------------------------------------------------


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
        parameters=parse_parameters(getattr(args, "params", None)),
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
