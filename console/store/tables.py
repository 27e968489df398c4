"""Small named tables (schedules, webhooks, assets, schedule decisions).

Each table is its own TinyDB file, `tables/<name>.json`, written atomically, and holds
documents by a string key. Tables are for small data: at most a few thousand small
documents, since every write rewrites the file (a few hundred KB at most).

A log-like table (the scheduler's decisions) must not grow forever: open it with
`cap=N` and each write drops the oldest-inserted rows beyond N in the same atomic
write. Use keys that sort by time (e.g. `f"{time:017.6f}-{schedule}"`) so `all()`,
which returns rows in insertion order, reads as a log.
"""

from __future__ import annotations

import copy
import re
import threading
from pathlib import Path
from typing import Any

from console.errors import UsageError
from console.store.atomic import AtomicDB, KeyedTable

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


class Table:
    """A string-keyed table in its own atomic file; safe to call from the event loop
    (writes are small). Documents must be JSON-serialisable dicts."""

    def __init__(self, path: Path, lock: threading.RLock, cap: int | None = None) -> None:
        self.path = path
        self.cap = cap
        self._lock = lock
        self._db = AtomicDB(path)

    @property
    def _rows(self) -> KeyedTable:
        return self._db.keyed("rows")

    def all(self) -> dict[str, dict[str, Any]]:
        """Every row by key, in insertion order (copies: changing them changes nothing)."""
        with self._lock:
            return copy.deepcopy(dict(self._rows.raw()))

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            doc = self._rows.raw().get(key)
            return copy.deepcopy(doc) if doc is not None else None

    def upsert(self, key: str, doc: dict[str, Any]) -> None:
        """Insert or replace the row `key`; durable when it returns."""
        with self._lock:
            self._rows.put_many({key: copy.deepcopy(doc)}, cap=self.cap)

    def delete(self, key: str) -> bool:
        """Remove the row `key`; False when there was none."""
        with self._lock:
            if key not in self._rows.raw():
                return False
            self._rows.delete_many([key])
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._rows.raw())

    def close(self) -> None:
        self._db.close()


def check_table_name(name: str) -> None:
    if not _NAME.match(name):
        raise UsageError(
            f"{name!r} is not a table name (lower-case letters, digits, "
            "'_' and '-', starting with a letter)"
        )
