"""Schedules: when a runbook starts by itself (the model; fire times are in
`console.schedules.recurrence`).

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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
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
        self.start = naive_wall(self.start, self.zone)
        if self.expires is not None:
            self.expires = naive_wall(self.expires, self.zone)
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


def naive_wall(value: datetime, zone: ZoneInfo) -> datetime:
    """Aware values become what the zone's clocks show at that instant."""
    if value.tzinfo is None:
        return value
    return value.astimezone(zone).replace(tzinfo=None)


def local_wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def resolve_wall_time(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant at which the clocks of `zone` show `wall`.

    Ambiguous (fold): the first occurrence. Nonexistent (gap): the first instant after
    the gap, found by bisection so that any zone's transition, of any size, is handled.
    """
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if local_wall(first, zone) == wall:
        return first
    other = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    # Before the transition the clocks show less than `wall`, after it more.
    lo = int(min(first, other).timestamp()) - 1
    hi = int(max(first, other).timestamp()) + 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if local_wall(datetime.fromtimestamp(mid, UTC), zone) >= wall:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


# --- recurrence details as text (stored and on the command line) ----------------------


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


def _month_day_text(day: int) -> str:
    return "last" if day == LAST_DAY else str(day)


def _nth_text(pair: tuple[int, int]) -> str:
    nth, weekday = pair
    word = next(k for k, v in _ORDINALS.items() if v == nth)
    return f"{word}-{WEEKDAY_NAMES[weekday]}"
