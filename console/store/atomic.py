"""A TinyDB storage whose writes are atomic and durable, and a string-keyed table.

TinyDB's stock `JSONStorage` rewrites its file in place: a crash in the middle of a
write leaves a torn or empty file and the whole table is lost. `AtomicJSONStorage`
writes the new content to a temporary file in the same directory, fsyncs it, renames
it over the target (atomic on POSIX) and fsyncs the directory so the rename itself
survives a power cut. A reader therefore always sees either the old or the new file.

The storage also keeps the last state it read or wrote in memory, so TinyDB (which
calls `read()` before every operation) parses the file once, not on every query.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Table as TinyTable

from console.errors import OpsError
from console.store.damage import encode_tables, salvage_tables, set_aside
from console.store.damage import fsync_dir as fsync_dir  # re-exported: the store's callers

log = logging.getLogger(__name__)

TMP_MARK = ".tmp-"  # temp files are named ".<target>.tmp-<pid>"; leftovers are debris


class StoreCorrupt(OpsError):
    """A store file exists but cannot be parsed (disk damage or a hand edit)."""


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash leaves the old or the new content."""
    tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # e.g. a full disk: the target is untouched
        raise
    fsync_dir(path.parent)


def remove_debris(directory: Path) -> None:
    """Delete temp files a crashed writer left behind (they were never renamed)."""
    if not directory.is_dir():
        return
    for leftover in directory.glob(f".*{TMP_MARK}*"):
        leftover.unlink(missing_ok=True)


def read_json(path: Path) -> Any:
    """Load a JSON file; a file that exists but does not parse is a typed error."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    if not raw:  # atomic writes never leave an empty file: something else truncated it
        raise StoreCorrupt(f"{path} is empty; move it aside to start that table afresh")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise StoreCorrupt(
            f"{path} is not valid JSON ({exc}); move it aside to start that table afresh"
        ) from exc


class AtomicJSONStorage(Storage):
    """TinyDB storage: one JSON file, replaced atomically on each write, cached in memory.

    A file that does not parse is repaired on first read (see .damage): set aside as
    `.damaged`, and what still parses of it written in its place. With `repair=False`
    (derived files that are better rebuilt) it raises StoreCorrupt instead."""

    def __init__(self, path: str | Path, repair: bool = True) -> None:
        super().__init__()
        self.path = Path(path)
        self.repair = repair
        self._cache: dict[str, dict[str, Any]] | None = None
        self.size = self.path.stat().st_size if self.path.exists() else 0

    def read(self) -> dict[str, dict[str, Any]] | None:
        if self._cache is None:
            try:
                self._cache = read_json(self.path)
            except StoreCorrupt:
                if not self.repair:
                    raise
                self._cache = self._salvage()
        return self._cache

    def _salvage(self) -> dict[str, dict[str, Any]]:
        """Keep the damaged file aside and carry on with the rows that still parse."""
        tables, damage = salvage_tables(self.path.read_bytes())
        aside = set_aside(self.path)
        self.persist(tables)
        rows = sum(len(t) for t in tables.values())
        log.error(
            "%s was damaged: kept as %s; %d row(s) recovered, %d damaged line(s) lost "
            "(they are in the kept file)",
            self.path,
            aside,
            rows,
            len(damage),
        )
        return tables

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        # TinyDB mutates the dict `read()` returned before calling `write()`: if the
        # write fails, forget the cache so the next read reflects what is on disk.
        self._cache = None
        self.persist(data)
        self._cache = data

    def persist(self, data: dict[str, dict[str, Any]]) -> None:
        """Write `data` (a snapshot taken by the caller) to the file, leaving the
        in-memory state alone: it may have moved on since the snapshot."""
        payload = encode_tables(data)
        write_atomic(self.path, payload)
        self.size = len(payload)

    def live(self) -> dict[str, dict[str, Any]]:
        """The in-memory state, for changes that `persist` will write later."""
        data = self.read()
        if data is None:
            data = self._cache = {}
        return data


class KeyedTable(TinyTable):
    """A TinyDB table whose document ids are strings (a job id, a schedule name)."""

    document_id_class = str  # type: ignore[assignment]

    def put(self, key: str, doc: Mapping[str, Any]) -> None:
        """Insert or fully replace the document `key` in one atomic write."""
        self.put_many({key: doc})

    def put_many(self, docs: Mapping[str, Mapping[str, Any]], cap: int | None = None) -> None:
        """Insert or replace several documents in one atomic write.

        With `cap`, the oldest-inserted documents beyond `cap` are dropped in the same
        write, so a log-like table stays bounded."""

        def updater(table: dict[str, Any]) -> None:
            for key, doc in docs.items():
                table[key] = dict(doc)
            while cap is not None and len(table) > cap:
                del table[next(iter(table))]

        self._update_table(updater)  # type: ignore[arg-type]

    def delete_many(self, keys: Iterable[str]) -> list[str]:
        """Remove the documents `keys` that exist, in one atomic write."""
        removed = self.remove(doc_ids=list(keys))  # type: ignore[arg-type]
        return [str(key) for key in removed]

    def raw(self) -> Mapping[str, Any]:
        """The stored documents by key, without copying: callers must not mutate them."""
        return self._read_table()


class AtomicDB(TinyDB):
    """TinyDB on `AtomicJSONStorage` with string-keyed tables."""

    table_class = KeyedTable

    def __init__(self, path: Path, *, repair: bool = True) -> None:
        super().__init__(path, storage=AtomicJSONStorage, repair=repair)

    def keyed(self, name: str) -> KeyedTable:
        table = self.table(name, cache_size=0)
        assert isinstance(table, KeyedTable)
        return table

    @property
    def atomic_storage(self) -> AtomicJSONStorage:
        storage = self.storage
        assert isinstance(storage, AtomicJSONStorage)
        return storage
