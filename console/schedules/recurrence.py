"""Fire times: when a schedule's recurrence fires, as UTC instants.

Calendar frequencies (days, weeks, months) and cron expressions are computed in wall-clock
time and then resolved with the gap and fold rules of `resolve_wall_time` (see
`console.schedules.model`). croniter only ever sees naive wall-clock values: given aware
datetimes, croniter yields "30 2 * * *" twice on the fall-back day (02:30 +02:00 and
02:30 +01:00), the double fire this module exists to prevent.
Short frequencies (seconds, minutes, hours) are measured in absolute time from the
start, so "every 1 hour" fires 23 or 25 times on a changeover day, like a stopwatch.
Month days that a month lacks (31 in April) are skipped, as in Azure; `last` means the
last day of every month.

Every fire time returned is an aware datetime in UTC; convert with `astimezone` to show it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import CroniterError, croniter

from console.schedules.model import (
    LAST_DAY,
    Recurrence,
    Schedule,
    local_wall,
    resolve_wall_time,
)

_ABSOLUTE_STEP = {"seconds": 1, "minutes": 60, "hours": 3600}
# A monthly schedule whose days never occur (every 12 months on the 30th, from February)
# yields nothing; stop looking after this many empty periods instead of looping forever.
_MAX_EMPTY_PERIODS = 1200


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
        for wall in _calendar_walls(schedule, local_wall(floor, zone)):
            yield resolve_wall_time(wall, zone)


def _cron_instants(expr: str, zone: ZoneInfo, floor: datetime) -> Iterator[datetime]:
    # Resolving is monotonic and never maps a wall time to a later instant than the
    # wall time's own position, so iterating from the floor's wall clock misses nothing.
    it = croniter(expr, local_wall(floor, zone))
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
