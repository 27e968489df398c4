"""Group commit: many new jobs made durable by one write.

A webhook is answered 202 only once its job is stored, and storing one job rewrites a
segment file and fsyncs it. Under a burst of requests that makes the disk the limit:
one fsync per request. `GroupCommit.add` instead queues the job; one writer (in a worker
thread, so the event loop keeps accepting requests meanwhile) stores every job queued so
far with `Store.add_jobs`, and wakes each caller once its job is durable. A job that
arrives during a write goes into the next one. With one caller at a time this is a plain
`add_job` plus a thread hop.
"""

from __future__ import annotations

import asyncio

from console.jobs import Job
from console.store import Store


class GroupCommit:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: list[tuple[Job, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def add(self, job: Job) -> None:
        """Store `job` durably (with whatever else is waiting); raises what the store
        raised, in which case the job is not stored."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((job, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all(), name="group commit")
        # Shielded: a caller that goes away must not cancel the write of other jobs.
        await asyncio.shield(done)

    async def _write_all(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await asyncio.to_thread(self._store.add_jobs, [job for job, _ in batch])
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0][1], exc)
                else:  # one bad job must not fail the others: store them one by one
                    await self._write_each(batch)
            else:
                for _, done in batch:
                    _settle(done, None)

    async def _write_each(self, batch: list[tuple[Job, asyncio.Future[None]]]) -> None:
        for job, done in batch:
            try:
                await asyncio.to_thread(self._store.add_jobs, [job])
            except Exception as exc:
                _settle(done, exc)
            else:
                _settle(done, None)


def _settle(done: asyncio.Future[None], error: Exception | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
