"""Crash recovery of a data directory, in one place for every process that owns it.

An engine that dies (kill -9, power cut) leaves its jobs Starting, Running or Stopping
in the store although nothing runs them any more. Whoever next owns the data directory
must say so before showing or doing anything: every engine when it starts, including
the read-only one a CLI command starts to read history with no engine running (`jobs
list`, `jobs show`). It holds the data-directory lock while it does it, so recovery
never races an engine that is running the very jobs it would fail.

`recover_interrupted` fails the interrupted jobs and returns the Queued ones: nothing
ever ran them, so an engine enqueues them again and a read-only one leaves them Queued
for the next engine.
"""

from __future__ import annotations

from collections.abc import Callable

from console.jobs.model import INTERRUPTED_KIND, Job, JobStatus
from console.store import Store

INTERRUPTED = "engine stopped while the job was running"


def recover_interrupted(store: Store, keep: Callable[[str], bool] | None = None) -> list[Job]:
    """Fail every job a dead engine left Starting, Running or Stopping (durably);
    return the Queued jobs, oldest first, for an engine to start again. Jobs whose id
    `keep` accepts are left as they are (their runs went on on worker groups)."""
    queued = []
    for job in sorted(store.unfinished_jobs(), key=lambda j: j.id):
        if keep is not None and job.status is not JobStatus.QUEUED and keep(job.id):
            continue
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
