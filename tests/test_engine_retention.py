"""A long-lived engine applies retention (Azure keeps 30 days) without being asked."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from console.engine.core import Engine
from console.engine.options import EngineOptions
from console.jobs.model import Job, JobStatus, new_job_id
from console.settings import Settings
from console.store import Store

DAY = 86400.0


def _finished_job(created: float) -> Job:
    job = Job(
        id=new_job_id(now=created),
        runbook="disk-usage",
        pattern="localhost",
        hosts=["localhost"],
        created=created,
    )
    job.transition(JobStatus.STARTING, now=created)
    job.transition(JobStatus.RUNNING, now=created)
    job.transition(JobStatus.COMPLETED, now=created + 1)
    return job


async def test_serving_engine_removes_jobs_older_than_retention(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n")
    settings = Settings(
        inventory=inventory, data_dir=tmp_path / "data", runbooks=tmp_path / "runbooks"
    )
    now = time.time()
    old, recent = _finished_job(now - 45 * DAY), _finished_job(now - 2 * DAY)
    store = Store(settings.data_dir)
    store.add_jobs([old, recent])
    store.close()

    engine = Engine(settings, EngineOptions(triggers=True, listen="127.0.0.1:0"))
    await engine.start()
    try:
        for _ in range(100):
            ids = [job.id for job in await engine.jobs(limit=10)]
            if old.id not in ids:
                break
            await asyncio.sleep(0.05)
    finally:
        await engine.close()
    assert ids == [recent.id]
