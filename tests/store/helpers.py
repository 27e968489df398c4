"""Small builders shared by the store tests."""

from __future__ import annotations

from console.jobs.model import Job, JobStatus, Trigger, new_job_id

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
