"""Shared printing for CLI commands: times, job tables, live stream lines, JSON."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

from console.jobs import Job, StreamRecord

_MARKS = {
    "output": "|",
    "error": "!",
    "warning": "W",
    "verbose": "V",
    "progress": "P",
    "debug": "D",
}


def iso(stamp: float | None) -> str | None:
    """Machine-readable UTC time for --json output."""
    if stamp is None:
        return None
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="milliseconds")


def local_time(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def job_summary(job: Job) -> dict[str, Any]:
    """The `jobs list --json` object."""
    return {
        "id": job.id,
        "runbook": job.runbook,
        "pattern": job.pattern,
        "hosts": list(job.hosts),
        "status": job.status.value,
        "trigger": job.trigger.value,
        "created": iso(job.created),
        "started": iso(job.started),
        "ended": iso(job.ended),
    }


def job_detail(job: Job, records: list[StreamRecord]) -> dict[str, Any]:
    """The `jobs show --json` (and `run --json`) object."""
    return {
        **job_summary(job),
        "parameters": job.parameters,
        "trigger_ref": job.trigger_ref,
        "reason": job.reason,
        "host_runs": [
            {"host": r.host, "status": r.status.value, "exit_code": r.exit_code, "error": r.error}
            for r in job.host_runs.values()
        ],
        "streams": [
            {"time": iso(r.time), "host": r.host, "stream": r.stream.lower(), "text": r.text}
            for r in records
        ],
    }


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def stream_line(record: StreamRecord, width: int) -> str:
    mark = _MARKS.get(record.stream, "?")
    return f"{record.host:<{width}} {mark} {record.text}"


def print_job_table(jobs: list[Job]) -> None:
    print(
        f"{'ID':<20} {'STATUS':<10} {'RUNBOOK':<22} {'PATTERN':<18} {'TRIGGER':<9} "
        f"{'STARTED':<19} DURATION"
    )
    for job in jobs:
        print(
            f"{job.id:<20} {job.status.value:<10} {job.runbook[:22]:<22} "
            f"{job.pattern[:18]:<18} {job.trigger.value:<9} {local_time(job.started):<19} "
            f"{duration(job.duration)}"
        )


def print_host_runs(job: Job) -> None:
    width = max((len(h) for h in job.hosts), default=4)
    for run in job.host_runs.values():
        exit_code = "-" if run.exit_code is None else str(run.exit_code)
        print(
            f"  {run.host:<{width}}  {run.status.value:<10} exit {exit_code:<4} {run.error or ''}"
        )
