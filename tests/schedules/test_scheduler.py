"""The scheduler loop on a real event loop with real (short) intervals.

The scheduler's collaborators are small in-test implementations of its interfaces:
schedules in a dict, a launcher whose "jobs" run for a set time on the loop, a watermark
store persisted to a JSON file (so a restart reads what the previous instance wrote),
and a list of decisions."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from console.jobs.model import new_job_id
from console.schedules.model import Recurrence, Schedule
from console.schedules.scheduler import Action, Decision, Scheduler

EVERY_SECOND = Recurrence("every", interval=1, unit="seconds")


def now() -> datetime:
    return datetime.now(UTC)


def schedule(name: str = "tick", recurrence: Recurrence = EVERY_SECOND, **kw: object) -> Schedule:
    """A schedule starting at the next whole second (UTC)."""
    start = (now() + timedelta(seconds=0.999)).replace(microsecond=0, tzinfo=None)
    return Schedule(name, "tick.sh", "all", recurrence, start, **kw)  # type: ignore[arg-type]


class Source:
    def __init__(self, *schedules: Schedule) -> None:
        self.schedules = {s.name: s for s in schedules}

    def enabled_schedules(self) -> list[Schedule]:
        return [s for s in self.schedules.values() if s.enabled]


@dataclass
class Fired:
    schedule: str
    due: datetime
    at: datetime
    job_id: str


class Launcher:
    """Starts pretend jobs that stay running for `job_seconds`, then call `on_end`."""

    def __init__(self, job_seconds: float = 0.0, fail: bool = False) -> None:
        self.job_seconds = job_seconds
        self.fail = fail
        self.fired: list[Fired] = []
        self.ended: list[tuple[str, datetime]] = []
        self.running: Counter[str] = Counter()
        self.most_at_once: Counter[str] = Counter()
        self.on_end = lambda: None

    async def fire(self, schedule: Schedule, fire_time: datetime) -> str:
        if self.fail:
            raise RuntimeError("runbook tick.sh not found")
        job_id = new_job_id()
        self.fired.append(Fired(schedule.name, fire_time, now(), job_id))
        if self.job_seconds:
            self.running[schedule.name] += 1
            self.most_at_once[schedule.name] = max(
                self.most_at_once[schedule.name], self.running[schedule.name]
            )
            asyncio.get_running_loop().call_later(self.job_seconds, self._end, schedule.name)
        return job_id

    def _end(self, name: str) -> None:
        self.running[name] -= 1
        self.ended.append((name, now()))
        self.on_end()

    def is_running(self, schedule_name: str) -> bool:
        return self.running[schedule_name] > 0


class FileState:
    """Watermarks in a JSON file, rewritten on every change, as a store would."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, str]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def get_last_fire(self, schedule_name: str) -> datetime | None:
        value = self._load().get(schedule_name)
        return datetime.fromisoformat(value) if value else None

    def set_last_fire(self, schedule_name: str, when: datetime) -> None:
        data = self._load()
        data[schedule_name] = when.isoformat()
        self.path.write_text(json.dumps(data))


class Log:
    def __init__(self) -> None:
        self.decisions: list[Decision] = []

    def record(self, decision: Decision) -> None:
        self.decisions.append(Decision.from_dict(json.loads(json.dumps(decision.to_dict()))))

    def actions(self, name: str | None = None) -> list[Action]:
        return [d.action for d in self.decisions if name is None or d.schedule == name]


def make(source: Source, launcher: Launcher, tmp_path: Path, log: Log, **kw: object) -> Scheduler:
    scheduler = Scheduler(source, launcher, FileState(tmp_path / "state.json"), log, **kw)  # type: ignore[arg-type]
    launcher.on_end = scheduler.wake
    return scheduler


async def run_for(scheduler: Scheduler, seconds: float) -> None:
    scheduler.start()
    await asyncio.sleep(seconds)
    await scheduler.stop()


async def test_fires_within_a_second_of_due_time(tmp_path: Path) -> None:
    cron = schedule("cron", Recurrence("cron", cron="* * * * * *"))
    every = schedule("every")
    launcher, log = Launcher(), Log()
    await run_for(make(Source(cron, every), launcher, tmp_path, log), 2.3)
    for name in ("cron", "every"):
        fired = [f for f in launcher.fired if f.schedule == name]
        assert len(fired) >= 2
        dues = [f.due for f in fired]
        assert dues == sorted(set(dues))  # no due time twice
        assert all(b - a == timedelta(seconds=1) for a, b in itertools.pairwise(dues))
        delays = [(f.at - f.due).total_seconds() for f in fired]
        assert all(0 <= d < 1.0 for d in delays), delays
        print(f"{name}: worst delay {max(delays) * 1000:.1f} ms")
    assert set(log.actions()) == {Action.FIRED}
    assert {d.job_id for d in log.decisions} == {f.job_id for f in launcher.fired}


async def test_wake_picks_up_a_new_schedule_without_waiting_out_the_sleep(tmp_path: Path) -> None:
    source, launcher, log = Source(), Launcher(), Log()
    scheduler = make(source, launcher, tmp_path, log, max_sleep=30.0)
    scheduler.start()
    await asyncio.sleep(0.2)  # asleep for up to 30 s: nothing to do
    once_at = (now() + timedelta(seconds=1)).replace(tzinfo=None)
    source.schedules["once"] = Schedule(
        "once", "tick.sh", "all", Recurrence("once", at=once_at), once_at
    )
    scheduler.wake()
    await asyncio.sleep(1.5)
    await scheduler.stop()
    assert len(launcher.fired) == 1
    assert (launcher.fired[0].at - launcher.fired[0].due).total_seconds() < 1.0


async def test_overlap_rules_skip_queue_and_allow(tmp_path: Path) -> None:
    """Three schedules side by side, each with runs that last 1.6 s, due every second."""
    launcher, log = Launcher(job_seconds=1.6), Log()
    skip, queue, allow = (schedule(rule, overlap=rule) for rule in ("skip", "queue", "allow"))
    await run_for(make(Source(skip, queue, allow), launcher, tmp_path, log), 3.4)

    # skip: due 0 runs until 1.6; due 1 is skipped and recorded; due 2 runs again.
    assert launcher.most_at_once["skip"] == 1
    assert log.actions("skip")[:3] == [Action.FIRED, Action.SKIPPED_RUNNING, Action.FIRED]

    # queue: due 1 waits and starts as soon as the run of due 0 ends, never alongside it.
    assert launcher.most_at_once["queue"] == 1
    assert log.actions("queue")[:3] == [Action.FIRED, Action.QUEUED, Action.FIRED]
    queued, started = [d for d in log.decisions if d.schedule == "queue"][1:3]
    assert started.due == queued.due and started.job_id is not None
    first_end = next(at for name, at in launcher.ended if name == "queue")
    second_start = [f.at for f in launcher.fired if f.schedule == "queue"][1]
    assert timedelta(0) <= second_start - first_end < timedelta(seconds=0.5)

    # allow: every due time runs, overlapping the previous run.
    assert launcher.most_at_once["allow"] >= 2
    assert set(log.actions("allow")) == {Action.FIRED}

    for name in ("skip", "queue", "allow"):
        fired = [f.due for f in launcher.fired if f.schedule == name]
        assert len(fired) == len(set(fired))  # no due time ever runs twice
    for name in ("skip", "allow"):
        dues = [d.due for d in log.decisions if d.schedule == name]
        assert len(dues) == len(set(dues)) >= 3  # every due time decided exactly once


def outage(tmp_path: Path, misfire: str, hours: float) -> tuple[Schedule, datetime]:
    """A per-minute schedule whose engine was down for `hours`; returns the last due time."""
    start = (now() - timedelta(days=2)).replace(second=0, microsecond=0, tzinfo=None)
    # Keep clear of a minute boundary: a due time that is "now", or one that comes
    # while the test runs (it would fire, and the test expects only the outage's).
    while not 1 <= now().second <= 50:
        time.sleep(0.2)
    # No grace, so the latest missed minute is late too (a grace would let it run).
    minutely = Schedule(
        "minutely",
        "tick.sh",
        "all",
        Recurrence("cron", cron="* * * * *"),
        start,
        misfire=misfire,
        misfire_grace=0.5,
        created=now() - timedelta(days=2),
    )
    last_due = now().replace(second=0, microsecond=0)
    FileState(tmp_path / "state.json").set_last_fire("minutely", last_due - timedelta(hours=hours))
    return minutely, last_due


async def test_misfire_skip_after_an_outage_records_misses_and_runs_nothing(tmp_path: Path) -> None:
    minutely, last_due = outage(tmp_path, "skip", hours=3)
    launcher, log = Launcher(), Log()
    await run_for(make(Source(minutely), launcher, tmp_path, log), 0.3)
    assert launcher.fired == []
    assert log.actions() == [Action.SKIPPED_MISFIRE] * 101
    summary, listed = log.decisions[0], log.decisions[1:]
    assert summary.due is None and "80 earlier missed runs" in summary.detail
    assert [d.due for d in listed] == [last_due - timedelta(minutes=99 - i) for i in range(100)]
    assert FileState(tmp_path / "state.json").get_last_fire("minutely") == last_due


async def test_misfire_run_once_runs_once_not_once_per_miss(tmp_path: Path) -> None:
    minutely, last_due = outage(tmp_path, "run-once", hours=3)
    launcher, log = Launcher(), Log()
    await run_for(make(Source(minutely), launcher, tmp_path, log), 0.3)
    assert [f.due for f in launcher.fired] == [last_due]
    ran = [d for d in log.decisions if d.action is Action.RAN_LATE]
    assert len(ran) == 1 and ran[0].job_id == launcher.fired[0].job_id
    assert ran[0].delay >= (now() - last_due).total_seconds() - 1
    assert "180 missed" in ran[0].detail
    assert log.actions().count(Action.SKIPPED_MISFIRE) == 100  # 99 listed + 1 summary


async def test_a_run_late_within_the_grace_still_runs_and_says_so(tmp_path: Path) -> None:
    start = (now() - timedelta(seconds=20)).replace(microsecond=0, tzinfo=None)
    hourly = Schedule(
        "hourly",
        "tick.sh",
        "all",
        Recurrence("every", interval=1, unit="hours"),
        start,
        created=now() - timedelta(minutes=5),
    )
    launcher, log = Launcher(), Log()
    await run_for(make(Source(hourly), launcher, tmp_path, log), 0.3)
    assert log.actions() == [Action.RAN_LATE]
    assert 19 < log.decisions[0].delay < 22


async def test_never_fires_twice_across_a_restart(tmp_path: Path) -> None:
    tick = schedule()
    launcher, log = Launcher(), Log()
    await run_for(make(Source(tick), launcher, tmp_path, log), 1.2)
    await run_for(make(Source(tick), launcher, tmp_path, log), 1.2)  # a new engine
    dues = [f.due for f in launcher.fired]
    assert len(dues) >= 2
    assert len(dues) == len(set(dues))
    assert all(b - a == timedelta(seconds=1) for a, b in itertools.pairwise(dues))


async def test_a_crash_between_watermark_and_fire_loses_the_run_rather_than_doubling(
    tmp_path: Path,
) -> None:
    tick = schedule()
    due = tick.start_instant()
    # The previous engine persisted the watermark for `due` and died before firing it.
    FileState(tmp_path / "state.json").set_last_fire("tick", due)
    await asyncio.sleep((due - now()).total_seconds() + 0.3)
    launcher, log = Launcher(), Log()
    await run_for(make(Source(tick), launcher, tmp_path, log), 1.0)
    assert due not in [f.due for f in launcher.fired]
    assert [f.due for f in launcher.fired] == [due + timedelta(seconds=1)]


async def test_expiry_is_recorded_once_even_across_restarts(tmp_path: Path) -> None:
    tick = schedule()
    expires = tick.start + timedelta(seconds=1)
    tick = Schedule("tick", "tick.sh", "all", EVERY_SECOND, tick.start, expires=expires)
    launcher, log = Launcher(), Log()
    await run_for(make(Source(tick), launcher, tmp_path, log), 2.2)
    await run_for(make(Source(tick), launcher, tmp_path, log), 0.3)
    assert log.actions() == [Action.FIRED, Action.EXPIRED]
    assert all(f.due < tick.expires_instant() for f in launcher.fired)  # type: ignore[operator]


async def test_a_job_that_cannot_start_is_recorded_as_failed(tmp_path: Path) -> None:
    launcher, log = Launcher(fail=True), Log()
    await run_for(make(Source(schedule()), launcher, tmp_path, log), 1.2)
    assert log.actions()[:1] == [Action.FAILED]
    assert "runbook tick.sh not found" in log.decisions[0].detail


async def test_wall_clock_jumps_neither_repeat_runs_nor_start_a_storm(tmp_path: Path) -> None:
    offset = timedelta(0)
    launcher, log = Launcher(), Log()
    scheduler = make(
        Source(schedule()), launcher, tmp_path, log, max_sleep=0.5, clock=lambda: now() + offset
    )
    scheduler.start()
    await asyncio.sleep(1.3)
    fired_before = len(launcher.fired)
    assert fired_before >= 1
    offset = -timedelta(hours=1)  # the clock is set back an hour
    await asyncio.sleep(0.8)
    assert len(launcher.fired) == fired_before  # those times were already decided
    offset = timedelta(hours=2)  # and then forward, past the hour, like a resume
    await asyncio.sleep(0.8)
    await scheduler.stop()
    dues = [f.due for f in launcher.fired]
    assert len(dues) == len(set(dues))
    assert len(dues) <= fired_before + 2  # no catch-up storm for the skipped hours
    assert Action.SKIPPED_MISFIRE in log.actions()
    assert len(log.decisions) < 120  # 3600+ misses summarised, not written one by one


async def test_resume_after_disabling_records_no_misfires(tmp_path: Path) -> None:
    minutely, _ = outage(tmp_path, "skip", hours=3)
    launcher, log = Launcher(), Log()
    scheduler = make(Source(minutely), launcher, tmp_path, log)
    scheduler.resume("minutely")  # it was disabled, not missed
    await run_for(scheduler, 0.3)
    assert log.decisions == [] and launcher.fired == []
