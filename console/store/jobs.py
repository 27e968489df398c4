"""Job records, partitioned into small TinyDB segment files so writes stay cheap.

TinyDB rewrites a whole file on every write. One file for all jobs would make every
state change rewrite the entire history (100,000 jobs is over 50 MB). Instead, jobs
live in *segments*: `jobs/seg-<first job id>.json`, each a TinyDB file holding at most
`segment_jobs` jobs (or about `segment_bytes` of JSON). Job ids sort by creation time,
so a new job goes to the newest segment and a write rewrites one small, recent file,
whatever the size of the history.

Two small side files (console.store.job_index) make the store fast without reading
history:

- `jobs/summaries.json`: per segment, the values that occur in it; `list_jobs` skips
  segments that cannot match a filter. A summary only ever grows (a superset of what
  the segment holds) and is written *before* the segment, so a crash can make it too
  generous, never wrong.
- `jobs/active.json`: the ids of jobs not finished yet. Written before a new job's
  segment and after a finishing job's segment, so it is always a superset of the
  unfinished jobs; `unfinished` drops the stale entries it finds.

A job write does not rewrite its segment: it appends one line to `jobs/journal.jsonl`
(see .journal), and many writes share one fdatasync. The segments and both side files
are rewritten from memory only when the journal is compacted, so a write costs the
same whatever the segment size. As in a database's write-ahead log, compaction waits
until it is due: while running, once the journal reaches JOURNAL_BYTES; at open and
close, once it reaches REST_JOURNAL_BYTES (replaying that much at the next open costs
less than rewriting a segment, so a short-lived process such as `exec` neither pays a
compaction at open nor at close). Open compacts at once only after damage, so a
damaged line is kept aside once. The side files' crash rules above hold for the
compacted files; between compactions the journal, replayed at every open (idempotent:
each line replaces a whole job document), is what keeps them right.

Loaded segments are kept in a small LRU (segments with changes not yet compacted stay
loaded); nothing else of the history is in memory. Not thread-safe by itself:
`console.store.Store` serialises calls with locks.
"""

from __future__ import annotations

import bisect
import difflib
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.jobs.model import Job, JobStatus, job_id_time
from console.store.atomic import (
    AtomicDB,
    AtomicJSONStorage,
    KeyedTable,
    fsync_dir,
    remove_debris,
)
from console.store.damage import keep_damaged
from console.store.job_index import JobFilter, JobIndex
from console.store.job_records import (
    JOB_ID,
    DuplicateJob,
    JobNotFound,
    check_id,
    entry_problem,
    job_from_doc,
    job_to_doc,
)
from console.store.journal import Journal, StoreWriteFailed, entry_line, read_entries
from console.store.jsonl import Damage

SEGMENT_JOBS = 500
SEGMENT_BYTES = 1_000_000
OPEN_SEGMENTS = 8
JOURNAL = "journal.jsonl"
JOURNAL_BYTES = 4_000_000  # compact when the journal reaches this size while running
REST_JOURNAL_BYTES = 256_000  # ...and this size at open and close
_SEGMENT_FILE = re.compile(r"^seg-([0-9a-f]{20})\.json$")


@dataclass
class Snapshot:
    """What a compaction writes: the journal lines not yet written, and a copy of every
    file whose in-memory state moved on since it was last written."""

    lines: bytes
    seq: int
    files: list[tuple[AtomicJSONStorage, dict[str, Any]]]
    segment_versions: dict[str, int]
    side_version: int


class JobStore:
    """Jobs in time-ordered segment files; see the module docstring for the layout.

    Writes happen in two steps. `add_many` / `save` *stage* a change: the in-memory
    state (what every read sees) changes at once and a journal line is queued. Then
    `take_lines` + `write_journal` make everything staged so far durable with one
    append and one fdatasync, and `snapshot` + `persist` + `finish_compaction` fold
    the journal into the segment files. `console.store.Store` runs the I/O steps
    outside its state lock, so readers and new stages never wait for a disk.
    """

    def __init__(
        self,
        directory: Path,
        *,
        segment_jobs: int = SEGMENT_JOBS,
        segment_bytes: int = SEGMENT_BYTES,
    ) -> None:
        self.directory = directory
        self.segment_jobs = segment_jobs
        self.segment_bytes = segment_bytes
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        remove_debris(directory)
        self._starts = sorted(
            m.group(1) for p in directory.iterdir() if (m := _SEGMENT_FILE.match(p.name))
        )
        self._open: OrderedDict[str, AtomicDB] = OrderedDict()
        self._sizes: dict[str, int] = {}  # bytes of each segment, as last written + staged
        self._version: dict[str, int] = {}  # changes staged per segment...
        self._persisted: dict[str, int] = {}  # ...and how many of them are in its file
        self._lines: list[bytes] = []  # staged journal lines not yet written
        self.staged_seq = self.durable_seq = 0  # counts of staged / durable changes
        self.broken: StoreWriteFailed | None = None
        self.index = JobIndex(directory, self._starts, lambda s: self._segment(s).raw())
        self.journal = Journal(directory / JOURNAL)
        self._replay()

    # -- segments -------------------------------------------------------------------

    def _replay(self) -> None:
        """Apply what the journal holds (changes not compacted yet), and cut a torn
        tail off so appends start on a line of their own. A damaged line is kept aside
        and skipped; the lines after it still count (see .journal)."""
        entries, damage, end = read_entries(self.journal.path)
        replayed = 0
        for entry in entries:
            problem = entry_problem(entry.start, entry.doc)
            if problem is not None:
                damage.append(Damage(entry.line, entry.offset, entry.raw, problem))
                continue
            if entry.start not in self._starts:
                bisect.insort(self._starts, entry.start)
            self._apply(entry.start, entry.doc)
            replayed += 1
        if damage:  # durable before the compaction empties the journal
            keep_damaged(self.journal.path, sorted(damage, key=lambda d: d.line))
            self.compact()
        elif self.journal.size >= REST_JOURNAL_BYTES:
            self.compact()
        else:
            self._guard(self.journal.cut, end)

    def _db(self, start: str) -> AtomicDB:
        """The TinyDB file of segment `start`, opening it (LRU-cached) if needed."""
        db = self._open.get(start)
        if db is None:
            db = AtomicDB(self.directory / f"seg-{start}.json")
            self._open[start] = db
            self._sizes.setdefault(start, db.atomic_storage.size)
            self._evict()
        else:
            self._open.move_to_end(start)
        return db

    def _segment(self, start: str) -> KeyedTable:
        return self._db(start).keyed("jobs")

    def _dirty(self, start: str) -> bool:
        return self._version.get(start, 0) != self._persisted.get(start, 0)

    def _evict(self) -> None:
        """Close the least recently used segments beyond OPEN_SEGMENTS, but keep the
        newest (every new job writes to it) even when a long listing walked past it,
        and every segment with changes not yet in its file."""
        newest = self._starts[-1] if self._starts else None
        for start in list(self._open):
            if len(self._open) <= OPEN_SEGMENTS:
                break
            if start != newest and not self._dirty(start):
                self._open.pop(start).close()

    def _segment_of(self, job_id: str) -> str | None:
        """The segment that holds (or would hold) an existing job id."""
        i = bisect.bisect_right(self._starts, job_id) - 1
        return self._starts[i] if i >= 0 else None

    def _segment_for_new(self, job_id: str) -> str:
        """Where a new job goes: the covering segment, or a fresh one when the newest
        is full."""
        start = self._segment_of(job_id)
        if start is None:
            return job_id
        if start != self._starts[-1]:
            return start  # a back-dated id belongs to an older segment, full or not
        full = (
            len(self._segment(start).raw()) >= self.segment_jobs
            or self._sizes[start] >= self.segment_bytes
        )
        return job_id if full else start

    def _apply(self, start: str, doc: dict[str, Any]) -> None:
        """Put `doc` in segment `start` in memory and keep the side data in step."""
        self._db(start).atomic_storage.live().setdefault("jobs", {})[doc["id"]] = doc
        self._version[start] = self._version.get(start, 0) + 1
        self.index.note(start, doc)

    def _stage(self, start: str, doc: dict[str, Any]) -> int:
        """Apply `doc` and queue its journal line; returns its sequence number."""
        line = entry_line(start, doc)
        self._apply(start, doc)
        self._lines.append(line)
        self._sizes[start] = self._sizes.get(start, 0) + len(line)
        self.staged_seq += 1
        return self.staged_seq

    def _check_writable(self) -> None:
        if self.broken is not None:
            raise StoreWriteFailed(
                f"the store stopped taking writes after: {self.broken}; "
                "fix the disk, then restart the engine"
            )

    # -- staging (callers hold the store lock) --------------------------------------

    def add_many(self, jobs: Sequence[Job]) -> int:
        """Stage new jobs (all or none); returns the sequence number of the last."""
        self._check_writable()
        ordered = sorted(jobs, key=lambda j: j.id)
        seen: set[str] = set()
        for job in ordered:
            check_id(job.id)
            if job.id in seen or self._find(job.id) is not None:
                raise DuplicateJob(f"job {job.id} is already stored")
            seen.add(job.id)
        for job in ordered:
            start = self._segment_for_new(job.id)
            if start not in self._starts:
                bisect.insort(self._starts, start)
            self._stage(start, job_to_doc(job))
        return self.staged_seq

    def save(self, job: Job) -> int:
        """Stage the replacement of a stored job; it leaves the active set once it is
        finished. Returns the change's sequence number."""
        self._check_writable()
        start = self._find(job.id)
        if start is None:
            raise self.not_found(job.id)
        return self._stage(start, job_to_doc(job))

    # -- durability (callers hold the journal lock, not the store lock) ---------------

    def take_lines(self) -> tuple[bytes, int]:
        """The staged lines not yet written and the sequence number they reach (call
        with the store lock held)."""
        lines, self._lines = self._lines, []
        return b"".join(lines), self.staged_seq

    def write_journal(self, lines: bytes, seq: int) -> None:
        """Append and fdatasync: every change up to `seq` is durable on return."""
        if lines:
            self._guard(self.journal.append, lines)
            self._guard(self.journal.sync)
        self.durable_seq = max(self.durable_seq, seq)

    def compaction_due(self) -> bool:
        return self.journal.size >= JOURNAL_BYTES

    def snapshot(self) -> Snapshot:
        """Copies of the files to rewrite (call with the store lock held). Documents
        are never changed in place, only replaced, so shallow copies suffice."""
        lines, seq = self.take_lines()
        files: list[tuple[AtomicJSONStorage, dict[str, Any]]] = []
        versions = {}
        for start in self._starts:
            if self._dirty(start):
                db = self._db(start)
                files.append((db.atomic_storage, {"jobs": dict(self._segment(start).raw())}))
                versions[start] = self._version[start]
        if self.index.dirty:
            files.extend(self.index.files())
        return Snapshot(lines, seq, files, versions, self.index.version)

    def persist(self, snap: Snapshot) -> None:
        """Journal first (so every change in the snapshot can be replayed if a crash
        leaves only some files rewritten), then the files, then empty the journal."""
        self.write_journal(snap.lines, snap.seq)
        for storage, data in snap.files:
            self._guard(storage.persist, data)
        self._guard(self.journal.reset)

    def finish_compaction(self, snap: Snapshot) -> None:
        """Record what `persist` wrote (call with the store lock held)."""
        for start, version in snap.segment_versions.items():
            self._persisted[start] = version
            db = self._open.get(start)
            if db is not None:  # (lines staged since the snapshot are not counted)
                self._sizes[start] = db.atomic_storage.size
        self.index.persisted = snap.side_version
        self._evict()

    def compact(self) -> None:
        """All three compaction steps in a row (at open, close and retention, when
        due)."""
        snap = self.snapshot()
        self.persist(snap)
        self.finish_compaction(snap)

    def _guard(self, write: Callable[..., object], *args: Any) -> None:
        """Run a disk write; a failure stops all further writes (see StoreWriteFailed)."""
        try:
            write(*args)
        except (OSError, StoreWriteFailed) as exc:
            self.broken = (
                exc
                if isinstance(exc, StoreWriteFailed)
                else StoreWriteFailed(f"could not write the job store: {exc}")
            )
            raise self.broken from exc

    # -- reads ------------------------------------------------------------------------

    def get(self, job_id: str) -> Job:
        start = self._find(job_id)
        if start is None:
            raise self.not_found(job_id)
        return job_from_doc(self._segment(start).raw()[job_id])

    def _find(self, job_id: str) -> str | None:
        """The segment holding `job_id`, or None."""
        if not JOB_ID.match(job_id):
            return None
        start = self._segment_of(job_id)
        if start is None or job_id not in self._segment(start).raw():
            return None
        return start

    def not_found(self, job_id: str) -> JobNotFound:
        """A JobNotFound that names the nearest ids, to catch a typo or a truncation."""
        if not JOB_ID.match(job_id):
            return JobNotFound(
                f"{job_id!r} is not a job id (job ids are 20 hex digits, "
                "as shown by 'opsconsole jobs list')"
            )
        start = self._segment_of(job_id) or (self._starts[0] if self._starts else None)
        near = difflib.get_close_matches(
            job_id, list(self._segment(start).raw()) if start else [], n=3, cutoff=0.6
        )
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        return JobNotFound(
            f"no job {job_id} in {self.directory.parent} (it may have been removed "
            f"by retention){hint}"
        )

    def query(self, wanted: JobFilter, limit: int, before_id: str | None) -> list[Job]:
        """Newest first, walking segments from the newest and skipping those whose
        summary rules them out; stops as soon as `limit` jobs are found."""
        found: list[Job] = []
        if limit <= 0:
            return found
        for doc in self._newest_first(wanted, before_id):
            found.append(job_from_doc(doc))
            if len(found) >= limit:
                break
        return found

    def _newest_first(
        self, wanted: JobFilter, before_id: str | None
    ) -> Iterator[Mapping[str, Any]]:
        live = self.index.live_segments()
        for start in reversed(self._starts):
            if before_id is not None and start >= before_id:
                continue
            if not self.index.may_hold(start, wanted, live):
                continue
            docs = self._segment(start).raw()
            for job_id in sorted(docs, reverse=True):
                if before_id is not None and job_id >= before_id:
                    continue
                if wanted.matches(docs[job_id]):
                    yield docs[job_id]

    def unfinished(self) -> list[Job]:
        """Jobs not finished, oldest first, read through the active index only."""
        jobs, stale = [], []
        for job_id in sorted(self.index.active_live()):
            start = self._find(job_id)
            doc = self._segment(start).raw()[job_id] if start else None
            if doc is None or JobStatus(doc["status"]).finished:
                stale.append(job_id)
            else:
                jobs.append(job_from_doc(doc))
        self.index.forget_active(stale)  # written with the next compaction
        return jobs

    # -- retention (callers hold the journal lock and the store lock) -----------------

    def segments_older_than(self, cutoff: float) -> list[str]:
        """Segments that start before `cutoff` (the only ones that can hold old jobs)."""
        return [s for s in self._starts if job_id_time(s) < cutoff]

    def expire(self, start: str, cutoff: float) -> int:
        """Remove the finished jobs of segment `start` created before `cutoff`; the
        whole file goes when nothing is left. Returns how many jobs were removed.
        The journal is compacted first, so no journal line can bring a removed job
        back, and the segment is rewritten directly."""
        if start not in self._starts:
            return 0
        if self._dirty(start) or self.journal.size:
            self.compact()
        docs = self._segment(start).raw()
        old = [
            job_id
            for job_id, doc in docs.items()
            if job_id_time(job_id) < cutoff and JobStatus(doc["status"]).finished
        ]
        if len(old) == len(docs):
            self._drop_segment(start)
        elif old:
            self._guard(self._segment(start).delete_many, old)
        return len(old)

    def _drop_segment(self, start: str) -> None:
        db = self._open.pop(start, None)
        if db is not None:
            db.close()
        self._starts.remove(start)
        path = self.directory / f"seg-{start}.json"
        path.unlink(missing_ok=True)
        fsync_dir(self.directory)
        self._version.pop(start, None)
        self._persisted.pop(start, None)
        self.index.forget_segment(start)

    def active_ids(self) -> set[str]:
        return self.index.active_ids()

    def close(self) -> None:
        """Make staged changes durable in the journal and close (unless a write
        failed); fold the journal into the files only when it is due, since the next
        open replays it anyway."""
        if self.broken is None:
            self.write_journal(*self.take_lines())
            if self.journal.size >= REST_JOURNAL_BYTES:
                self.compact()
        self.journal.close()
        for db in self._open.values():
            db.close()
        self._open.clear()
        self.index.close()
