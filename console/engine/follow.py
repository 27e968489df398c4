"""Following one job until it ends: the one place `run` and attached `exec` wait.

Live output comes from engine events, but events alone never decide that the job has
ended: an attached client loses events when it reads too slowly (the engine drops
them rather than wait for it; the client sees a `missed` event), and a lost final event
must not leave the command waiting forever. So the follower also reads the job's state
every POLL_INTERVAL, and after a loss shows the rest of the output from the stored
streams instead of from events. What it shows is always the job's stored output, in
order, each record once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from types import TracebackType

from console.engine.client import EngineClient
from console.jobs.events import EngineEvent
from console.jobs.model import Job, StreamRecord

POLL_INTERVAL = 2.0  # seconds between reads of the job's state while it runs
EARLY_EVENTS_KEPT = 10_000  # events kept between subscribing and knowing the job id

RecordPrinter = Callable[[StreamRecord], None]


class JobFollower:
    """Subscribe first (`async with`), then start the job, then `await follow(id)`:
    no event of the job can fall between the start and the subscription."""

    def __init__(self, client: EngineClient, on_record: RecordPrinter | None = None) -> None:
        self._client = client
        self._on_record = on_record
        self._job_id: str | None = None
        self._done = False  # the job ended: events still on their way are not shown
        self._early: list[EngineEvent] = []
        self._shown = 0  # records shown: always the first ones of the stored streams
        self._missed = False  # events were lost: output now comes from the store
        self._ended_live = False  # the final job event arrived with nothing lost
        self._wake = asyncio.Event()
        self._unsubscribe: Callable[[], None] | None = None

    async def __aenter__(self) -> JobFollower:
        self._unsubscribe = self._client.subscribe(self._on_event)
        await self._client.wait_subscribed()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    async def follow(self, job_id: str) -> Job:
        """Show the job's output as it comes; return the job once it has ended."""
        self._job_id = job_id
        early, self._early = self._early, []
        for event in early:
            self._on_event(event)
        while True:
            self._wake.clear()  # an event from here on ends the wait below at once
            if self._missed:
                await self._catch_up()
            job: Job = await self._client.job(job_id)
            if job.status.finished:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_INTERVAL)
        self._done = True
        if not self._ended_live:
            await self._catch_up()
        return job

    def _on_event(self, event: EngineEvent) -> None:
        if self._done:
            return
        if event.missed:
            self._missed = True
            self._wake.set()
            return
        if self._job_id is None:
            if len(self._early) < EARLY_EVENTS_KEPT:
                self._early.append(event)
            else:
                self._missed = True
            return
        if event.job_id != self._job_id:
            return
        if not self._missed:
            for record in event.records:
                self._show(record)
            if event.job is not None and event.job.status.finished:
                self._ended_live = True
        if event.job is not None and event.job.status.finished:
            self._wake.set()

    async def _catch_up(self) -> None:
        """Show the stored records not shown yet (those shown are the first ones)."""
        assert self._job_id is not None
        records = await self._client.streams(self._job_id)
        for record in records[self._shown :]:
            self._show(record)

    def _show(self, record: StreamRecord) -> None:
        self._shown += 1
        if self._on_record is not None:
            self._on_record(record)
