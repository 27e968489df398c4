"""What the schedule admin operations return: JSON objects, typed.

The same shapes in-process (`ScheduleBook`) and over the control socket, and what
`opsconsole schedules ... --json` prints. Kept free of the store and the scheduler, so
the client interface can name them without importing either.
"""

from __future__ import annotations

from typing import TypedDict


class ScheduleDict(TypedDict):
    """`Schedule.to_dict()`: a schedule as stored."""

    name: str
    runbook: str
    pattern: str
    recurrence: dict[str, object]
    start: str
    timezone: str
    parameters: dict[str, str]
    enabled: bool
    expires: str | None
    overlap: str
    misfire: str
    misfire_grace: float
    description: str
    created: str


class ScheduleView(ScheduleDict):
    """A schedule as listed: with its description and next and last fire times."""

    describe: str
    next: str | None
    last_fire: str | None


class DecisionDict(TypedDict):
    """`Decision.to_dict()`: one thing the scheduler did about a due time."""

    schedule: str
    due: str | None
    decided_at: str
    action: str
    delay: float
    job_id: str | None
    detail: str


class ScheduleDetail(ScheduleView):
    """`schedules show`: the schedule and its most recent decisions, oldest first."""

    decisions: list[DecisionDict]
