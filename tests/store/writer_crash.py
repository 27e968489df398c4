"""Writes jobs through a StoreWriter from 4 concurrent tasks, printing each durable
write after its await returned (a promise the store must keep after a SIGKILL).

Run by test_crash.py as a subprocess killed at random moments."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from console.jobs.model import Job, JobStatus, new_job_id
from console.store import Store
from console.store.writer import StoreWriter


async def lifecycles(writer: StoreWriter) -> None:
    while True:
        job = Job(
            id=new_job_id(),
            runbook="patch.sh",
            pattern="web",
            hosts=["web01"],
            parameters={"blob": "x" * 300},
        )
        await writer.add(job)
        print(f"status {job.id} Queued", flush=True)
        job.transition(JobStatus.STARTING)
        await writer.save(job)
        print(f"status {job.id} Starting", flush=True)
        job.transition(JobStatus.RUNNING)
        writer.save_later(job)
        await asyncio.sleep(0.005)
        job.transition(JobStatus.COMPLETED)
        writer.save_soon(job)


async def main(data_dir: Path) -> None:
    writer = StoreWriter(Store(data_dir, segment_jobs=25))
    print("ready", flush=True)
    await asyncio.gather(*(lifecycles(writer) for _ in range(4)))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
