"""Writes to a store in a loop, printing each write after its call returned.

Run by test_crash.py as a subprocess that is killed with SIGKILL at random moments;
every line printed here is a promise the store must keep after the kill.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from console.jobs.model import Job, JobStatus, StreamRecord, new_job_id
from console.store import Store


def main(data_dir: Path) -> None:
    store = Store(data_dir, segment_jobs=25)
    table = store.table("decisions", cap=200)
    print("ready", flush=True)
    while True:
        job = Job(
            id=new_job_id(),
            runbook="patch.sh",
            pattern="web",
            hosts=["web01"],
            parameters={"blob": "x" * 300},
        )
        store.add_job(job)
        print(f"status {job.id} Queued", flush=True)
        for status in (JobStatus.STARTING, JobStatus.RUNNING):
            job.transition(status)
            store.save_job(job)
            print(f"status {job.id} {status.value}", flush=True)
        lines = [StreamRecord(time.time(), "web01", "output", f"line {i}") for i in range(3)]
        store.append_streams(job.id, lines)
        store.sync_streams(job.id)
        print(f"streams {job.id} 3", flush=True)
        job.transition(JobStatus.COMPLETED)
        store.save_job(job)
        print(f"status {job.id} Completed", flush=True)
        table.upsert(job.id, {"fired": True})
        print(f"row {job.id}", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
