"""Retention: old finished jobs and their streams go, recent and running ones stay."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from console.jobs.model import JobStatus, StreamRecord
from console.store import JobNotFound, Store
from tests.store.helpers import compact_at_every_close, finish, make_job

DAY = 86400


def test_retention_removes_old_jobs_segments_and_streams(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compact_at_every_close(monkeypatch)
    now = time.time()
    store = Store(tmp_path, segment_jobs=4)
    old = [finish(make_job(created=now - 40 * DAY + i)) for i in range(10)]
    still_running = make_job(created=now - 35 * DAY)
    recent = [make_job(created=now - 2 * DAY + i) for i in range(5)]
    store.add_jobs([*old, still_running, *recent])
    for job in [*old, still_running, recent[0]]:
        store.append_streams(job.id, [StreamRecord(job.created, "web01", "output", "x")])
        store.sync_streams(job.id)
    store.close()  # segment files are written when the journal is compacted
    store = Store(tmp_path, segment_jobs=4)
    segments_before = len(list((tmp_path / "jobs").glob("seg-*.json")))

    assert store.apply_retention(now) == 10
    store.close()

    store = Store(tmp_path)
    for job in old:
        with pytest.raises(JobNotFound):
            store.get_job(job.id)
    assert {j.id for j in store.list_jobs()} == {still_running.id} | {j.id for j in recent}
    assert [j.id for j in store.unfinished_jobs()] == [still_running.id] + [j.id for j in recent]
    streams = {p.stem for p in (tmp_path / "streams").iterdir()}
    assert streams == {still_running.id, recent[0].id}
    segments_after = len(list((tmp_path / "jobs").glob("seg-*.json")))
    assert segments_after <= segments_before - 2  # two all-old segments deleted whole
    assert store.apply_retention(now) == 0


def test_retention_days_are_configurable(tmp_path: Path) -> None:
    now = time.time()
    store = Store(tmp_path, retention_days=7)
    week_old = finish(make_job(created=now - 8 * DAY))
    store.add_jobs([week_old, finish(make_job(created=now - 6 * DAY))])
    assert store.apply_retention(now, days=30) == 0
    assert store.apply_retention(now) == 1
    assert len(store.list_jobs(status=JobStatus.COMPLETED)) == 1
