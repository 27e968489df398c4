"""Job records: round trips, paging and filters, unfinished jobs, errors."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest

from console.jobs.model import Job, JobStatus, Trigger
from console.store import DuplicateJob, JobNotFound, Store
from console.store import jobs as store_jobs
from tests.store.helpers import compact_at_every_close, finish, make_job


def test_job_round_trips_through_a_reopened_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "data")
    job = make_job(trigger=Trigger.SCHEDULE, trigger_ref="nightly")
    store.add_job(job)
    job.transition(JobStatus.STARTING)
    job.host_runs["web01"].transition(JobStatus.STARTING)
    job.host_runs["web01"].transition(JobStatus.RUNNING)
    job.host_runs["web01"].exit_code = 0
    store.save_job(job)
    store.close()

    again = Store(tmp_path / "data").get_job(job.id)
    assert again.to_dict() == job.to_dict()
    assert again.host_runs["web01"].status is JobStatus.RUNNING


def test_data_dir_is_private(tmp_path: Path) -> None:
    Store(tmp_path / "new" / "data").close()
    assert (tmp_path / "new" / "data").stat().st_mode & 0o777 == 0o700


def test_a_change_to_a_job_after_saving_does_not_leak_into_the_store(tmp_path: Path) -> None:
    store = Store(tmp_path)
    job = make_job()
    store.add_job(job)
    job.parameters["tags"].append("sneaky")
    assert store.get_job(job.id).parameters["tags"] == ["a", "b"]


def test_unknown_id_names_close_ids(tmp_path: Path) -> None:
    store = Store(tmp_path)
    job = make_job()
    store.add_job(job)
    typo = job.id[:-1] + ("0" if job.id[-1] != "0" else "1")
    with pytest.raises(JobNotFound) as caught:
        store.get_job(typo)
    assert typo in str(caught.value) and job.id in str(caught.value)
    with pytest.raises(JobNotFound, match="not a job id"):
        store.get_job("../../etc/passwd")
    with pytest.raises(JobNotFound):
        store.save_job(make_job())
    with pytest.raises(DuplicateJob):
        store.add_job(job)


def test_list_pages_newest_first_across_segments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compact_at_every_close(monkeypatch)
    store = Store(tmp_path, segment_jobs=7)
    jobs = [make_job() for _ in range(50)]
    for job in jobs:
        store.add_job(job)
    newest_first = [j.id for j in reversed(jobs)]

    pages, before = [], None
    while page := store.list_jobs(limit=8, before_id=before):
        pages.append([j.id for j in page])
        before = page[-1].id
    assert [i for page in pages for i in page] == newest_first
    assert all(len(page) == 8 for page in pages[:-1])
    store.close()  # segment files are written when the journal is compacted
    assert len(list((tmp_path / "jobs").glob("seg-*.json"))) == 8  # 50 jobs / 7 a file


def test_list_filters_by_status_runbook_and_trigger(tmp_path: Path) -> None:
    store = Store(tmp_path, segment_jobs=5)
    old_rare = make_job("rare.sh", trigger=Trigger.WEBHOOK, trigger_ref="deploy-hook")
    store.add_job(old_rare)
    failed = []
    for i in range(40):
        job = make_job("patch.sh" if i % 2 else "backup.sh")
        store.add_job(job)
        if i % 10 == 3:
            store.save_job(finish(job, JobStatus.FAILED))
            failed.append(job.id)

    assert [j.id for j in store.list_jobs(runbook="rare.sh")] == [old_rare.id]
    assert [j.id for j in store.list_jobs(trigger_ref="deploy-hook")] == [old_rare.id]
    assert [j.id for j in store.list_jobs(trigger=Trigger.WEBHOOK)] == [old_rare.id]
    assert [j.id for j in store.list_jobs(status=JobStatus.FAILED)] == failed[::-1]
    both = store.list_jobs(status={JobStatus.FAILED, JobStatus.QUEUED}, runbook="patch.sh")
    assert len(both) == 20 and all(j.runbook == "patch.sh" for j in both)
    assert store.list_jobs(runbook="nope.sh") == []


def test_unfinished_jobs_survive_a_restart(tmp_path: Path) -> None:
    store = Store(tmp_path, segment_jobs=3)
    jobs = [make_job() for _ in range(10)]
    for job in jobs:
        store.add_job(job)
    for job in jobs[::2]:
        store.save_job(finish(job))
    jobs[1].transition(JobStatus.STARTING)
    store.save_job(jobs[1])
    store.close()

    reopened = Store(tmp_path)
    unfinished = reopened.unfinished_jobs()
    assert [j.id for j in unfinished] == [j.id for j in jobs[1::2]]
    assert unfinished[0].status is JobStatus.STARTING


def test_first_page_and_old_lookup_stay_fast_with_a_big_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path)
    start = time.time() - 86400
    history = [make_job(f"rb{i % 20}.sh", created=start + i * 0.01) for i in range(12_000)]
    for job in history[::500]:  # one job per segment is stored while running...
        job.transition(JobStatus.STARTING)
        job.transition(JobStatus.RUNNING)
    for job in history:
        if job.status is JobStatus.QUEUED:
            finish(job)
    stuck = history[1000]  # (an old job still running, e.g. a long patch run)
    store.add_jobs(history)
    for job in history[::500]:
        if job is not stuck:  # ...and finishes later, as in a real history
            job.transition(JobStatus.COMPLETED)
            store.save_job(job)
    store.close()

    # What is read is counted in segment files opened, not timed: CPU time on a shared
    # machine is too noisy for a unit test (bench/store has the timings).
    opened: list[str] = []

    class CountingDB(store_jobs.AtomicDB):
        def __init__(self, path: Path, *, repair: bool = True) -> None:
            opened.append(Path(path).name)
            super().__init__(path, repair=repair)

    def segments_read(since: int) -> list[str]:
        return [name for name in opened[since:] if name.startswith("seg-")]

    monkeypatch.setattr(store_jobs, "AtomicDB", CountingDB)
    assert len(list((tmp_path / "jobs").glob("seg-*.json"))) == 24
    store = Store(tmp_path)
    at_open = len(opened)
    page = store.list_jobs(limit=200)
    store.get_job(history[5].id)
    job = make_job()
    store.add_job(job)
    store.save_job(finish(job))
    assert [j.id for j in page] == [j.id for j in history[::-1][:200]]
    # the newest segment (the first page, the new job) and the oldest (the old lookup)
    assert len(segments_read(at_open)) <= 3, segments_read(at_open)
    store.close()

    # Every segment once held a Running job, yet only the stuck job's one is read.
    store = Store(tmp_path)
    at_open = len(opened)
    running = store.list_jobs(status=JobStatus.RUNNING)
    assert [j.id for j in running] == [stuck.id]
    assert len(segments_read(at_open)) <= 1, segments_read(at_open)
    store.close()


def test_ids_outside_the_newest_segment_still_land_in_order(tmp_path: Path) -> None:
    store = Store(tmp_path, segment_jobs=2)
    now = time.time()
    later = [make_job(created=now + i) for i in range(4)]
    store.add_jobs(later)
    earlier = make_job(created=now - 100)  # older than every segment
    between = make_job(created=now + 1.5)  # inside a full older segment
    store.add_job(earlier)
    store.add_job(between)
    ids = [j.id for j in store.list_jobs()]
    assert ids == sorted([j.id for j in [*later, earlier, between]], reverse=True)


async def test_the_event_loop_and_a_worker_thread_can_share_a_store(tmp_path: Path) -> None:
    store = Store(tmp_path, segment_jobs=10)
    in_thread = [make_job("thread.sh") for _ in range(60)]
    on_loop = [make_job("loop.sh") for _ in range(60)]

    def worker() -> None:
        for job in in_thread:
            store.add_job(job)
            store.save_job(finish(job))

    pending = asyncio.create_task(asyncio.to_thread(worker))
    for job in on_loop:
        store.add_job(job)
        store.table("decisions", cap=20).upsert(job.id, {"n": 1})
        await asyncio.sleep(0)
    await pending

    assert len(store.list_jobs(runbook="thread.sh", status=JobStatus.COMPLETED)) == 60
    assert len(store.list_jobs(runbook="loop.sh")) == 60
    assert len(store.unfinished_jobs()) == 60
    assert len(store.table("decisions").all()) == 20
    assert store.list_jobs(limit=0) == []


def test_damaged_index_files_are_rebuilt_from_the_segments(tmp_path: Path) -> None:
    store = Store(tmp_path, segment_jobs=4)
    jobs = [make_job("a.sh" if i % 3 else "b.sh") for i in range(10)]
    store.add_jobs(jobs)
    store.save_job(finish(jobs[0]))
    store.close()
    (tmp_path / "jobs" / "summaries.json").write_text('{"segments": {"x": ')
    (tmp_path / "jobs" / "active.json").write_text("")

    store = Store(tmp_path)
    assert [j.id for j in store.list_jobs(runbook="b.sh")] == [j.id for j in jobs[::3]][::-1]
    assert [j.id for j in store.unfinished_jobs()] == [j.id for j in jobs[1:]]
    assert list((tmp_path / "jobs").glob("summaries.json.damaged-*"))


def crashed_copy(store_dir: Path, to: Path) -> Path:
    """The data directory as a kill -9 would leave it: copied while the store is open,
    so its journal still holds every change since the last compaction."""
    shutil.copytree(store_dir, to)
    return to


def test_a_damaged_journal_line_costs_that_line_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(tmp_path / "live")
    jobs = [make_job() for _ in range(7)]
    for job in jobs:
        store.add_job(job)
    data = crashed_copy(tmp_path / "live", tmp_path / "crashed")
    store.close()
    journal = data / "jobs" / "journal.jsonl"
    lines = journal.read_bytes().split(b"\n")
    at = lines[3].index(jobs[3].id.encode()) + 5  # one byte inside the 4th job's id
    lines[3] = (
        lines[3][:at] + (b"0" if lines[3][at : at + 1] != b"0" else b"1") + lines[3][at + 1 :]
    )
    journal.write_bytes(b"\n".join(lines) + b'1234abcd ["torn')  # and a torn tail

    store = Store(data)
    assert [j.id for j in store.list_jobs()] == [j.id for j in jobs if j is not jobs[3]][::-1]
    store.close()
    assert [j.id for j in Store(data).list_jobs()] == [j.id for j in jobs if j is not jobs[3]][::-1]
    damaged = (data / "jobs" / "journal.jsonl.damaged").read_bytes().split(b"\n")
    assert damaged[0].startswith(b"# journal.jsonl line 4 (byte ") and b"checksum" in damaged[0]
    assert damaged[1:] == [lines[3], b""]  # the torn tail is not damage: not kept
    assert len([r for r in caplog.records if r.levelname == "ERROR"]) == 1


def test_a_host_run_error_keeps_its_kind_and_message_apart(tmp_path: Path) -> None:
    store = Store(tmp_path)
    job = finish(make_job(), JobStatus.FAILED)
    job.host_runs["web01"].transition(JobStatus.FAILED)
    job.host_runs["web01"].fail_with("unreachable", "connection refused: port 22")
    store.add_job(job)
    again = Store(tmp_path).get_job(job.id).host_runs["web01"]
    assert (again.error_kind, again.error) == ("unreachable", "connection refused: port 22")
    assert again.error_text == "unreachable: connection refused: port 22"


def test_a_job_stored_with_one_error_string_still_reads_as_kind_and_message() -> None:
    old = make_job().to_dict()
    old["host_runs"][0] |= {"status": "Failed", "error": "timed_out: no answer in 3 s"}
    old["host_runs"][1] |= {"status": "Failed", "error": "odd: not a kind we know"}
    for run in old["host_runs"]:
        del run["error_kind"]
    runs = Job.from_dict(old).host_runs
    assert (runs["web01"].error_kind, runs["web01"].error) == ("timed_out", "no answer in 3 s")
    assert (runs["web02"].error_kind, runs["web02"].error) == (None, "odd: not a kind we know")
    assert runs["web02"].error_text == "odd: not a kind we know"
