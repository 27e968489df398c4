"""Crash recovery of a data directory, in one place for every process that owns it.

An engine that dies (kill -9, power cut) leaves its jobs Starting, Running or Stopping
in the store although nothing runs them any more. Whoever next owns the data directory
must say so before showing or doing anything: the engine when it starts, and a CLI
command that reads the store with no engine running (`jobs list`, `jobs show`). Both
hold the data-directory lock while they do it, so recovery never races an engine that
is running the very jobs it would fail.

`recover_interrupted` fails the interrupted jobs and returns the Queued ones: nothing
ever ran them, so an engine enqueues them again and a reader leaves them Queued for
the next engine. `open_recovered` is the reader's door: lock, open, recover, read,
close, unlock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from console.jobs.model import INTERRUPTED_KIND, Job, JobStatus
from console.store import Store
from console.store.lock import DataDirLock

INTERRUPTED = "engine stopped while the job was running"


def recover_interrupted(store: Store) -> list[Job]:
    """Fail every job a dead engine left Starting, Running or Stopping (durably);
    return the Queued jobs, oldest first, for an engine to start again."""
    queued = []
    for job in sorted(store.unfinished_jobs(), key=lambda j: j.id):
        if job.status is JobStatus.QUEUED:
            queued.append(job)
        else:
            fail_job(store, job, INTERRUPTED)
    return queued


def fail_job(store: Store, job: Job, reason: str) -> None:
    """Mark an unfinished job Failed with `reason`, every unfinished host run with it."""
    for run in job.host_runs.values():
        if not run.status.finished:
            run.transition(JobStatus.FAILED)
            run.fail_with(INTERRUPTED_KIND, reason)
    job.transition(JobStatus.FAILED, reason)
    store.save_job(job)


@contextmanager
def open_recovered(data_dir: Path) -> Iterator[Store]:
    """The store of `data_dir` with crash recovery applied, for a command that runs no
    engine. Holds the lock (as a reader, see DataDirLock) until the block ends; raises
    `EngineRunning` when an engine owns the directory: attach to it instead."""
    lock = DataDirLock(data_dir)
    lock.acquire(reader=True)
    try:
        store = Store(data_dir)
        try:
            recover_interrupted(store)
            yield store
        finally:
            store.close()
    finally:
        lock.release()
