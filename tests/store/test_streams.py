"""Stream files: append, filter, torn last line, damaged lines, speed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from console.jobs.model import StreamRecord
from console.store import Store
from tests.store.helpers import make_job


def records(host: str, count: int, stream: str = "output") -> list[StreamRecord]:
    return [
        StreamRecord(time.time(), host, stream, f'{host} line {i} ✓ "q"\n') for i in range(count)
    ]


def test_records_round_trip_in_order_with_filters(tmp_path: Path) -> None:
    store = Store(tmp_path)
    job = make_job()
    first, second = records("web01", 3), records("web02", 2, "error")
    store.append_streams(job.id, first)
    store.append_streams(job.id, second)
    store.sync_streams(job.id)
    store.close()

    store = Store(tmp_path)
    assert store.read_streams(job.id) == first + second
    assert store.read_streams(job.id, host="web02") == second
    assert store.read_streams(job.id, stream="error") == second
    assert store.read_streams(job.id, host="web01", stream="error") == []
    assert store.read_streams(make_job().id) == []


def test_records_are_readable_before_sync(tmp_path: Path) -> None:
    store = Store(tmp_path)
    job = make_job()
    store.append_streams(job.id, records("web01", 2))
    assert len(Store(tmp_path).read_streams(job.id)) == 2  # flushed to the file


def test_torn_last_line_is_ignored_and_cut_before_the_next_append(tmp_path: Path) -> None:
    store = Store(tmp_path)
    job = make_job()
    store.append_streams(job.id, records("web01", 2))
    store.close()
    path = tmp_path / "streams" / f"{job.id}.jsonl"
    with open(path, "ab") as handle:  # what a crash mid-write leaves
        handle.write(b'{"time":1.0,"host":"web01","stre')

    store = Store(tmp_path)
    assert len(store.read_streams(job.id)) == 2
    more = records("web02", 1)
    store.append_streams(job.id, more)
    assert store.read_streams(job.id)[-1] == more[0]
    assert len(store.read_streams(job.id)) == 3


def test_damage_in_the_middle_costs_that_line_only_and_is_kept_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(tmp_path)
    job = make_job()
    path = tmp_path / "streams" / f"{job.id}.jsonl"
    before, after = records("web01", 2), records("web02", 2)
    store.append_streams(job.id, before)
    store.sync_streams(job.id)
    with open(path, "ab") as handle:
        handle.write(b'{"time":1.0,"host":"web01","stream":"out\xffput","text":"x"}\n')
    store.append_streams(job.id, after)  # the append handle stays open

    assert store.read_streams(job.id) == before + after
    damaged = path.with_name(path.name + ".damaged").read_bytes()
    assert damaged.startswith(f"# {path.name} line 3 (byte ".encode())
    assert b'"stream":"out\xffput"' in damaged
    assert len([r for r in caplog.records if r.levelname == "ERROR"]) == 1
    later = records("web03", 1)
    store.append_streams(job.id, later)  # into the repaired file, not the old one
    assert store.read_streams(job.id, host="web03") == later
    store.close()
    assert Store(tmp_path).read_streams(job.id) == before + after + later
    assert len([r for r in caplog.records if r.levelname == "ERROR"]) == 1  # logged once


def test_filtering_a_10000_line_job_is_fast(tmp_path: Path) -> None:
    store = Store(tmp_path)
    job = make_job(hosts=tuple(f"web{i:02d}" for i in range(10)))
    for i in range(10):
        store.append_streams(job.id, records(f"web{i:02d}", 1000, "output"))
    store.append_streams(job.id, records("web03", 5, "error"))
    store.sync_streams(job.id)

    began = time.process_time()  # CPU time: other load on the machine does not count
    one_host = store.read_streams(job.id, host="web03")
    errors = store.read_streams(job.id, host="web03", stream="error")
    elapsed = time.process_time() - began
    assert len(one_host) == 1005 and len(errors) == 5
    assert elapsed < 0.2, f"two filtered reads of 10,005 lines took {elapsed:.3f}s"
