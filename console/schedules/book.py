"""Schedules kept in the store: the admin operations and the scheduler's persistence.

One `ScheduleBook` per engine. It implements the scheduler's `ScheduleSource`,
`FireStateStore` and `DecisionRecorder` over three store tables, and the operations
behind `opsconsole schedules ...` (async, so the same calls work in-process and over
the control socket; it is the engine's `console.engine.client.ScheduleAdmin`). Every
operation returns a typed JSON object (`console.schedules.views`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import cast

from console.errors import UsageError
from console.schedules.model import Schedule, utc_now
from console.schedules.recurrence import next_fire_times
from console.schedules.scheduler import Decision
from console.schedules.views import DecisionDict, ScheduleDetail, ScheduleDict, ScheduleView
from console.store import Store

DECISIONS_KEPT = 10_000  # the decision log is capped: oldest rows go first


class ScheduleBook:
    def __init__(
        self,
        store: Store,
        check: Callable[[Schedule], None],
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        """`check` validates a new schedule against the engine (runbook, parameters);
        `on_change` wakes the scheduler after any change."""
        self._schedules = store.table("schedules")
        self._fires = store.table("schedule_fires")
        self._decisions = store.table("schedule_decisions", cap=DECISIONS_KEPT)
        self._check = check
        self._on_change = on_change
        self._seq = len(self._decisions)

    # --- the scheduler's side -----------------------------------------------------------
    def schedules(self) -> list[Schedule]:
        return [Schedule.from_dict(doc) for doc in self._schedules.all().values()]

    def enabled_schedules(self) -> list[Schedule]:
        return [s for s in self.schedules() if s.enabled]

    def get_last_fire(self, schedule_name: str) -> datetime | None:
        doc = self._fires.get(schedule_name)
        return datetime.fromisoformat(doc["last_fire"]) if doc else None

    def set_last_fire(self, schedule_name: str, when: datetime) -> None:
        self._fires.upsert(schedule_name, {"last_fire": when.isoformat()})

    def record(self, decision: Decision) -> None:
        # Keys sort in decision order: a time stamp plus a sequence number.
        self._seq += 1
        key = f"{decision.decided_at.timestamp():017.6f}-{self._seq:09d}"
        self._decisions.upsert(key, decision.to_dict())

    # --- admin operations (the CLI and the control API) ---------------------------------
    def _get(self, name: str) -> Schedule:
        doc = self._schedules.get(name)
        if doc is None:
            known = ", ".join(sorted(self._schedules.all())) or "none"
            raise UsageError(f"no schedule named {name!r} (schedules: {known})")
        return Schedule.from_dict(doc)

    def _view(self, schedule: Schedule, now: datetime) -> ScheduleView:
        upcoming = next_fire_times(schedule, now, 1) if schedule.enabled else []
        last = self.get_last_fire(schedule.name)
        return {
            **_stored(schedule),
            "describe": schedule.describe(),
            "next": upcoming[0].isoformat() if upcoming else None,
            "last_fire": last.isoformat() if last else None,
        }

    async def create(self, schedule: Schedule) -> ScheduleView:
        if self._schedules.get(schedule.name) is not None:
            raise UsageError(f"a schedule named {schedule.name!r} already exists; delete it first")
        self._check(schedule)
        self._schedules.upsert(schedule.name, schedule.to_dict())
        # Runs due before creation are not misfires: start the watermark now.
        self.set_last_fire(schedule.name, max(utc_now(), schedule.created))
        self._on_change()
        return self._view(schedule, utc_now())

    async def entries(self) -> list[ScheduleView]:
        now = utc_now()
        return [self._view(s, now) for s in sorted(self.schedules(), key=lambda s: s.name)]

    async def show(self, name: str, decisions: int = 20) -> ScheduleDetail:
        view = self._view(self._get(name), utc_now())
        rows = [d for _, d in sorted(self._decisions.all().items()) if d["schedule"] == name]
        # Rows are stored by `record` as `Decision.to_dict()`.
        return {**view, "decisions": [cast(DecisionDict, d) for d in rows[-decisions:]]}

    async def set_enabled(self, name: str, enabled: bool) -> ScheduleView:
        schedule = self._get(name)
        schedule.enabled = enabled
        self._schedules.upsert(name, schedule.to_dict())
        if enabled:
            # Runs that fell due while it was disabled were not missed: they were off.
            self.set_last_fire(name, utc_now())
        self._on_change()
        return self._view(schedule, utc_now())

    async def delete(self, name: str) -> ScheduleDict:
        schedule = self._get(name)
        self._schedules.delete(name)
        self._fires.delete(name)
        self._on_change()
        return _stored(schedule)

    async def next(self, name: str, count: int = 5) -> list[str]:
        if count < 1:
            raise UsageError("--count must be at least 1")
        schedule = self._get(name)
        return [t.isoformat() for t in next_fire_times(schedule, utc_now(), count)]


def _stored(schedule: Schedule) -> ScheduleDict:
    """`Schedule.to_dict()` with its shape named (the model returns a plain dict)."""
    return cast(ScheduleDict, schedule.to_dict())
