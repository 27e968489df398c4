"""Fire-time arithmetic: every recurrence kind, DST gaps and folds, month ends, bounds."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from console.schedules.model import LAST_DAY, Recurrence, Schedule, resolve_wall_time
from console.schedules.recurrence import due_times, next_fire_times

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def make(recurrence: Recurrence, start: datetime, tz: str = "UTC", **kw: object) -> Schedule:
    return Schedule("nightly", "backup.sh", "web", recurrence, start, tz, **kw)  # type: ignore[arg-type]


def local(times: list[datetime], zone: ZoneInfo) -> list[str]:
    return [t.astimezone(zone).strftime("%Y-%m-%d %H:%M%z") for t in times]


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


DAILY_0230 = Recurrence("every", interval=1, unit="days")
CRON_0230 = Recurrence("cron", cron="30 2 * * *")


# --- daylight saving ---------------------------------------------------------------


@pytest.mark.parametrize("recurrence", [DAILY_0230, CRON_0230], ids=["every-day", "cron"])
@pytest.mark.parametrize(
    ("tz", "gap_day", "fold_day", "summer", "winter"),
    [
        ("Europe/Berlin", "2026-03-29", "2026-10-25", "+0200", "+0100"),
        ("America/New_York", "2026-03-08", "2026-11-01", "-0400", "-0500"),
    ],
)
def test_daily_0230_fires_once_on_gap_and_fold_days(
    recurrence: Recurrence, tz: str, gap_day: str, fold_day: str, summer: str, winter: str
) -> None:
    zone = ZoneInfo(tz)
    schedule = make(recurrence, datetime(2026, 1, 1, 2, 30), tz)
    gap = datetime.fromisoformat(gap_day)
    fired = next_fire_times(schedule, resolve_wall_time(gap - timedelta(days=1), zone), 3)
    # 02:30 does not exist on the gap day: one run, at the end of the gap (03:00 local).
    assert local(fired, zone) == [
        f"{(gap - timedelta(days=1)):%Y-%m-%d} 02:30{winter}",
        f"{gap_day} 03:00{summer}",
        f"{(gap + timedelta(days=1)):%Y-%m-%d} 02:30{summer}",
    ]
    fold = datetime.fromisoformat(fold_day)
    fired = next_fire_times(schedule, resolve_wall_time(fold - timedelta(days=1), zone), 3)
    # 02:30 happens twice on the fold day (Berlin) or 01:xx does (New York): one run.
    assert local(fired, zone) == [
        f"{(fold - timedelta(days=1)):%Y-%m-%d} 02:30{summer}",
        f"{fold_day} 02:30{summer if tz == 'Europe/Berlin' else winter}",
        f"{(fold + timedelta(days=1)):%Y-%m-%d} 02:30{winter}",
    ]


def test_fold_time_fires_at_first_occurrence_only() -> None:
    # 01:30 happens twice in New York on 2026-11-01 (EDT, then EST): one run, the first.
    schedule = make(Recurrence("cron", cron="30 1 * * *"), datetime(2026, 1, 1), "America/New_York")
    fired = next_fire_times(schedule, utc(2026, 10, 31, 12), 3)
    assert local(fired, NEW_YORK) == [
        "2026-11-01 01:30-0400",
        "2026-11-02 01:30-0500",
        "2026-11-03 01:30-0500",
    ]
    # Asked from inside the repeated hour (after the first 01:30), the next run is tomorrow.
    second_pass = utc(2026, 11, 1, 6, 15)  # 01:15 EST
    assert local(next_fire_times(schedule, second_pass, 1), NEW_YORK) == ["2026-11-02 01:30-0500"]


def test_hourly_interval_is_absolute_time_on_changeover_days() -> None:
    schedule = make(
        Recurrence("every", interval=1, unit="hours"), datetime(2026, 1, 1), "Europe/Berlin"
    )

    def runs_on(day: datetime) -> int:
        start = resolve_wall_time(day, BERLIN)
        end = resolve_wall_time(day + timedelta(days=1), BERLIN)
        return sum(
            1 for t in next_fire_times(schedule, start - timedelta(seconds=1), 30) if t < end
        )

    assert runs_on(datetime(2026, 3, 29)) == 23
    assert runs_on(datetime(2026, 10, 25)) == 25
    assert runs_on(datetime(2026, 6, 1)) == 24
    fold = next_fire_times(schedule, utc(2026, 10, 24, 23, 30), 4)
    assert [b - a for a, b in itertools.pairwise(fold)] == [timedelta(hours=1)] * 3


def test_cron_every_30_minutes_skips_the_gap_and_does_not_repeat_the_fold() -> None:
    schedule = make(
        Recurrence("cron", cron="*/30 * * * *"), datetime(2026, 1, 1), "America/New_York"
    )
    fired = next_fire_times(schedule, utc(2026, 3, 8, 6, 15), 4)  # 01:15 EST
    assert local(fired, NEW_YORK) == [
        "2026-03-08 01:30-0500",
        "2026-03-08 03:00-0400",
        "2026-03-08 03:30-0400",
        "2026-03-08 04:00-0400",
    ]
    fired = next_fire_times(schedule, utc(2026, 11, 1, 5, 15), 5)  # 01:15 EDT
    assert local(fired, NEW_YORK) == [
        "2026-11-01 01:30-0400",
        "2026-11-01 02:00-0500",
        "2026-11-01 02:30-0500",
        "2026-11-01 03:00-0500",
        "2026-11-01 03:30-0500",
    ]


def test_gap_resolution_handles_a_skipped_day() -> None:
    # Samoa skipped 2011-12-30 entirely: a daily 09:00 run fires at the next valid instant.
    apia = ZoneInfo("Pacific/Apia")
    instant = resolve_wall_time(datetime(2011, 12, 30, 9, 0), apia)
    assert instant.astimezone(apia).strftime("%Y-%m-%d %H:%M") == "2011-12-31 00:00"


# --- weeks and months --------------------------------------------------------------


def test_weekly_on_chosen_weekdays_every_second_week() -> None:
    # 2026-01-07 is a Wednesday; week of Monday 2026-01-05 is week 0.
    rec = Recurrence("every", interval=2, unit="weeks", weekdays=(0, 4))  # mon, fri
    schedule = make(rec, datetime(2026, 1, 7, 9, 0))
    fired = next_fire_times(schedule, utc(2026, 1, 1), 5)
    assert [f"{t:%a %d}" for t in fired] == ["Fri 09", "Mon 19", "Fri 23", "Mon 02", "Fri 06"]
    assert all(t.hour == 9 for t in fired)


def test_weekly_without_weekdays_uses_the_start_weekday() -> None:
    schedule = make(Recurrence("every", interval=1, unit="weeks"), datetime(2026, 1, 7, 9, 0))
    assert [f"{t:%a %d}" for t in next_fire_times(schedule, utc(2026, 1, 1), 3)] == [
        "Wed 07",
        "Wed 14",
        "Wed 21",
    ]


def test_month_day_31_is_skipped_in_short_months_and_last_is_not() -> None:
    rec = Recurrence("every", interval=1, unit="months", month_days=(31,))
    schedule = make(rec, datetime(2026, 1, 1, 6, 0))
    assert [f"{t:%m-%d}" for t in next_fire_times(schedule, utc(2026, 1, 1), 4)] == [
        "01-31",
        "03-31",
        "05-31",
        "07-31",
    ]
    rec = Recurrence("every", interval=1, unit="months", month_days=(15, LAST_DAY))
    schedule = make(rec, datetime(2028, 1, 1, 6, 0))
    assert [f"{t:%m-%d}" for t in next_fire_times(schedule, utc(2028, 1, 20), 5)] == [
        "01-31",
        "02-15",
        "02-29",
        "03-15",
        "03-31",
    ]


def test_month_days_31_and_last_in_a_31_day_month_fire_once() -> None:
    rec = Recurrence("every", interval=1, unit="months", month_days=(31, LAST_DAY))
    schedule = make(rec, datetime(2026, 1, 1, 6, 0))
    assert [f"{t:%m-%d}" for t in next_fire_times(schedule, utc(2026, 1, 1), 3)] == [
        "01-31",
        "02-28",
        "03-31",
    ]


def test_nth_weekday_and_last_weekday_every_third_month() -> None:
    rec = Recurrence("every", interval=3, unit="months", nth_weekdays=((2, 1), (LAST_DAY, 4)))
    schedule = make(rec, datetime(2026, 1, 1, 22, 0), "Europe/Berlin")
    fired = next_fire_times(schedule, utc(2026, 1, 1), 4)
    assert [f"{t.astimezone(BERLIN):%Y-%m-%d %a %H:%M}" for t in fired] == [
        "2026-01-13 Tue 22:00",
        "2026-01-30 Fri 22:00",
        "2026-04-14 Tue 22:00",
        "2026-04-24 Fri 22:00",
    ]


def test_fifth_weekday_is_skipped_in_months_without_one() -> None:
    rec = Recurrence("every", interval=1, unit="months", nth_weekdays=((5, 4),))  # 5th fri
    schedule = make(rec, datetime(2026, 1, 1, 8, 0))
    assert [f"{t:%Y-%m-%d}" for t in next_fire_times(schedule, utc(2026, 1, 1), 3)] == [
        "2026-01-30",
        "2026-05-29",
        "2026-07-31",
    ]


def test_monthly_on_a_day_that_never_occurs_ends_instead_of_looping() -> None:
    rec = Recurrence("every", interval=12, unit="months", month_days=(30,))
    schedule = make(rec, datetime(2026, 2, 1, 8, 0))
    assert next_fire_times(schedule, utc(2026, 1, 1), 1) == []


def test_impossible_cron_yields_nothing() -> None:
    schedule = make(Recurrence("cron", cron="0 0 31 2 *"), datetime(2026, 1, 1))
    assert next_fire_times(schedule, utc(2026, 1, 1), 1) == []


# --- once, start, expiry -----------------------------------------------------------


def test_once_fires_once_in_its_zone() -> None:
    rec = Recurrence("once", at=datetime(2026, 12, 1, 10, 0))
    schedule = make(rec, datetime(2026, 12, 1, 10, 0), "America/New_York")
    assert next_fire_times(schedule, utc(2026, 1, 1), 3) == [utc(2026, 12, 1, 15, 0)]
    assert next_fire_times(schedule, utc(2026, 12, 1, 15, 0), 3) == []


def test_start_bounds_the_first_run_and_expiry_ends_the_schedule() -> None:
    rec = Recurrence("every", interval=6, unit="hours")
    schedule = make(rec, datetime(2026, 5, 1, 3, 0), expires=datetime(2026, 5, 2, 9, 0))
    fired = next_fire_times(schedule, utc(2026, 4, 1), 10)
    assert fired == [utc(2026, 5, 1, h) for h in (3, 9, 15, 21)] + [utc(2026, 5, 2, 3)]
    cron = make(
        Recurrence("cron", cron="0 * * * *"),
        datetime(2026, 5, 1, 3, 30),
        expires=datetime(2026, 5, 1, 6, 0),
    )
    assert next_fire_times(cron, utc(2026, 5, 1), 10) == [utc(2026, 5, 1, h) for h in (4, 5)]


def test_times_are_strictly_after_the_given_instant() -> None:
    schedule = make(Recurrence("every", interval=15, unit="minutes"), datetime(2026, 1, 1))
    assert next_fire_times(schedule, utc(2026, 1, 1, 0, 15), 2) == [
        utc(2026, 1, 1, 0, 30),
        utc(2026, 1, 1, 0, 45),
    ]


def test_cron_seconds_field_for_short_intervals() -> None:
    schedule = make(Recurrence("cron", cron="* * * * * */20"), datetime(2026, 1, 1))
    assert next_fire_times(schedule, utc(2026, 1, 1, 0, 0, 5), 3) == [
        utc(2026, 1, 1, 0, 0, 20),
        utc(2026, 1, 1, 0, 0, 40),
        utc(2026, 1, 1, 0, 1, 0),
    ]


# --- long outages and storage ------------------------------------------------------


def test_a_year_of_minutely_misses_is_counted_cheaply_with_the_last_100_kept() -> None:
    schedule = make(Recurrence("cron", cron="* * * * *"), datetime(2025, 1, 1), "Europe/Berlin")
    due = due_times(schedule, utc(2025, 1, 1), utc(2026, 1, 1), keep=100)
    assert not due.exact and due.count >= 10_000
    assert len(due.times) == 100
    assert due.times[-1] == utc(2026, 1, 1)
    assert due.times[0] == utc(2026, 1, 1) - timedelta(minutes=99)
    small = due_times(schedule, utc(2025, 1, 1), utc(2025, 1, 1, 2), keep=100)
    assert small.exact and small.count == 120 and len(small.times) == 100


def test_schedule_round_trips_through_json_dict() -> None:
    rec = Recurrence("every", interval=1, unit="months", month_days=(1, LAST_DAY))
    schedule = make(
        rec,
        datetime(2026, 1, 1, 2, 30),
        "Europe/Berlin",
        parameters={"Level": "full"},
        expires=datetime(2027, 1, 1),
        overlap="queue",
        misfire="run-once",
        misfire_grace=300.0,
    )
    data = schedule.to_dict()
    assert data["recurrence"]["month_days"] == [1, "last"]
    assert Schedule.from_dict(json.loads(json.dumps(data))) == schedule
    nth = make(
        Recurrence("every", interval=1, unit="months", nth_weekdays=((LAST_DAY, 4),)),
        datetime(2026, 1, 1),
    )
    assert nth.to_dict()["recurrence"]["nth_weekdays"] == ["last-fri"]
    assert Schedule.from_dict(nth.to_dict()) == nth
