"""The latest snapshot of each host and the change log, under `<data_dir>/changes/`.

Layout::

    changes/snapshots/<host>.json.z   the latest snapshot of a host: zlib'd JSON
                                      (console.changes.codec, packages as rows),
                                      replaced atomically (console.store.atomic)
    changes/log.jsonl                 the change log: one change per line, appended

Storage grows with changes, not with collections: a collection replaces its host's
one snapshot file and appends only what changed, so 50 identical collections add no
byte to the log.

Crash safety. `record` appends the changes and fsyncs the log before it replaces the
snapshot, so a crash between the two repeats those changes at the next collection
(at least once) rather than losing them. A torn last line of the log (a write a crash
cut short, never acknowledged) is dropped and cut off at open; a damaged line (disk
damage, a hand edit) is kept in `log.jsonl.damaged`, logged once and left out, every
other change still readable (console.store.jsonl, console.store.damage). A snapshot
file that does not decode is set aside as `.damaged`: the host's next collection is a
new baseline, so no change is invented.

Queries keep a small in-memory index of the log (id, time, host, type, name and the
line's place in the file, not the before/after values, which can hold file contents),
built once at open; a query reads only the lines it returns or has to test for text.
One process uses a data directory (the engine holds its lock); a lock makes the
calls safe from the event loop and worker threads alike.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import logging
import os
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, unquote

from console.changes.codec import (
    change_from_dict,
    change_to_dict,
    snapshot_from_dict,
    snapshot_to_dict,
)
from console.changes.diff import changes_between
from console.changes.model import Change, ChangeType, Snapshot
from console.errors import UsageError
from console.store.atomic import remove_debris, write_atomic
from console.store.damage import fsync_dir, keep_damaged, set_aside
from console.store.jsonl import Line, cut_torn_tail, read_jsonl

log = logging.getLogger(__name__)

DAY = 86400.0
SNAPSHOT_SUFFIX = ".json.z"
COMPRESSION = 1  # zlib level: fastest; level 6 cost 4x the CPU (see bench/changes)


class ChangeNotFound(UsageError):
    """No change has that id (it never existed or retention removed it)."""


@dataclass(frozen=True)
class _Entry:
    """What the index keeps of one change: enough to filter, and where its line is."""

    id: str
    time: float
    host: str
    type: ChangeType
    name: str
    offset: int
    length: int


def _parse_entry(line: Line) -> _Entry:
    """The index entry of one log line; ValueError (kept as damage) when malformed."""
    try:
        change = change_from_dict(json.loads(line.raw))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"not a change ({exc})") from None
    return _Entry(
        change.id, change.time, change.host, change.type, change.name, line.offset, len(line.raw)
    )


def snapshot_file_name(host: str) -> str:
    """A file name for a host's snapshot: the name percent-quoted, a leading dot too
    (so no host name can name a hidden, temporary or outside file)."""
    quoted = quote(host, safe="-_.@")
    if quoted.startswith("."):
        quoted = "%2E" + quoted[1:]
    return quoted + SNAPSHOT_SUFFIX


class ChangeStore:
    """Snapshots and the change log of one data directory (see the module docstring)."""

    def __init__(self, data_dir: Path, *, retention_days: float = 30) -> None:
        self.directory = Path(data_dir) / "changes"
        self.snapshots = self.directory / "snapshots"
        self.log_path = self.directory / "log.jsonl"
        self.retention_days = retention_days
        self.snapshots.mkdir(mode=0o700, parents=True, exist_ok=True)
        remove_debris(self.directory)
        remove_debris(self.snapshots)
        self._lock = threading.RLock()
        self._index: list[_Entry] = []
        self._load_log()

    # -- snapshots ------------------------------------------------------------------

    def latest(self, host: str) -> Snapshot | None:
        """The host's latest snapshot; None before its first collection (or after
        its file was found damaged and set aside)."""
        path = self.snapshots / snapshot_file_name(host)
        with self._lock:
            try:
                raw = path.read_bytes()
            except FileNotFoundError:
                return None
            try:
                return snapshot_from_dict(json.loads(zlib.decompress(raw)))
            except (zlib.error, ValueError, KeyError, TypeError) as exc:
                aside = set_aside(path)
                log.error(
                    "%s does not decode (%s): kept as %s; the next collection is a new baseline",
                    path,
                    exc,
                    aside,
                )
                return None

    def hosts(self) -> list[str]:
        """The hosts that have a snapshot, sorted."""
        names = (p.name for p in self.snapshots.iterdir() if p.name.endswith(SNAPSHOT_SUFFIX))
        return sorted(unquote(name.removesuffix(SNAPSHOT_SUFFIX)) for name in names)

    def collected_times(self) -> dict[str, float]:
        """When each host's latest snapshot was written (its file's time: no snapshot
        is decoded, so this is cheap for 10,000 hosts)."""
        times: dict[str, float] = {}
        for path in self.snapshots.iterdir():
            if path.name.endswith(SNAPSHOT_SUFFIX):
                try:
                    mtime = path.stat().st_mtime
                except FileNotFoundError:  # replaced or set aside meanwhile
                    continue
                times[unquote(path.name.removesuffix(SNAPSHOT_SUFFIX))] = mtime
        return times

    def record(self, snapshot: Snapshot, now: float | None = None) -> list[Change]:
        """Store a successful collection: log what changed since the host's last one
        (nothing for its first) and keep it as the latest. Durable when it returns.
        A failed collection has no snapshot: there is nothing to call this with."""
        stamp = time.time() if now is None else now
        with self._lock:
            changes = changes_between(self.latest(snapshot.host), snapshot, stamp)
            self._append(changes)
            payload = json.dumps(snapshot_to_dict(snapshot), separators=(",", ":")).encode()
            path = self.snapshots / snapshot_file_name(snapshot.host)
            write_atomic(path, zlib.compress(payload, COMPRESSION))
            return changes

    # -- the change log -------------------------------------------------------------

    def _load_log(self) -> None:
        """Index the log; cut a torn tail, keep damaged lines aside and drop them."""
        if not self.log_path.exists():
            return
        cut_torn_tail(self.log_path)
        parsed = read_jsonl(self.log_path, _parse_entry)
        if parsed.damage:
            keep_damaged(self.log_path, parsed.damage)
            self._rewrite(sorted(parsed.items, key=lambda e: e.id))
        else:
            self._index = sorted(parsed.items, key=lambda e: e.id)

    def _append(self, changes: list[Change]) -> None:
        if not changes:
            return
        lines = [
            json.dumps(change_to_dict(c), ensure_ascii=False, separators=(",", ":")).encode()
            for c in changes
        ]
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            offset = os.lseek(fd, 0, os.SEEK_END)
            _write_all(fd, b"".join(line + b"\n" for line in lines))
            os.fsync(fd)
        finally:
            os.close(fd)
        if offset == 0:
            fsync_dir(self.directory)
        for change, line in zip(changes, lines, strict=True):
            entry = _Entry(
                change.id, change.time, change.host, change.type, change.name, offset, len(line)
            )
            offset += len(line) + 1
            if self._index and entry.id < self._index[-1].id:  # the clock went back
                bisect.insort(self._index, entry, key=lambda e: e.id)
            else:
                self._index.append(entry)

    def list_changes(
        self,
        *,
        host: str | None = None,
        type: ChangeType | str | None = None,
        since: float | None = None,
        text: str | None = None,
        limit: int = 200,
        before_id: str | None = None,
    ) -> list[Change]:
        """Changes newest first, filtered by host, type, time (at or after `since`)
        and `text` (case-insensitive, in the host, name or before/after values, file
        content included); page with `before_id` = the last id of the previous page."""
        kind = None if type is None else _change_type(type)
        needle = text.lower() if text else None
        found: list[Change] = []
        with self._lock, _open_or_none(self.log_path) as handle:
            for entry in self._newest_first(before_id):
                if since is not None and entry.time < since:
                    break  # ids sort by time: everything further is older
                if (host and entry.host != host) or (kind and entry.type is not kind):
                    continue
                change = change_from_dict(json.loads(_read_line(handle, entry)))
                if needle and needle not in _searchable(change):
                    continue
                found.append(change)
                if len(found) >= limit:
                    break
        return found

    def get_change(self, change_id: str) -> Change:
        """The change `change_id`; ChangeNotFound when there is none."""
        with self._lock:
            at = bisect.bisect_left(self._index, change_id, key=lambda e: e.id)
            if at == len(self._index) or self._index[at].id != change_id:
                raise ChangeNotFound(f"no change {change_id!r} (see `opsconsole changes list`)")
            with self.log_path.open("rb") as handle:
                return change_from_dict(json.loads(_read_line(handle, self._index[at])))

    def __len__(self) -> int:
        with self._lock:
            return len(self._index)

    def _newest_first(self, before_id: str | None) -> Iterator[_Entry]:
        stop = len(self._index)
        if before_id is not None:
            stop = bisect.bisect_left(self._index, before_id, key=lambda e: e.id)
        return (self._index[i] for i in range(stop - 1, -1, -1))

    # -- retention ------------------------------------------------------------------

    def apply_retention(self, now: float | None = None, days: float | None = None) -> int:
        """Drop changes older than `days` (default the store's, 30 like jobs) by
        rewriting the log atomically; returns how many went. Snapshots stay: each is
        its host's baseline. Run it in a thread (it reads the whole log)."""
        cutoff = (time.time() if now is None else now) - DAY * (
            self.retention_days if days is None else days
        )
        with self._lock:
            kept = [entry for entry in self._index if entry.time >= cutoff]
            removed = len(self._index) - len(kept)
            if removed:
                self._rewrite(kept)
            return removed

    def _rewrite(self, entries: list[_Entry]) -> None:
        """Replace the log with the lines of `entries` (atomically) and reindex."""
        data = self.log_path.read_bytes() if self.log_path.exists() else b""
        chunks, index, offset = [], [], 0
        for entry in entries:
            chunks.append(data[entry.offset : entry.offset + entry.length] + b"\n")
            index.append(dataclasses.replace(entry, offset=offset))
            offset += entry.length + 1
        write_atomic(self.log_path, b"".join(chunks))
        self._index = index


def _change_type(value: ChangeType | str) -> ChangeType:
    try:
        return ChangeType(value)
    except ValueError:
        kinds = ", ".join(kind.value for kind in ChangeType)
        raise UsageError(f"unknown change type {value!r} (one of {kinds})") from None


def _searchable(change: Change) -> str:
    """The text a filter looks in: host, name and the before/after values (a file's
    content too: "which change touched PermitRootLogin?"), not the JSON keys."""
    values = [change.host, change.name]
    for side in (change.before, change.after):
        if isinstance(side, dict):
            values.extend(str(value) for value in side.values())
        elif side is not None:
            values.append(str(side))
    return "\n".join(values).lower()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_line(handle: BinaryIO | None, entry: _Entry) -> bytes:
    assert handle is not None  # an indexed entry means the log exists
    handle.seek(entry.offset)
    return handle.read(entry.length)


@contextmanager
def _open_or_none(path: Path) -> Iterator[BinaryIO | None]:
    """The file open for reading, or None when it does not exist (yet)."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        yield None
        return
    with handle:
        yield handle
