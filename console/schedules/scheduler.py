"""The scheduler: the loop that starts schedules' runs when they are due.

It sleeps until the nearest due time (at most `max_sleep` seconds at a time, so a wall
clock that jumps is noticed), then decides, for every due time of every enabled schedule,
what to do, and records that decision. Nothing is decided silently: a run that fires,
is skipped because the previous one still runs, is queued, is missed while no engine
ran, runs late, or fails to start, each leaves a `Decision`.

**Never twice.** Per schedule, a persisted watermark (`last_fire_time`) says "every due
time up to here has been decided". It is written *before* a run is started, so a crash
between the two can lose that one run but can never start it twice, on this engine or
after a restart. The engine may reconcile the other way from its job records (a job
with trigger "schedule" and this due time means the run did start). Due times at or
before the watermark are never considered again, even when the wall clock goes back.

**Misfires.** Due times found more than `misfire_grace` late (the engine was down, the
machine slept) follow the schedule's `misfire` rule: `skip` records each as
`skipped_misfire`; `run-once` runs only the latest, once (no catch-up storm), and records
the rest. When one evaluation finds several due times, only the latest may run; the
earlier ones are recorded as missed. After a long outage only the last `keep_misses`
are recorded one by one, plus one record that counts the others.

**Overlap.** `skip` records `skipped_running`; `queue` records `queued` and starts the
run when the previous one has ended (at most one run waits per schedule; the engine
should call `wake()` when a scheduled job ends, otherwise the loop checks every second
while a run waits); `allow` starts it anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from console.schedules.model import Schedule, utc_now
from console.schedules.recurrence import due_times, next_fire_times

log = logging.getLogger(__name__)

RUN_LATE_THRESHOLD = 1.0  # seconds: a run later than this is recorded as ran_late


class Action(StrEnum):
    FIRED = "fired"
    SKIPPED_RUNNING = "skipped_running"
    QUEUED = "queued"
    SKIPPED_MISFIRE = "skipped_misfire"
    RAN_LATE = "ran_late"
    EXPIRED = "expired"
    FAILED = "failed"  # the engine could not start the job (the error is the detail)


@dataclass(frozen=True)
class Decision:
    """What the scheduler did about one due time of one schedule."""

    schedule: str
    due: datetime | None
    decided_at: datetime
    action: Action
    delay: float = 0.0  # seconds between the due time and the decision
    job_id: str | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule,
            "due": self.due.isoformat() if self.due else None,
            "decided_at": self.decided_at.isoformat(),
            "action": self.action.value,
            "delay": self.delay,
            "job_id": self.job_id,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Decision:
        return cls(
            schedule=data["schedule"],
            due=datetime.fromisoformat(data["due"]) if data.get("due") else None,
            decided_at=datetime.fromisoformat(data["decided_at"]),
            action=Action(data["action"]),
            delay=float(data.get("delay", 0.0)),
            job_id=data.get("job_id"),
            detail=data.get("detail", ""),
        )


class ScheduleSource(Protocol):
    def enabled_schedules(self) -> list[Schedule]:
        """The schedules that may fire now (disabled ones left out)."""


class JobLauncher(Protocol):
    def fire(self, schedule: Schedule, fire_time: datetime) -> Awaitable[str]:
        """Create the job for one run (trigger "schedule") and return its id."""

    def is_running(self, schedule_name: str) -> bool:
        """Whether a job started by this schedule is queued or running."""


class FireStateStore(Protocol):
    def get_last_fire(self, schedule_name: str) -> datetime | None: ...

    def set_last_fire(self, schedule_name: str, when: datetime) -> None:
        """Persist the watermark durably before returning."""


class DecisionRecorder(Protocol):
    def record(self, decision: Decision) -> None: ...


@dataclass
class _Waiting:
    due: datetime
    since: datetime


class Scheduler:
    """Fires due schedules on the running asyncio loop. Use `await run()` or `start()`."""

    def __init__(
        self,
        source: ScheduleSource,
        launcher: JobLauncher,
        state: FireStateStore,
        recorder: DecisionRecorder,
        *,
        max_sleep: float = 30.0,
        queue_poll: float = 1.0,
        keep_misses: int = 100,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._source = source
        self._launcher = launcher
        self._state = state
        self._recorder = recorder
        self._max_sleep = max_sleep
        self._queue_poll = queue_poll
        self._keep_misses = keep_misses
        self._clock = clock
        self._wake = asyncio.Event()
        self._stopping = False
        self._waiting: dict[str, _Waiting] = {}  # overlap=queue runs behind a running one
        self._starting: set[str] = set()  # fire() called, job id not yet returned
        self._fires: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Re-evaluate now: call after schedules change or a scheduled job ends."""
        self._wake.set()

    def resume(self, schedule_name: str) -> None:
        """Call when a schedule is enabled again (or its recurrence edited): due times
        before now are then not misfires, just times it was switched off."""
        now = self._clock()
        last = self._state.get_last_fire(schedule_name)
        if last is None or last < now:
            self._state.set_last_fire(schedule_name, now)
        self.wake()

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.get_running_loop().create_task(self.run(), name="scheduler")
        return self._task

    async def stop(self) -> None:
        """Stop deciding; wait for runs being started to get their job ids recorded."""
        self._stopping = True
        self.wake()
        if self._task is not None:
            await self._task
        if self._fires:
            await asyncio.gather(*self._fires, return_exceptions=True)

    async def run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                pause = self.evaluate()
            except Exception:  # a bug must not stop every schedule for good
                log.exception("scheduler evaluation failed; retrying")
                pause = self._max_sleep
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)

    def evaluate(self) -> float:
        """Decide every due time now; return how long to sleep before the next one."""
        now = self._clock()
        schedules = {s.name: s for s in self._source.enabled_schedules()}
        self._start_waiting(schedules, now)
        pause = self._max_sleep
        for schedule in schedules.values():
            try:
                next_due = self._evaluate_one(schedule, now)
            except Exception:
                log.exception("schedule %s: evaluation failed", schedule.name)
                continue
            if next_due is not None:
                pause = min(pause, (next_due - now).total_seconds())
        if self._waiting:
            pause = min(pause, self._queue_poll)
        # Wake a hair after the due time: waking before it would only sleep again.
        return max(pause, 0.0) + 0.002

    def _evaluate_one(self, schedule: Schedule, now: datetime) -> datetime | None:
        last = self._state.get_last_fire(schedule.name)
        mark = last if last is not None else schedule.created
        due = due_times(schedule, mark, now, keep=self._keep_misses)
        if due.count:
            self._decide(schedule, due.times, due.count, due.exact, now)
            mark = due.times[-1]
        upcoming = next_fire_times(schedule, max(mark, now), 1)
        if upcoming:
            return upcoming[0]
        expires = schedule.expires_instant()
        if expires is not None and expires <= now and (last is None or last < expires):
            # The watermark moves to the expiry so that this is recorded only once.
            self._state.set_last_fire(schedule.name, expires)
            self._record(
                schedule,
                expires,
                now,
                Action.EXPIRED,
                detail="the schedule expired; it starts no more runs",
            )
        return None

    def _decide(
        self, schedule: Schedule, times: list[datetime], count: int, exact: bool, now: datetime
    ) -> None:
        latest = times[-1]
        late = (now - latest).total_seconds() > schedule.misfire_grace
        runs = not late or schedule.misfire == "run-once"
        self._state.set_last_fire(schedule.name, latest)  # before firing: never twice
        unlisted = count - len(times)
        if unlisted:
            counted = str(unlisted) if exact else f"more than {unlisted}"
            self._record(
                schedule,
                None,
                now,
                Action.SKIPPED_MISFIRE,
                detail=f"{counted} earlier missed runs are not listed one by one",
            )
        missed = times[:-1] if runs else times
        why = (
            "superseded by a later due time"
            if runs
            else f"missed by more than the misfire grace ({schedule.misfire_grace:g}s); "
            "misfire rule skip"
        )
        for due in missed:
            self._record(schedule, due, now, Action.SKIPPED_MISFIRE, detail=why)
        if not runs:
            return
        detail = ""
        if late:
            detail = f"misfire rule run-once: ran once for {count} missed run(s)"
        self._start_or_hold(schedule, latest, now, detail)

    def _start_or_hold(self, schedule: Schedule, due: datetime, now: datetime, detail: str) -> None:
        """Apply the overlap rule to a run that is due now."""
        if schedule.name in self._waiting:
            self._record(
                schedule,
                due,
                now,
                Action.SKIPPED_RUNNING,
                detail="a run is already queued behind the running one",
            )
            return
        if schedule.overlap != "allow" and self._busy(schedule.name):
            if schedule.overlap == "queue":
                self._waiting[schedule.name] = _Waiting(due, now)
                self._record(
                    schedule,
                    due,
                    now,
                    Action.QUEUED,
                    detail="the previous run is still going; starts when it ends",
                )
            else:
                self._record(
                    schedule,
                    due,
                    now,
                    Action.SKIPPED_RUNNING,
                    detail="the previous run is still going (overlap rule skip)",
                )
            return
        self._launch(schedule, due, detail)

    def _start_waiting(self, schedules: dict[str, Schedule], now: datetime) -> None:
        for name, waiting in list(self._waiting.items()):
            schedule = schedules.get(name)
            if schedule is None:
                del self._waiting[name]
                self._record_name(
                    name,
                    waiting.due,
                    now,
                    Action.SKIPPED_RUNNING,
                    detail="the schedule was disabled or removed while its run was queued",
                )
            elif not self._busy(name):
                del self._waiting[name]
                waited = (now - waiting.since).total_seconds()
                self._launch(
                    schedule,
                    waiting.due,
                    f"queued for {waited:.1f}s behind the previous run",
                    queued=True,
                )

    def _busy(self, name: str) -> bool:
        return name in self._starting or self._launcher.is_running(name)

    def _launch(self, schedule: Schedule, due: datetime, detail: str, queued: bool = False) -> None:
        self._starting.add(schedule.name)
        task = asyncio.get_running_loop().create_task(
            self._fire(schedule, due, detail, queued), name=f"fire {schedule.name}"
        )
        self._fires.add(task)
        task.add_done_callback(self._fires.discard)

    async def _fire(self, schedule: Schedule, due: datetime, detail: str, queued: bool) -> None:
        started = self._clock()
        delay = (started - due).total_seconds()
        try:
            job_id = await self._launcher.fire(schedule, due)
        except Exception as exc:  # the engine's error is the user's answer
            log.warning("schedule %s: could not start its job: %s", schedule.name, exc)
            self._record(
                schedule,
                due,
                started,
                Action.FAILED,
                delay=delay,
                detail=f"could not start the job: {exc}",
            )
        else:
            late = delay > RUN_LATE_THRESHOLD and not queued
            self._record(
                schedule,
                due,
                started,
                Action.RAN_LATE if late else Action.FIRED,
                delay=delay,
                job_id=job_id,
                detail=detail,
            )
        finally:
            self._starting.discard(schedule.name)
            self.wake()

    def _record(
        self,
        schedule: Schedule,
        due: datetime | None,
        now: datetime,
        action: Action,
        *,
        delay: float | None = None,
        job_id: str | None = None,
        detail: str = "",
    ) -> None:
        self._record_name(
            schedule.name, due, now, action, delay=delay, job_id=job_id, detail=detail
        )

    def _record_name(
        self,
        name: str,
        due: datetime | None,
        now: datetime,
        action: Action,
        *,
        delay: float | None = None,
        job_id: str | None = None,
        detail: str = "",
    ) -> None:
        if delay is None:
            delay = max((now - due).total_seconds(), 0.0) if due else 0.0
        decision = Decision(name, due, now.astimezone(UTC), action, delay, job_id, detail)
        try:
            self._recorder.record(decision)
        except Exception:
            log.exception("could not record scheduler decision %s", decision)
