"""The engine's persistence: jobs, job streams and small tables in one data directory.

Layout of a data directory::

    engine.lock              the DataDirLock (console.store.lock): one engine per dir
    jobs/seg-<id>.json       job records, TinyDB, one file per ~500 jobs (see .jobs)
    jobs/journal.jsonl       job changes since the segments were last rewritten
    jobs/summaries.json      per-segment values, so filtered lists skip segments
    jobs/active.json         ids of unfinished jobs, so start-up reads no history
    streams/<job id>.jsonl   append-only stream records of one job (see .streams)
    tables/<name>.json       small string-keyed tables (see .tables)

Every TinyDB file is replaced atomically (temp file, fsync, rename, fsync of the
directory: see .atomic), so no crash leaves a torn or empty file. A job change is one
line appended to the job journal (see .journal), and one fdatasync makes any number of
them durable; the segments are rewritten from memory when the journal is compacted.
So a job write costs the same whatever the size of its segment or of the history.
A damaged record (disk damage, a hand edit) costs that record alone: it is skipped,
kept in `<file>.damaged` and logged once (see .damage). Crash recovery of the jobs a
dead engine left running is in .recovery, applied by whoever next holds the lock.

The `Store` API (all calls synchronous; one asyncio loop plus worker threads may share
a Store; a state lock serialises calls, and journal I/O runs outside it; only one
process may open a data directory: the engine, read-only or not, holds
`DataDirLock` first):

- `Store(data_dir, retention_days=30)`: opens (creating, mode 0700) the directory,
  replaying the journal a crash left behind.
- `add_job(job)`, `add_jobs(jobs)`, `save_job(job)`: create (all or none) / update;
  durable on return (one append + fdatasync, ~1 ms of disk wait): for start-up,
  tools and tests. The engine's loop uses `console.store.writer.StoreWriter`, which
  batches these off the loop.
- `stage_add(job)`, `stage_save(job) -> int`: change memory now (every read sees it)
  and queue the journal line; `sync_jobs()` (in a thread) makes everything staged
  durable; durable once `durable_seq` >= the number returned. A failed disk write
  raises `StoreWriteFailed`, after which the store takes no more writes.
- `get_job(job_id) -> Job`: raises `JobNotFound` naming close ids.
- `list_jobs(*, status=None, runbook=None, trigger=None, trigger_ref=None, limit=200,
  before_id=None) -> list[Job]`: newest first; `status` is one JobStatus or a
  collection of them; page with `before_id=<last id of the previous page>`. A first
  page reads one or two segments: fine on the loop. Segments that cannot match
  are skipped (per-segment summaries; for Queued/Starting/Running/Stopping, the
  active index), but a filter matching a few jobs spread over all history reads every
  segment (~70 ms CPU per 12,000 jobs): run such queries in `asyncio.to_thread`.
- `unfinished_jobs() -> list[Job]`: jobs not finished, oldest first (start-up recovery).
- `append_streams(job_id, records)`: append + flush, no fsync: call from the loop.
- `sync_streams(job_id)`: fsync when the job ends (~1 ms; the fsync runs outside the
  lock, so call it from a thread).
- `read_streams(job_id, host=None, stream=None) -> list[StreamRecord]`: a 10,000-line
  job reads in milliseconds; use `asyncio.to_thread` for very large jobs.
- `apply_retention(now=None, days=None) -> int`: removes finished jobs older than
  `days` (default: the store's `retention_days`, 30 like Azure) with their stream
  files; returns how many jobs went. Run it in `asyncio.to_thread` (e.g. daily); it
  takes the lock one segment at a time so the loop is never held for long.
- `table(name, cap=None) -> Table`: `all()`, `get(key)`, `upsert(key, doc)`,
  `delete(key)`; small writes, fine on the loop. `cap` bounds a log-like table (the
  schedule decision log): the oldest rows beyond it go in the same write.
- `close()`: compacts the journal, syncs and closes everything.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Sequence
from pathlib import Path

from console.jobs.model import Job, JobStatus, StreamRecord, Trigger
from console.store.atomic import StoreCorrupt, remove_debris
from console.store.job_index import JobFilter
from console.store.job_records import DuplicateJob, JobNotFound
from console.store.jobs import JobStore
from console.store.journal import StoreWriteFailed
from console.store.lock import DataDirLock, EngineRunning, ensure_data_dir
from console.store.streams import StreamFiles
from console.store.tables import Table, check_table_name

__all__ = [
    "DataDirLock",
    "DuplicateJob",
    "EngineRunning",
    "JobNotFound",
    "Store",
    "StoreCorrupt",
    "StoreWriteFailed",
    "Table",
]

DAY = 86400.0
HOST_SCAN_PAGE = 1000  # jobs read per store call when filtering by host


class Store:
    """Jobs, streams and tables of one data directory (see the module docstring)."""

    def __init__(
        self, data_dir: Path, *, retention_days: float = 30, segment_jobs: int | None = None
    ) -> None:
        self.data_dir = Path(data_dir)
        self.retention_days = retention_days
        ensure_data_dir(self.data_dir)
        self._lock = threading.RLock()  # the in-memory state
        self._journal_lock = threading.Lock()  # journal I/O; taken before `_lock`
        sizing = {} if segment_jobs is None else {"segment_jobs": segment_jobs}
        self._jobs = JobStore(self.data_dir / "jobs", **sizing)
        self._streams = StreamFiles(self.data_dir / "streams")
        self._tables: dict[str, Table] = {}
        remove_debris(self.data_dir / "tables")

    # -- jobs -----------------------------------------------------------------------

    def add_job(self, job: Job) -> None:
        """Store a new job; durable (fsynced) when it returns."""
        self.add_jobs([job])

    def add_jobs(self, jobs: Sequence[Job]) -> None:
        """Store many new jobs (all or none) with one journal write."""
        with self._lock:
            self._jobs.add_many(jobs)
        self.sync_jobs()

    def save_job(self, job: Job) -> None:
        """Replace the stored copy of `job`; durable when it returns."""
        self.stage_save(job)
        self.sync_jobs()

    def stage_add(self, job: Job) -> int:
        """Store a new job in memory (every read sees it at once) and queue its journal
        line; it is durable once `durable_seq` reaches the number returned."""
        with self._lock:
            return self._jobs.add_many([job])

    def stage_save(self, job: Job) -> int:
        """Like `stage_add`, for a change to a stored job."""
        with self._lock:
            return self._jobs.save(job)

    @property
    def staged_seq(self) -> int:
        return self._jobs.staged_seq

    @property
    def durable_seq(self) -> int:
        return self._jobs.durable_seq

    def sync_jobs(self) -> None:
        """Make every job change staged so far durable: one append and one fdatasync
        for all of them, done without the state lock so readers and stagers on other
        threads never wait for the disk; compacts the journal when it is due. Never
        call it holding the state lock (locks are taken journal first, then state)."""
        with self._journal_lock:
            with self._lock:
                lines, seq = self._jobs.take_lines()
            self._jobs.write_journal(lines, seq)
            if self._jobs.compaction_due():
                with self._lock:
                    snap = self._jobs.snapshot()
                self._jobs.persist(snap)
                with self._lock:
                    self._jobs.finish_compaction(snap)

    def get_job(self, job_id: str) -> Job:
        with self._lock:
            return self._jobs.get(job_id)

    def list_jobs(
        self,
        *,
        status: JobStatus | Collection[JobStatus] | None = None,
        runbook: str | None = None,
        trigger: Trigger | str | None = None,
        trigger_ref: str | None = None,
        limit: int = 200,
        before_id: str | None = None,
    ) -> list[Job]:
        """Jobs newest first matching every filter given; at most `limit`."""
        wanted = JobFilter.make(status, runbook, trigger, trigger_ref)
        with self._lock:
            return self._jobs.query(wanted, limit, before_id)

    def jobs_on_host(
        self,
        host: str,
        *,
        status: JobStatus | Collection[JobStatus] | None = None,
        runbook: str | None = None,
        limit: int = 200,
        before_id: str | None = None,
    ) -> list[Job]:
        """Jobs newest first that ran on `host`, matching the filters; at most `limit`.
        The store keeps no per-host index: a host that ran few jobs makes this read the
        whole history, so call it off the event loop."""
        found: list[Job] = []
        while len(found) < limit:
            page = self.list_jobs(
                status=status, runbook=runbook, limit=HOST_SCAN_PAGE, before_id=before_id
            )
            found += [job for job in page if host in job.host_runs]
            if len(page) < HOST_SCAN_PAGE:
                break
            before_id = page[-1].id
        return found[:limit]

    def unfinished_jobs(self) -> list[Job]:
        """Jobs not yet finished, oldest first, without reading the job history."""
        with self._lock:
            return self._jobs.unfinished()

    # -- streams --------------------------------------------------------------------

    def append_streams(self, job_id: str, records: Sequence[StreamRecord]) -> None:
        with self._lock:
            self._streams.append(job_id, records)

    def sync_streams(self, job_id: str) -> None:
        """fsync the job's stream file; the fsync itself runs without the lock."""
        with self._lock:
            handle = self._streams.detach(job_id)
        if handle is not None:
            self._streams.sync_handle(handle)

    def read_streams(
        self, job_id: str, host: str | None = None, stream: str | None = None
    ) -> list[StreamRecord]:
        with self._lock:
            return self._streams.read(job_id, host, stream)

    # -- retention ------------------------------------------------------------------

    def apply_retention(self, now: float | None = None, days: float | None = None) -> int:
        """Remove finished jobs created more than `days` ago, and their streams."""
        cutoff = (time.time() if now is None else now) - DAY * (
            self.retention_days if days is None else days
        )
        removed = 0
        with self._lock:
            candidates = self._jobs.segments_older_than(cutoff)
        for start in candidates:  # one segment at a time: other callers interleave
            with self._journal_lock, self._lock:
                removed += self._jobs.expire(start, cutoff)
        with self._lock:
            keep = self._jobs.active_ids()
            self._streams.sweep(cutoff, keep)
        return removed

    # -- tables ---------------------------------------------------------------------

    def table(self, name: str, cap: int | None = None) -> Table:
        """The table `name` (created on first write); `cap` bounds its row count."""
        check_table_name(name)
        with self._lock:
            table = self._tables.get(name)
            if table is None:
                directory = self.data_dir / "tables"
                directory.mkdir(mode=0o700, exist_ok=True)
                table = Table(directory / f"{name}.json", self._lock, cap)
                self._tables[name] = table
            elif cap is not None:
                table.cap = cap
            return table

    def close(self) -> None:
        """Fold the journal into the files, sync the streams, close everything."""
        with self._journal_lock, self._lock:
            self._streams.close()
            self._jobs.close()
            for table in self._tables.values():
                table.close()
            self._tables.clear()
