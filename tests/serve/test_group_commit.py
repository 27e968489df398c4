"""GroupCommit: a burst of new jobs shares writes, and every caller returns only once
its own job is durable (a fresh Store, as after a crash, finds it)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from console.jobs import Job, new_job_id
from console.store import DuplicateJob, Store
from console.store.commit import GroupCommit


def job() -> Job:
    return Job(id=new_job_id(), runbook="noop", pattern="localhost", hosts=["localhost"],
               parameters={})


class CountingStore(Store):
    """The real store, counting its bulk writes."""

    writes = 0

    def add_jobs(self, jobs: list[Job]) -> None:  # type: ignore[override]
        self.writes += 1
        super().add_jobs(jobs)


async def test_a_burst_of_jobs_shares_writes_and_each_is_durable(tmp_path: Path) -> None:
    store = CountingStore(tmp_path)
    intake = GroupCommit(store)
    jobs = [job() for _ in range(60)]
    await asyncio.gather(*(intake.add(j) for j in jobs))
    assert store.writes < 10, f"{store.writes} writes for 60 jobs submitted at once"
    store.close()
    reopened = Store(tmp_path)
    assert {j.id for j in reopened.list_jobs(limit=100)} == {j.id for j in jobs}


async def test_one_bad_job_fails_alone(tmp_path: Path) -> None:
    store = Store(tmp_path)
    intake = GroupCommit(store)
    first = job()
    await intake.add(first)
    good = [job() for _ in range(5)]
    results = await asyncio.gather(*(intake.add(j) for j in [*good, first]),
                                   return_exceptions=True)
    assert [r for r in results if r is not None] and isinstance(results[-1], DuplicateJob)
    assert results[:-1] == [None] * 5
    assert {j.id for j in good} <= {j.id for j in store.list_jobs(limit=100)}
    with pytest.raises(DuplicateJob):
        await intake.add(first)
