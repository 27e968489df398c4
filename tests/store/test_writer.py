"""StoreWriter and the job journal: bursts share fsyncs, each caller returns only once
its own change is durable (a copy of the data directory taken then, as a crash would
leave it, holds it), and a job write costs the same whatever the size of its segment."""

from __future__ import annotations

import asyncio
import itertools
import shutil
from pathlib import Path

import pytest

from console.engine.core import Engine
from console.jobs.model import Job, JobStatus, new_job_id
from console.settings import Settings
from console.store import DuplicateJob, Store
from console.store.jobs import JOURNAL
from console.store.writer import LATER_DELAY, StoreWriter
from tests.store.helpers import finish, make_job


def job() -> Job:
    return Job(
        id=new_job_id(), runbook="noop", pattern="localhost", hosts=["localhost"], parameters={}
    )


class CountingStore(Store):
    """The real store, counting its journal syncs."""

    syncs = 0

    def sync_jobs(self) -> None:
        self.syncs += 1
        super().sync_jobs()


def crashed_copy(data_dir: Path, to: Path) -> Store:
    """The data directory as a crash now would leave it (no close, no compaction)."""
    shutil.copytree(data_dir, to)
    return Store(to)


async def test_a_burst_of_jobs_shares_syncs_and_each_is_durable(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "data")
    writer = StoreWriter(store)
    jobs = [job() for _ in range(60)]
    await asyncio.gather(*(writer.add(j) for j in jobs))
    assert store.syncs < 10, f"{store.syncs} syncs for 60 jobs submitted at once"
    copy = crashed_copy(tmp_path / "data", tmp_path / "copy")
    assert {j.id for j in copy.list_jobs(limit=100)} == {j.id for j in jobs}


async def test_one_bad_job_fails_alone(tmp_path: Path) -> None:
    store = Store(tmp_path)
    writer = StoreWriter(store)
    first = job()
    await writer.add(first)
    good = [job() for _ in range(5)]
    results = await asyncio.gather(*(writer.add(j) for j in [*good, first]), return_exceptions=True)
    assert isinstance(results[-1], DuplicateJob) and results[:-1] == [None] * 5
    assert {j.id for j in good} <= {j.id for j in store.list_jobs(limit=100)}
    with pytest.raises(DuplicateJob):
        await writer.add(first)


async def test_soon_and_later_saves_are_read_at_once_or_soon_and_flushed(tmp_path: Path) -> None:
    store = Store(tmp_path / "data")
    writer = StoreWriter(store)
    ended, running = job(), job()
    await writer.add(ended)
    await writer.add(running)
    writer.save_soon(finish(ended))
    assert store.get_job(ended.id).status is JobStatus.COMPLETED  # staged: readable now
    running.transition(JobStatus.STARTING)
    await writer.save(running)
    running.transition(JobStatus.RUNNING)
    writer.save_later(running)
    assert store.get_job(running.id).status is JobStatus.STARTING  # coalesced: not yet
    await asyncio.sleep(LATER_DELAY + 0.2)
    copy = crashed_copy(tmp_path / "data", tmp_path / "copy")
    assert copy.get_job(ended.id).status is JobStatus.COMPLETED
    assert copy.get_job(running.id).status is JobStatus.RUNNING

    running.transition(JobStatus.FAILED)
    writer.save_later(running)
    await writer.close()  # a clean shutdown flushes coalesced changes too
    store.close()
    assert Store(tmp_path / "data").get_job(running.id).status is JobStatus.FAILED


def test_a_job_write_appends_to_the_journal_not_its_segment(tmp_path: Path) -> None:
    store = Store(tmp_path)
    big = [make_job() for _ in range(400)]
    for j in big:
        j.parameters["blob"] = "x" * 1000
    store.add_jobs(big)
    store.close()  # compacts: one 400-job segment of ~450 KB
    store = Store(tmp_path)
    (segment,) = (tmp_path / "jobs").glob("seg-*.json")
    before = segment.stat()
    journal = tmp_path / "jobs" / JOURNAL
    target = big[200]
    target.transition(JobStatus.STARTING)
    store.save_job(target)
    assert segment.stat().st_ino == before.st_ino, "the segment file was rewritten"
    assert journal.stat().st_size < 3000  # one line: this job's document
    assert Store(tmp_path).get_job(target.id).status is JobStatus.STARTING  # as after a crash


def test_a_torn_journal_tail_is_ignored_and_cut_before_the_next_append(tmp_path: Path) -> None:
    store = Store(tmp_path / "data")
    jobs = [make_job() for _ in range(3)]
    store.add_jobs(jobs)
    store.save_job(finish(jobs[0]))
    journal = tmp_path / "data" / "jobs" / JOURNAL
    whole = journal.read_bytes()
    with journal.open("ab") as handle:  # a crash in the middle of the next append
        handle.write(whole.splitlines(keepends=True)[-1][:40])
    again = Store(tmp_path / "data")
    assert again.get_job(jobs[0].id).status is JobStatus.COMPLETED
    assert [j.id for j in again.unfinished_jobs()] == [j.id for j in jobs[1:]]
    assert journal.read_bytes() == whole  # not compacted (small), but the tail is gone
    again.save_job(finish(jobs[1]))  # so this line is whole, not glued onto the tail
    assert [j.id for j in Store(tmp_path / "data").unfinished_jobs()] == [jobs[2].id]
    assert not (journal.parent / f"{JOURNAL}.damaged").exists()


def test_a_short_lived_store_leaves_the_segments_alone_and_replays_alike(
    tmp_path: Path,
) -> None:
    """Open, one job, close (what `exec` does): no compaction at open or close, and
    replaying the same journal at every open gives the same jobs, never duplicates."""
    jobs = [make_job() for _ in range(4)]
    store = Store(tmp_path)
    store.add_job(jobs[0])
    store.close()
    for earlier, job in itertools.pairwise(jobs):
        store = Store(tmp_path)
        store.save_job(finish(store.get_job(earlier.id)))
        store.add_job(job)
        store.close()
    assert (tmp_path / "jobs" / JOURNAL).stat().st_size > 0
    assert not list((tmp_path / "jobs").glob("seg-*.json")), "a segment was written"
    store = Store(tmp_path)
    assert [j.id for j in store.list_jobs()] == [j.id for j in reversed(jobs)]
    assert [j.id for j in store.unfinished_jobs()] == [jobs[-1].id]
    assert all(store.get_job(j.id).status is JobStatus.COMPLETED for j in jobs[:-1])


def test_a_big_journal_is_folded_into_the_segments(tmp_path: Path) -> None:
    store = Store(tmp_path)
    jobs = [make_job() for _ in range(5000)]
    for j in jobs:
        j.parameters["blob"] = "x" * 900  # ~5 MB of journal: past the compaction size
    store.add_jobs(jobs)
    assert (tmp_path / "jobs" / JOURNAL).stat().st_size == 0
    assert len(list((tmp_path / "jobs").glob("seg-*.json"))) >= 5000 // 500
    assert len(Store(tmp_path).list_jobs(limit=10_000)) == 5000


async def test_starting_is_durable_before_the_first_host_command(tmp_path: Path) -> None:
    """The job's own command looks at the journal on disk for its Starting line."""
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n")
    settings = Settings(
        inventory=inventory, data_dir=tmp_path / "data", runbooks=tmp_path / "runbooks"
    )
    journal = settings.data_dir / "jobs" / JOURNAL
    engine = Engine(settings)
    await engine.start()
    try:
        started = await engine.start_command(
            "localhost", f'grep "$OPS_JOB_ID" \'{journal}\' | grep -c \'"status":"Starting"\''
        )
        for _ in range(200):
            done = await engine.job(started.id)
            if done.status.finished:
                break
            await asyncio.sleep(0.05)
        lines = [r.text for r in await engine.streams(started.id)]
    finally:
        await engine.close()
    assert done.status is JobStatus.COMPLETED, (done, lines)
    assert lines == ["1"]
    assert Store(settings.data_dir).get_job(started.id).status is JobStatus.COMPLETED
