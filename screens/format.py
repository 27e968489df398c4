"""How values read on screen: times, durations, and which colour a status gets.

Plain ASCII only, so the console renders with any font over any SSH link.
"""

from __future__ import annotations

import time

from console.jobs.model import Job, JobStatus

STATUS_CLASS = {
    JobStatus.COMPLETED.value: "status--ok",
    JobStatus.FAILED.value: "status--failed",
    JobStatus.STOPPED.value: "status--failed",
    JobStatus.RUNNING.value: "status--running",
    JobStatus.STARTING.value: "status--running",
    JobStatus.STOPPING.value: "status--running",
    JobStatus.QUEUED.value: "status--queued",
    "up": "status--ok",
    "down": "status--failed",
    "?": "status--muted",
    "-": "status--muted",
}


def status_class(_column: int, text: str) -> str | None:
    return STATUS_CLASS.get(text.strip())


def clock(stamp: float | None) -> str:
    """Local date and time to the second; '-' when not yet."""
    if stamp is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def short_clock(stamp: float | None) -> str:
    """Month, day and time: what fits a list column at 80 columns."""
    if stamp is None:
        return "-"
    return time.strftime("%m-%d %H:%M:%S", time.localtime(stamp))


def job_duration(job: Job) -> str:
    if job.started is None:
        return "-"
    return duration(job.duration)


def job_row(job: Job) -> tuple[str, ...]:
    """The Jobs list's cells for one job."""
    return (
        job.status.value,
        job.runbook,
        job.pattern,
        job.started_by,
        short_clock(job.started or job.created),
        job_duration(job),
        _host_summary(job),
    )


def _host_summary(job: Job) -> str:
    done = sum(1 for r in job.host_runs.values() if r.status.finished)
    failed = len(job.failed_hosts())
    text = f"{done}/{len(job.hosts)}"
    return f"{text} {failed} fail" if failed else text
