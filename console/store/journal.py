"""The job journal: an append-only file of job documents, so a job write costs O(1).

A job's segment holds up to 500 jobs, and rewriting it (encode, write, fsync, rename)
on every state change costs milliseconds that grow with the segment. Instead each
change is one line appended to `jobs/journal.jsonl`, `[segment start, job document]`,
and one `fdatasync` makes a whole batch of lines durable. The segment files, the
summaries and the active index are rewritten only when the journal is *compacted*
(when it has grown past a size threshold, see .jobs); then the journal is emptied.

Replaying a line is idempotent (it replaces the whole job document), so a crash in the
middle of a compaction, when some files are new and the journal is still full, is
repaired by replaying it again. A crash in the middle of an append leaves a torn last
line (no newline), which was never acknowledged: replay drops it silently, and open
cuts it off before anything is appended.

Each line carries the CRC-32 of its JSON (`<crc as 8 hex digits> <json>`), as LevelDB's
and PostgreSQL's logs checksum each record, so a flipped byte anywhere is found rather
than replayed. A damaged line in the middle is skipped, kept in `journal.jsonl.damaged`
and logged (see .damage); the lines after it are replayed, so the compaction keeps
them. (Lines without a CRC, from before it existed, are still read.)
"""

from __future__ import annotations

import contextlib
import json
import os
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from console.errors import OpsError
from console.store.damage import fsync_dir
from console.store.jsonl import Damage, Line, read_jsonl


class StoreWriteFailed(OpsError):
    """The disk refused a store write (full, read-only, I/O error). After a failed
    fsync the kernel may have dropped the data, so the store takes no further writes:
    free the space or fix the disk, then restart the engine, which replays what did
    reach the disk."""


def entry_line(start: str, doc: Mapping[str, Any]) -> bytes:
    """One journal line: the segment the job lives in and its whole document."""
    body = json.dumps([start, doc], separators=(",", ":")).encode()
    return b"%08x %s\n" % (zlib.crc32(body), body)


class Entry(NamedTuple):
    """One intact journal line: where it was, its bytes, and what it says."""

    line: int
    offset: int
    raw: bytes
    start: str
    doc: dict[str, Any]


def read_entries(path: Path) -> tuple[list[Entry], list[Damage], int]:
    """The intact entries of a journal, in order, the damaged lines among them, and
    the offset just after the last whole line: the torn tail after it is neither (see
    .jsonl)."""
    parsed = read_jsonl(path, _entry)
    return parsed.items, parsed.damage, parsed.end


def _entry(line: Line) -> Entry:
    return Entry(line.number, line.offset, line.raw, *parse_entry(line.raw))


def parse_entry(line: bytes) -> tuple[str, dict[str, Any]]:
    """`[start, doc]` of one line, or ValueError saying why it is damaged."""
    body = line
    if not line.startswith(b"["):  # the CRC-framed form
        crc, _, body = line.partition(b" ")
        if len(crc) != 8 or int(crc, 16) != zlib.crc32(body):
            raise ValueError("checksum mismatch")
    entry = json.loads(body)
    if not (isinstance(entry, list) and len(entry) == 2):
        raise ValueError("not a [segment, job] pair")
    start, doc = entry
    if not isinstance(start, str) or not isinstance(doc, dict):
        raise ValueError("not a [segment, job] pair")
    return start, doc


class Journal:
    """The open journal file: `append` (no fsync), `sync`, `reset` (empty it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        created = not path.exists()
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if created:
            fsync_dir(path.parent)
        self.size = os.fstat(self._fd).st_size

    def append(self, data: bytes) -> None:
        """Write `data` at the end; on failure cut the file back so no partial line
        is followed by later ones."""
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            with contextlib.suppress(OSError):  # replay stops at a partial line anyway
                os.ftruncate(self._fd, self.size)
            raise StoreWriteFailed(f"could not write {self.path}: {exc}") from exc
        self.size += len(data)

    def sync(self) -> None:
        try:
            os.fdatasync(self._fd)
        except OSError as exc:
            raise StoreWriteFailed(f"could not sync {self.path}: {exc}") from exc

    def reset(self) -> None:
        """Empty the journal once everything in it is in the compacted files."""
        try:
            os.ftruncate(self._fd, 0)
            os.fsync(self._fd)
        except OSError as exc:
            raise StoreWriteFailed(f"could not empty {self.path}: {exc}") from exc
        self.size = 0

    def cut(self, end: int) -> None:
        """Drop a torn tail (bytes after offset `end`, the last whole line), so that
        the next append starts a line of its own instead of gluing onto it."""
        if self.size <= end:
            return
        try:
            os.ftruncate(self._fd, end)
            os.fsync(self._fd)
        except OSError as exc:
            raise StoreWriteFailed(f"could not cut the torn tail of {self.path}: {exc}") from exc
        self.size = end

    def close(self) -> None:
        os.close(self._fd)
