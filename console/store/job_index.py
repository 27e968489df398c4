"""The job store's two side files, which make reads fast without reading history.

- `jobs/summaries.json`: per segment, the statuses, runbooks, triggers and trigger refs
  that occur in it, so that a listing skips segments that cannot match its filter.
- `jobs/active.json`: the ids of jobs not finished yet, with their segment.

Both are derived from the segments (see console.store.jobs for when each is written and
why a crash can only make them too generous, never wrong): when either is damaged,
both are set aside and rebuilt.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.jobs.model import JobStatus, Trigger
from console.store.atomic import AtomicDB, AtomicJSONStorage, KeyedTable, StoreCorrupt

SUMMARIES = "summaries.json"
ACTIVE = "active.json"

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
    def make(
        cls,
        status: StatusFilter,
        runbook: str | None,
        trigger: Trigger | str | None,
        trigger_ref: str | None,
    ) -> JobFilter:
        if status is None:
            statuses = None
        elif isinstance(status, JobStatus):
            statuses = frozenset({status.value})
        else:
            statuses = frozenset(JobStatus(s).value for s in status)
        trig = Trigger(trigger).value if trigger is not None else None
        return cls(statuses, runbook, trig, trigger_ref)

    def matches(self, doc: Mapping[str, Any]) -> bool:
        return (
            (self.statuses is None or doc["status"] in self.statuses)
            and (self.runbook is None or doc["runbook"] == self.runbook)
            and (self.trigger is None or doc["trigger"] == self.trigger)
            and (self.trigger_ref is None or doc["trigger_ref"] == self.trigger_ref)
        )


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
        return len(self.statuses) + len(self.runbooks) + len(self.triggers) + len(self.trigger_refs)

    def may_match(self, wanted: JobFilter, has_active: bool) -> bool:
        """False when no job of the segment can match. Every job once was Queued and
        Running, so unfinished statuses only count where the active index has a job."""
        possible = {s for s in self.statuses if s in FINISHED} | (
            UNFINISHED if has_active else set()
        )
        return (
            (wanted.statuses is None or bool(wanted.statuses & possible))
            and (wanted.runbook is None or wanted.runbook in self.runbooks)
            and (wanted.trigger is None or wanted.trigger in self.triggers)
            and (wanted.trigger_ref is None or wanted.trigger_ref in self.trigger_refs)
        )

    def to_doc(self) -> dict[str, list[Any]]:
        return {
            "statuses": sorted(self.statuses),
            "runbooks": sorted(self.runbooks),
            "triggers": sorted(self.triggers),
            "trigger_refs": sorted(self.trigger_refs, key=lambda r: r or ""),
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Summary:
        return cls(
            set(doc["statuses"]),
            set(doc["runbooks"]),
            set(doc["triggers"]),
            set(doc["trigger_refs"]),
        )


class JobIndex:
    """The summaries and the active set, in memory and in their two files.

    `version` counts changes, `persisted` how many of them are in the files; the job
    store writes `files()` when they differ (a compaction) and then sets `persisted`.
    """

    def __init__(
        self,
        directory: Path,
        starts: Sequence[str],
        docs_of: Callable[[str], Mapping[str, Mapping[str, Any]]],
    ) -> None:
        self.directory = directory
        self.version = self.persisted = 0
        self._summary_db = AtomicDB(directory / SUMMARIES, repair=False)
        self._active_db = AtomicDB(directory / ACTIVE, repair=False)
        try:
            self._summaries = {
                start: Summary.from_doc(doc) for start, doc in self._summary_table.raw().items()
            }
            self._active.raw()
        except (StoreCorrupt, KeyError, TypeError):
            self._rebuild(starts, docs_of)
        self._add_missing_summaries(starts, docs_of)

    @property
    def _summary_table(self) -> KeyedTable:
        return self._summary_db.keyed("segments")

    @property
    def _active(self) -> KeyedTable:
        return self._active_db.keyed("active")

    def active_live(self) -> dict[str, Any]:
        """The active set as it is in memory: {job id: {"segment": start}}."""
        return self._active_db.atomic_storage.live().setdefault("active", {})

    def _rebuild(
        self, starts: Sequence[str], docs_of: Callable[[str], Mapping[str, Mapping[str, Any]]]
    ) -> None:
        """Set both files aside (kept for inspection) and rebuild them from the
        segments. Slow, but loses nothing."""
        for db in (self._summary_db, self._active_db):
            path = db.atomic_storage.path
            db.close()
            if path.exists():
                path.rename(path.with_name(f"{path.name}.damaged-{int(time.time())}"))
        self._summary_db = AtomicDB(self.directory / SUMMARIES, repair=False)
        self._active_db = AtomicDB(self.directory / ACTIVE, repair=False)
        self._summaries = {}
        unfinished = {
            job_id: {"segment": start}
            for start in starts
            for job_id, doc in docs_of(start).items()
            if not JobStatus(doc["status"]).finished
        }
        self._active.put_many(unfinished)

    def _add_missing_summaries(
        self, starts: Sequence[str], docs_of: Callable[[str], Mapping[str, Mapping[str, Any]]]
    ) -> None:
        """A segment without a summary (the summaries file was lost): derive it once."""
        missing = [s for s in starts if s not in self._summaries]
        for start in missing:
            summary = Summary()
            for doc in docs_of(start).values():
                summary.grow(doc)
            self._summaries[start] = summary
        if missing:
            self._summary_table.put_many({s: self._summaries[s].to_doc() for s in missing})

    def note(self, start: str, doc: Mapping[str, Any]) -> None:
        """Keep both in step with `doc`, just put in segment `start`."""
        if self._summaries.setdefault(start, Summary()).grow(doc):
            self.version += 1
        active = self.active_live()
        if not JobStatus(doc["status"]).finished:
            if active.get(doc["id"]) != {"segment": start}:
                active[doc["id"]] = {"segment": start}
                self.version += 1
        elif active.pop(doc["id"], None) is not None:
            self.version += 1

    def forget_active(self, job_ids: Collection[str]) -> None:
        """Drop stale ids (jobs finished or gone) from the active set."""
        active = self.active_live()
        for job_id in job_ids:
            del active[job_id]
            self.version += 1

    def forget_segment(self, start: str) -> None:
        """A removed segment; the summaries file forgets it at the next compaction."""
        self._summaries.pop(start, None)
        self.version += 1

    def may_hold(self, start: str, wanted: JobFilter, live: Collection[str]) -> bool:
        """False when no job of segment `start` can match `wanted`; `live` is
        `live_segments()`."""
        summary = self._summaries.get(start)
        return summary is None or summary.may_match(wanted, start in live)

    def live_segments(self) -> set[str]:
        """The segments that hold an unfinished job."""
        return {doc["segment"] for doc in self._active.raw().values()}

    def active_ids(self) -> set[str]:
        return set(self._active.raw())

    @property
    def dirty(self) -> bool:
        return self.version != self.persisted

    def files(self) -> list[tuple[AtomicJSONStorage, dict[str, Any]]]:
        """Copies of both files' contents, for a compaction to write."""
        summaries = {s: summary.to_doc() for s, summary in self._summaries.items()}
        return [
            (self._summary_db.atomic_storage, {"segments": summaries}),
            (self._active_db.atomic_storage, {"active": dict(self.active_live())}),
        ]

    def close(self) -> None:
        self._summary_db.close()
        self._active_db.close()
