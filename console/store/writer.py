"""The event loop's way to write jobs: durable when it must be, batched, off the loop.

Every job change is *staged* on the loop at once (`Store.stage_add` / `stage_save`:
a few tens of microseconds; every read sees it), and one syncer task makes everything
staged durable in a worker thread: one journal append and one fdatasync for all the
changes staged since the previous sync (group commit). A change staged while a sync is
in progress goes into the next one. Per job, changes reach the journal in the order
they were made, since they are staged in that order and written in staging order.

Three ways to write, by how much durability the caller needs:

- `await add(job)` / `await save(job)`: returns once the change is durable. A webhook
  is answered 202 only after `add`; a job's first host command runs only after its
  Starting state is saved (recovery fails a Starting job rather than running it twice).
- `save_soon(job)`: staged now, durable within one sync (milliseconds), not awaited.
  Final states: a crash in that window makes recovery fail the job instead.
- `save_later(job)`: coalesced; the job's latest state is staged within `LATER_DELAY`
  (Running, host-level progress: many changes, one write).

`flush()` / `close()` make everything durable (a clean shutdown loses nothing).
"""

from __future__ import annotations

import asyncio
import logging

from console.errors import OpsError
from console.jobs.model import Job
from console.store import Store

log = logging.getLogger(__name__)

LATER_DELAY = 0.25  # seconds a coalesced change may wait before it is staged


class StoreWriter:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._later: dict[str, Job] = {}
        self._later_timer: asyncio.TimerHandle | None = None
        self._sync_timer: asyncio.TimerHandle | None = None
        self._streams_to_sync: list[str] = []
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._syncer: asyncio.Task[None] | None = None

    async def add(self, job: Job) -> None:
        """Store a new job; returns once it is durable. Raises DuplicateJob (or what
        the disk raised), in which case the job is not acknowledged."""
        await self._durable(self.store.stage_add(job))

    def add_later(self, job: Job) -> None:
        """Store a new job now (every read sees it), durable within LATER_DELAY: for
        jobs whose request is durable elsewhere until `flush` returns (the webhook
        intake journal), so a flood of them costs a few syncs a second, not one per
        batch. Raises DuplicateJob if the job is stored already."""
        self.store.stage_add(job)
        if self._sync_timer is None:
            loop = asyncio.get_running_loop()
            self._sync_timer = loop.call_later(LATER_DELAY, self._sync_due)

    async def save(self, job: Job) -> None:
        """Store the job's current state; returns once it is durable."""
        self._later.pop(job.id, None)
        await self._durable(self.store.stage_save(job))

    def save_soon(self, job: Job, *, sync_streams: bool = False) -> None:
        """Store the job's current state now, durable with the next sync; with
        `sync_streams`, its stream file is fsynced in that sync too (job end)."""
        self._later.pop(job.id, None)
        self._stage(job)
        if sync_streams:
            self._streams_to_sync.append(job.id)
        self._kick()

    def save_later(self, job: Job) -> None:
        """Store the job's latest state within LATER_DELAY, coalescing changes."""
        self._later[job.id] = job
        if self._later_timer is None:
            loop = asyncio.get_running_loop()
            self._later_timer = loop.call_later(LATER_DELAY, self._stage_later)

    async def flush(self) -> None:
        """Everything saved so far, coalesced changes included, is durable on return."""
        self._stage_later()
        await self._durable(self.store.staged_seq)

    async def close(self) -> None:
        """Flush at shutdown; a disk failure is logged (it was reported to the callers
        waiting for it), so the engine still releases its lock."""
        try:
            await self.flush()
        except OpsError as exc:
            log.error("jobs not stored at shutdown: %s", exc)
        if self._sync_timer is not None:
            self._sync_timer.cancel()
            self._sync_timer = None

    # ------------------------------------------------------------------ internals
    def _stage(self, job: Job) -> None:
        try:
            self.store.stage_save(job)
        except OpsError as exc:  # nobody awaits this change: report it, keep going
            log.error("could not store job %s: %s", job.id, exc)

    def _stage_later(self) -> None:
        if self._later_timer is not None:
            self._later_timer.cancel()
            self._later_timer = None
        later, self._later = self._later, {}
        for job in later.values():
            self._stage(job)
        if later:
            self._kick()

    async def _durable(self, seq: int) -> None:
        if self.store.durable_seq >= seq and not self._streams_to_sync:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((seq, done))
        self._kick()
        # Shielded: a caller that goes away must not cancel a write others wait for.
        await asyncio.shield(done)

    def _sync_due(self) -> None:
        self._sync_timer = None
        self._kick()

    def _kick(self) -> None:
        if self._syncer is None or self._syncer.done():
            self._syncer = asyncio.create_task(self._sync_forever(), name="store sync")

    async def _sync_forever(self) -> None:
        """Sync until nothing staged is left unsynced; wake each waiter once its change
        is durable, or with the error if the disk refused the write."""
        while self.store.durable_seq < self.store.staged_seq or self._streams_to_sync:
            streams, self._streams_to_sync = self._streams_to_sync, []
            try:
                await asyncio.to_thread(self._sync, streams)
            except Exception as exc:  # StoreWriteFailed: the store takes no more writes
                log.error("store write failed: %s", exc)
                self._settle(self.store.staged_seq, exc)
                return
            self._settle(self.store.durable_seq, None)

    def _sync(self, stream_jobs: list[str]) -> None:
        """(worker thread) Streams of ended jobs first, so a job durable as ended has
        its output on disk too; then the job journal."""
        for job_id in stream_jobs:
            self.store.sync_streams(job_id)
        self.store.sync_jobs()

    def _settle(self, upto: int, error: Exception | None) -> None:
        waiting = []
        for seq, done in self._waiters:
            if seq > upto:
                waiting.append((seq, done))
            elif not done.done():
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)
        self._waiters = waiting
