"""Job records, partitioned into small TinyDB segment files so writes stay cheap.

TinyDB rewrites a whole file on every write. One file for all jobs would make every
state change rewrite the entire history (100,000 jobs is over 50 MB). Instead, jobs
live in *segments*: `jobs/seg-<first job id>.json`, each a TinyDB file holding at most
`segment_jobs` jobs (or about `segment_bytes` of JSON). Job ids sort by creation time,
so a new job goes to the newest segment and a write rewrites one small, recent file,
whatever the size of the history.

Two small side files make the store fast without reading history:

- `jobs/summaries.json`: per segment, the statuses, runbooks, triggers and trigger refs
  that occur in it. `list_jobs` skips segments that cannot match a filter. A summary
  only ever grows (a superset of what the segment holds) and is written *before* the
  segment, so a crash can make it too generous, never wrong.
- `jobs/active.json`: the ids of jobs not finished yet. Written before a new job's
  segment and after a finishing job's segment, so it is always a superset of the
  unfinished jobs; `unfinished` drops the stale entries it finds.

Loaded segments are kept in a small LRU; nothing else of the history is in memory.
Not thread-safe by itself: `console.store.Store` serialises calls with a lock.
"""

from __future__ import annotations

import bisect
import copy
import difflib
import re
import time
from collections import OrderedDict
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.errors import OpsError, UsageError
from console.jobs import Job, JobStatus, Trigger, job_id_time
from console.store.atomic import (
    AtomicDB,
    KeyedTable,
    StoreCorrupt,
    fsync_dir,
    remove_debris,
)

SEGMENT_JOBS = 500
SEGMENT_BYTES = 1_000_000
OPEN_SEGMENTS = 8
JOB_ID = re.compile(r"^[0-9a-f]{20}$")
_SEGMENT_FILE = re.compile(r"^seg-([0-9a-f]{20})\.json$")


class JobNotFound(OpsError):
    """No job with that id in the store (never created, or removed by retention)."""


class DuplicateJob(OpsError):
    """A job with that id is already stored (a bug in the caller, not a user error)."""


FINISHED = frozenset(s.value for s in JobStatus if s.finished)
UNFINISHED = frozenset(s.value for s in JobStatus if not s.finished)
StatusFilter = JobStatus | Collection[JobStatus] | None


@dataclass(frozen=True)
class JobFilter:
    """What `list_jobs` keeps; None means any."""

    statuses: frozenset[str] | None = None
    runbook: str | None = None
    trigger: str | None = None
    trigger_ref: str | None = None

    @classmethod
    def make(cls, status: StatusFilter, runbook: str | None, trigger: Trigger | str | None,
             trigger_ref: str | None) -> JobFilter:
        if status is None:
            statuses = None
        elif isinstance(status, JobStatus):
            statuses = frozenset({status.value})
        else:
            statuses = frozenset(JobStatus(s).value for s in status)
        trig = Trigger(trigger).value if trigger is not None else None
        return cls(statuses, runbook, trig, trigger_ref)

    def matches(self, doc: Mapping[str, Any]) -> bool:
        return ((self.statuses is None or doc["status"] in self.statuses)
                and (self.runbook is None or doc["runbook"] == self.runbook)
                and (self.trigger is None or doc["trigger"] == self.trigger)
                and (self.trigger_ref is None or doc["trigger_ref"] == self.trigger_ref))


@dataclass
class Summary:
    """The values that occur in one segment (a superset: values are never removed)."""

    statuses: set[str] = field(default_factory=set)
    runbooks: set[str] = field(default_factory=set)
    triggers: set[str] = field(default_factory=set)
    trigger_refs: set[str | None] = field(default_factory=set)

    def grow(self, doc: Mapping[str, Any]) -> bool:
        """Add `doc`'s values; True when something was new (the summary must be saved)."""
        before = self.size()
        self.statuses.add(doc["status"])
        self.runbooks.add(doc["runbook"])
        self.triggers.add(doc["trigger"])
        self.trigger_refs.add(doc["trigger_ref"])
        return self.size() != before

    def size(self) -> int:
        return (len(self.statuses) + len(self.runbooks) + len(self.triggers)
                + len(self.trigger_refs))

    def may_match(self, wanted: JobFilter, has_active: bool) -> bool:
        """False when no job of the segment can match. Every job once was Queued and
        Running, so unfinished statuses only count where the active index has a job."""
        possible = {s for s in self.statuses if s in FINISHED} | (UNFINISHED if has_active
                                                                   else set())
        return ((wanted.statuses is None or bool(wanted.statuses & possible))
                and (wanted.runbook is None or wanted.runbook in self.runbooks)
                and (wanted.trigger is None or wanted.trigger in self.triggers)
                and (wanted.trigger_ref is None or wanted.trigger_ref in self.trigger_refs))

    def to_doc(self) -> dict[str, list[Any]]:
        return {"statuses": sorted(self.statuses), "runbooks": sorted(self.runbooks),
                "triggers": sorted(self.triggers),
                "trigger_refs": sorted(self.trigger_refs, key=lambda r: r or "")}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Summary:
        return cls(set(doc["statuses"]), set(doc["runbooks"]), set(doc["triggers"]),
                   set(doc["trigger_refs"]))


def job_to_doc(job: Job) -> dict[str, Any]:
    """The stored form; parameters are copied so later changes to `job` cannot leak in."""
    doc = job.to_dict()
    doc["parameters"] = copy.deepcopy(doc["parameters"])
    return doc


def job_from_doc(doc: Mapping[str, Any]) -> Job:
    return Job.from_dict({**doc, "parameters": copy.deepcopy(doc.get("parameters") or {})})


class JobStore:
    """Jobs in time-ordered segment files; see the module docstring for the layout."""

    def __init__(self, directory: Path, *, segment_jobs: int = SEGMENT_JOBS,
                 segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = directory
        self.segment_jobs = segment_jobs
        self.segment_bytes = segment_bytes
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        remove_debris(directory)
        self._starts = sorted(m.group(1) for p in directory.iterdir()
                              if (m := _SEGMENT_FILE.match(p.name)))
        self._open: OrderedDict[str, AtomicDB] = OrderedDict()
        self._summary_db = AtomicDB(directory / "summaries.json")
        self._active_db = AtomicDB(directory / "active.json")
        try:
            self._summaries = {start: Summary.from_doc(doc)
                               for start, doc in self._summary_table.raw().items()}
            self._active.raw()
        except (StoreCorrupt, KeyError, TypeError):
            self._rebuild_indexes()
        self._rebuild_missing_summaries()

    # -- segments -------------------------------------------------------------------

    @property
    def _summary_table(self) -> KeyedTable:
        return self._summary_db.keyed("segments")

    @property
    def _active(self) -> KeyedTable:
        return self._active_db.keyed("active")

    def _rebuild_indexes(self) -> None:
        """The side files are derived data: if one is damaged, set both aside (kept
        for inspection) and rebuild them from the segments. Slow, but loses nothing."""
        for db in (self._summary_db, self._active_db):
            path = db.atomic_storage.path
            db.close()
            if path.exists():
                path.rename(path.with_name(f"{path.name}.damaged-{int(time.time())}"))
        self._summary_db = AtomicDB(self.directory / "summaries.json")
        self._active_db = AtomicDB(self.directory / "active.json")
        self._summaries = {}
        unfinished = {job_id: {"segment": start} for start in self._starts
                      for job_id, doc in self._segment(start).raw().items()
                      if not JobStatus(doc["status"]).finished}
        self._active.put_many(unfinished)

    def _rebuild_missing_summaries(self) -> None:
        """A segment without a summary (the summaries file was lost): derive it once."""
        missing = [s for s in self._starts if s not in self._summaries]
        for start in missing:
            summary = Summary()
            for doc in self._segment(start).raw().values():
                summary.grow(doc)
            self._summaries[start] = summary
        if missing:
            self._summary_table.put_many({s: self._summaries[s].to_doc() for s in missing})

    def _segment(self, start: str) -> KeyedTable:
        """The TinyDB table of segment `start`, opening it (LRU-cached) if needed."""
        db = self._open.get(start)
        if db is None:
            db = AtomicDB(self.directory / f"seg-{start}.json")
            self._open[start] = db
            self._evict()
        else:
            self._open.move_to_end(start)
        return db.keyed("jobs")

    def _evict(self) -> None:
        """Close the least recently used segments beyond OPEN_SEGMENTS, but keep the
        newest (every new job writes to it) even when a long listing walked past it."""
        newest = self._starts[-1] if self._starts else None
        while len(self._open) > OPEN_SEGMENTS:
            start, oldest = self._open.popitem(last=False)
            if start == newest:
                self._open[start] = oldest
                continue
            oldest.close()

    def _segment_of(self, job_id: str) -> str | None:
        """The segment that holds (or would hold) an existing job id."""
        i = bisect.bisect_right(self._starts, job_id) - 1
        return self._starts[i] if i >= 0 else None

    def _segment_for_new(self, job_id: str, pending: int = 0) -> str:
        """Where a new job goes: the covering segment, or a fresh one when the newest
        is full (`pending` counts jobs already planned for it in a batch)."""
        start = self._segment_of(job_id)
        if start is None:
            return job_id
        if start != self._starts[-1]:
            return start  # a back-dated id belongs to an older segment, full or not
        table = self._segment(start)
        full = (len(table.raw()) + pending >= self.segment_jobs
                or self._open[start].atomic_storage.size >= self.segment_bytes)
        return job_id if full else start

    def _note_values(self, start: str, docs: Sequence[Mapping[str, Any]]) -> None:
        """Grow (and save, before the segment is written) the summary of `start`."""
        summary = self._summaries.setdefault(start, Summary())
        changed = [summary.grow(doc) for doc in docs]
        if any(changed):
            self._summary_table.put(start, summary.to_doc())

    def _write(self, start: str, docs: Sequence[dict[str, Any]]) -> None:
        self._note_values(start, docs)
        unfinished = {d["id"]: {"segment": start} for d in docs
                      if not JobStatus(d["status"]).finished}
        if unfinished:
            self._active.put_many(unfinished)
        self._segment(start).put_many({d["id"]: d for d in docs})

    # -- public ---------------------------------------------------------------------

    def add(self, job: Job) -> None:
        self.add_many([job])

    def add_many(self, jobs: Sequence[Job]) -> None:
        """Store new jobs with one write per segment touched (the bulk path)."""
        batches: dict[str, list[dict[str, Any]]] = {}
        for job in sorted(jobs, key=lambda j: j.id):
            check_id(job.id)
            if self._find(job.id) is not None:
                raise DuplicateJob(f"job {job.id} is already stored")
            newest = self._starts[-1] if self._starts else ""
            start = self._segment_for_new(job.id, pending=len(batches.get(newest, ())))
            if start not in self._starts:
                bisect.insort(self._starts, start)
            batches.setdefault(start, []).append(job_to_doc(job))
        for start, docs in batches.items():
            self._write(start, docs)

    def save(self, job: Job) -> None:
        """Replace a stored job; it leaves the active set once it is finished."""
        start = self._find(job.id)
        if start is None:
            raise self.not_found(job.id)
        doc = job_to_doc(job)
        self._note_values(start, [doc])
        self._segment(start).put(job.id, doc)
        if job.status.finished and job.id in self._active.raw():
            self._active.delete_many([job.id])

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
            return JobNotFound(f"{job_id!r} is not a job id (job ids are 20 hex digits, "
                               "as shown by 'opsconsole jobs list')")
        start = self._segment_of(job_id) or (self._starts[0] if self._starts else None)
        near = difflib.get_close_matches(
            job_id, list(self._segment(start).raw()) if start else [], n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        return JobNotFound(f"no job {job_id} in {self.directory.parent} (it may have been removed "
                           f"by retention){hint}")

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

    def _newest_first(self, wanted: JobFilter,
                      before_id: str | None) -> Iterator[Mapping[str, Any]]:
        live = {doc["segment"] for doc in self._active.raw().values()}
        for start in reversed(self._starts):
            if before_id is not None and start >= before_id:
                continue
            summary = self._summaries.get(start)
            if summary is not None and not summary.may_match(wanted, start in live):
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
        for job_id in sorted(self._active.raw()):
            start = self._find(job_id)
            doc = self._segment(start).raw()[job_id] if start else None
            if doc is None or JobStatus(doc["status"]).finished:
                stale.append(job_id)
            else:
                jobs.append(job_from_doc(doc))
        if stale:
            self._active.delete_many(stale)
        return jobs

    # -- retention ------------------------------------------------------------------

    def segments_older_than(self, cutoff: float) -> list[str]:
        """Segments that start before `cutoff` (the only ones that can hold old jobs)."""
        return [s for s in self._starts if job_id_time(s) < cutoff]

    def expire(self, start: str, cutoff: float) -> int:
        """Remove the finished jobs of segment `start` created before `cutoff`; the
        whole file goes when nothing is left. Returns how many jobs were removed."""
        if start not in self._starts:
            return 0
        docs = self._segment(start).raw()
        old = [job_id for job_id, doc in docs.items()
               if job_id_time(job_id) < cutoff and JobStatus(doc["status"]).finished]
        if len(old) == len(docs):
            self._drop_segment(start)
        elif old:
            self._segment(start).delete_many(old)
        return len(old)

    def _drop_segment(self, start: str) -> None:
        db = self._open.pop(start, None)
        if db is not None:
            db.close()
        self._starts.remove(start)
        path = self.directory / f"seg-{start}.json"
        path.unlink(missing_ok=True)
        fsync_dir(self.directory)
        self._summaries.pop(start, None)
        self._summary_table.delete_many([start])

    def active_ids(self) -> set[str]:
        return set(self._active.raw())

    def close(self) -> None:
        for db in self._open.values():
            db.close()
        self._open.clear()
        self._summary_db.close()
        self._active_db.close()


def check_id(job_id: str) -> None:
    if not JOB_ID.match(job_id):
        raise UsageError(f"{job_id!r} is not a job id (job ids are 20 hex digits)")
