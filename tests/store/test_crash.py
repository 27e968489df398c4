"""No crash loses an acknowledged write or leaves a store that does not load.

A writer subprocess loops over job creations, state changes, stream appends and
table rows, printing each after the call returned; it is SIGKILLed at a random
moment, 25 times on the same data directory. After every kill the store must load
and hold everything the writer had reported.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from console.jobs.model import JobStatus
from console.store import Store

WRITER = Path(__file__).with_name("crash_writer.py")
ASYNC_WRITER = Path(__file__).with_name("writer_crash.py")
ORDER = [
    s.value for s in (JobStatus.QUEUED, JobStatus.STARTING, JobStatus.RUNNING, JobStatus.COMPLETED)
]


def run_and_kill(data_dir: Path, rng: random.Random, writer: Path = WRITER) -> list[str]:
    """Start the writer, let it write for a random while, SIGKILL it, return its report."""
    proc = subprocess.Popen(
        [sys.executable, str(writer), str(data_dir)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(rng.uniform(0.0, 0.2))
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    return [line for line in out.split("\n")[:-1] if line]  # only complete lines count


def test_kill_9_never_loses_an_acknowledged_write(tmp_path: Path) -> None:
    rng = random.Random(20240607)
    data_dir = tmp_path / "data"
    promised_status: dict[str, str] = {}
    promised_streams: set[str] = set()
    promised_rows: set[str] = set()
    for _ in range(25):
        for line in run_and_kill(data_dir, rng):
            kind, job_id, *rest = line.split()
            if kind == "status":
                promised_status[job_id] = rest[0]
            elif kind == "streams":
                promised_streams.add(job_id)
            else:
                promised_rows.add(job_id)

        store = Store(data_dir)  # must load, whatever the moment of the kill
        for job_id, status in promised_status.items():
            stored = store.get_job(job_id).status.value
            assert ORDER.index(stored) >= ORDER.index(status), (job_id, stored, status)
        for job_id in promised_streams:
            assert len(store.read_streams(job_id)) == 3
        # cap=200 keeps the newest rows: every promised row at least as new as the
        # oldest kept one is there (acknowledged-but-unprinted rows also count)
        kept = set(store.table("decisions").all())
        assert len(kept) == min(200, len(kept | promised_rows))
        assert {r for r in promised_rows if r >= min(kept, default="")} <= kept
        unfinished = {j.id for j in store.list_jobs(limit=10**6) if not j.status.finished}
        assert {j.id for j in store.unfinished_jobs()} == unfinished
        store.close()
        assert not list(data_dir.rglob(".*.tmp-*"))  # debris cleaned on open

    assert len(promised_status) > 25, "the writer should have got through many jobs"


def test_kill_9_of_the_batching_writer_keeps_every_awaited_write(tmp_path: Path) -> None:
    """Adds and Starting saves that StoreWriter acknowledged survive; the store loads,
    and its active index still lists every unfinished job (recovery relies on it)."""
    rng = random.Random(5)
    data_dir = tmp_path / "data"
    promised: dict[str, str] = {}
    for _ in range(12):
        for line in run_and_kill(data_dir, rng, ASYNC_WRITER):
            _, job_id, status = line.split()
            promised[job_id] = status
        store = Store(data_dir)
        for job_id, status in promised.items():
            stored = store.get_job(job_id).status.value
            assert ORDER.index(stored) >= ORDER.index(status), (job_id, stored, status)
        unfinished = {j.id for j in store.list_jobs(limit=10**6) if not j.status.finished}
        assert {j.id for j in store.unfinished_jobs()} == unfinished
        store.close()
        assert not list(data_dir.rglob(".*.tmp-*"))
    assert len(promised) > 40, "the writer should have got through many jobs"
