"""Small builders shared by the store tests."""

from __future__ import annotations

import pytest

from console.jobs.model import Job, JobStatus, Trigger, new_job_id
from console.store import jobs as store_jobs

LIFECYCLE = (JobStatus.STARTING, JobStatus.RUNNING, JobStatus.COMPLETED)


def make_job(
    runbook: str = "patch.sh",
    *,
    hosts: tuple[str, ...] = ("web01", "web02"),
    created: float | None = None,
    trigger: Trigger = Trigger.MANUAL,
    trigger_ref: str | None = None,
) -> Job:
    job_id = new_job_id(created)
    job = Job(
        id=job_id,
        runbook=runbook,
        pattern="web",
        hosts=list(hosts),
        parameters={"reboot": False, "tags": ["a", "b"]},
        trigger=trigger,
        trigger_ref=trigger_ref,
    )
    if created is not None:
        job.created = created
    return job


def finish(job: Job, status: JobStatus = JobStatus.COMPLETED) -> Job:
    """Walk a queued job through Starting and Running to `status`."""
    job.transition(JobStatus.STARTING)
    job.transition(JobStatus.RUNNING)
    job.transition(status)
    return job


def compact_at_every_close(monkeypatch: pytest.MonkeyPatch) -> None:
    """For tests that look at the segment files after `close`: fold the journal into
    them at every open and close, however small it is (normally only once it is due)."""
    monkeypatch.setattr(store_jobs, "REST_JOURNAL_BYTES", 0)
