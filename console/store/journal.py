"""The job journal: an append-only file of job documents, so a job write costs O(1).

A job's segment holds up to 500 jobs, and rewriting it (encode, write, fsync, rename)
on every state change costs milliseconds that grow with the segment. Instead each
change is one line appended to `jobs/journal.jsonl`, `[segment start, job document]`,
and one `fdatasync` makes a whole batch of lines durable. The segment files, the
summaries and the active index are rewritten only when the journal is *compacted*
(every few MB, at close, and at open after a crash); then the journal is emptied.

Replaying a line is idempotent (it replaces the whole job document), so a crash in the
middle of a compaction, when some files are new and the journal is still full, is
repaired by replaying it again. A crash in the middle of an append leaves a torn last
line, which was never acknowledged: replay stops at the first line that is not a whole
entry, and the compaction that follows at open empties the file.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from console.errors import OpsError
from console.store.atomic import fsync_dir


class StoreWriteFailed(OpsError):
    """The disk refused a store write (full, read-only, I/O error). After a failed
    fsync the kernel may have dropped the data, so the store takes no further writes:
    free the space or fix the disk, then restart the engine, which replays what did
    reach the disk."""


def entry_line(start: str, doc: Mapping[str, Any]) -> bytes:
    """One journal line: the segment the job lives in and its whole document."""
    return json.dumps([start, doc], separators=(",", ":")).encode() + b"\n"


def read_entries(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """The whole entries of a journal, in order, up to the first torn or damaged line."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    for line in data.split(b"\n")[:-1]:  # the part after the last newline is torn
        try:
            start, doc = json.loads(line)
        except ValueError:
            return
        if not isinstance(start, str) or not isinstance(doc, dict):
            return
        yield start, doc


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

    def close(self) -> None:
        os.close(self._fd)
