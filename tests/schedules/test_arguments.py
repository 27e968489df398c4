"""The schedule options of `opsconsole schedules add`: good input builds the schedule a
user meant; bad input is a UsageError naming the option and the reason."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pytest

from console.cli.schedule_args import add_schedule_arguments, schedule_from_args
from console.errors import UsageError
from console.schedules.building import parse_duration, parse_every
from console.schedules.model import (
    LAST_DAY,
    Schedule,
    parse_month_days,
    parse_nth_weekdays,
    parse_weekdays,
)
from console.schedules.recurrence import next_fire_times

NOW = datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC)


def build(*argv: str) -> Schedule:
    parser = argparse.ArgumentParser(prog="schedules add")
    add_schedule_arguments(parser)
    args = parser.parse_args(list(argv))
    return schedule_from_args("patch-night", "patch.sh", "web:&prod", args, now=NOW)


def test_every_two_weeks_on_weekdays_in_a_zone() -> None:
    schedule = build(
        "--every",
        "2",
        "weeks",
        "--weekdays",
        "mon,wed",
        "--tz",
        "Europe/Berlin",
        "--start",
        "2026-06-01T22:00",
        "-p",
        "Level=full",
        "-p",
        "Note=a=b",
        "--overlap",
        "queue",
        "--misfire",
        "run-once",
        "--misfire-grace",
        "5m",
    )
    assert schedule.recurrence.weekdays == (0, 2)
    assert (schedule.recurrence.interval, schedule.recurrence.unit) == (2, "weeks")
    assert schedule.parameters == {"Level": "full", "Note": "a=b"}
    assert (schedule.overlap, schedule.misfire, schedule.misfire_grace) == (
        "queue",
        "run-once",
        300.0,
    )
    fired = next_fire_times(schedule, NOW, 3)
    assert [t.isoformat() for t in fired] == [
        "2026-06-01T20:00:00+00:00",
        "2026-06-03T20:00:00+00:00",
        "2026-06-15T20:00:00+00:00",
    ]


def test_defaults_are_skip_skip_60s_utc_and_start_at_the_next_minute() -> None:
    schedule = build("--cron", "0 3 * * *")
    assert (schedule.timezone, schedule.overlap, schedule.misfire) == ("UTC", "skip", "skip")
    assert schedule.misfire_grace == 60.0
    assert schedule.start == datetime(2026, 6, 1, 12, 1)
    assert schedule.enabled and schedule.created == NOW


def test_once_is_local_to_tz() -> None:
    schedule = build("--once", "2026-12-01T10:00", "--tz", "America/New_York")
    assert next_fire_times(schedule, NOW, 2) == [datetime(2026, 12, 1, 15, 0, tzinfo=UTC)]


def test_month_days_and_nth_weekday_parse() -> None:
    assert build(
        "--every", "1", "months", "--month-days", "1,15,last", "--start", "2026-07-01T05:00"
    ).recurrence.month_days == (1, 15, LAST_DAY)
    assert build(
        "--every", "3", "months", "--nth-weekday", "2nd-tue,last-fri", "--start", "2026-07-01T05:00"
    ).recurrence.nth_weekdays == ((2, 1), (LAST_DAY, 4))


@pytest.mark.parametrize(
    ("argv", "option", "reason"),
    [
        (["--cron", "0 3 * * *", "--every", "1", "days"], "--cron / --every", "exactly one"),
        ([], "--cron / --once / --every", "exactly one"),
        (["--every", "1", "days", "--weekdays", "mon"], "--weekdays", "only with --every N weeks"),
        (["--cron", "0 3 * * *", "--weekdays", "mon"], "--weekdays", "only with --every"),
        (
            ["--every", "1", "weeks", "--month-days", "1"],
            "--month-days",
            "only with --every N months",
        ),
        (
            ["--every", "1", "months", "--month-days", "1", "--nth-weekday", "1st-mon"],
            "--month-days and --nth-weekday",
            "choose one",
        ),
        (["--cron", "61 * * * *"], "--cron", "not a valid cron"),
        (["--cron", "* * * *"], "--cron", "has 4 fields"),
        (["--every", "3", "fortnights"], "--every", "unknown unit"),
        (["--every", "0", "hours"], "--every", "at least 1"),
        (["--every", "5", "seconds"], "--every", "unknown unit"),
        (["--cron", "0 3 * * *", "--tz", "Mars/Olympus"], "--tz", "unknown time zone"),
        (
            [
                "--every",
                "1",
                "days",
                "--start",
                "2026-07-01T00:00",
                "--expires",
                "2026-06-30T00:00",
            ],
            "--expires",
            "is not after the --start",
        ),
        (["--once", "2026-01-01T00:00"], "--once", "in the past"),
        (["--once", "2026-12-01T25:00"], "--once", "not a date and time"),
        (
            ["--once", "2026-12-01T10:00", "--start", "2026-11-01T00:00"],
            "--start",
            "not with --once",
        ),
        (["--every", "1", "weeks", "--weekdays", "mon,funday"], "--weekdays", "unknown weekday"),
        (["--every", "1", "months", "--month-days", "0"], "--month-days", "not a day 1..31"),
        (["--every", "1", "months", "--nth-weekday", "6th-mon"], "--nth-weekday", "2nd-tue"),
        (["--cron", "0 3 * * *", "--misfire-grace", "soon"], "--misfire-grace", "not a duration"),
        (["--cron", "0 3 * * *", "-p", "novalue"], "-p", "not NAME=VALUE"),
    ],
)
def test_bad_options_name_the_option_and_reason(argv: list[str], option: str, reason: str) -> None:
    with pytest.raises(UsageError) as caught:
        build(*argv)
    message = str(caught.value)
    assert message.startswith(option + ":"), message
    assert reason in message


def test_small_parsers() -> None:
    assert parse_every("3 hours") == (3, "hours")
    assert parse_every("1 week") == (1, "weeks")
    assert [parse_duration(t) for t in ("90s", "5m", "2h", "1d", "30")] == [
        90,
        300,
        7200,
        86400,
        30,
    ]
    assert parse_weekdays("wed,Mon,monday") == (0, 2)
    assert parse_month_days("last,15,1") == (1, 15, LAST_DAY)
    assert parse_nth_weekdays("1st-sun") == ((1, 6),)
