"""The intake journal: webhook requests the worker accepted, durable before their 202.

Files live in `DATA_DIR/intake/`, named by creation time so they sort in order; one
line per accepted request (`IntakeRecord`). The worker appends and makes a whole batch
durable with one fdatasync (group commit, in a thread, so the event loop keeps
answering), then tells the engine how far the file is durable. A file is closed at
`ROTATE_AT` bytes and the worker starts a new one; the engine deletes a closed file
once every job in it is durable in the store. Files are zero-filled when made; the
data ends at the last newline. A torn last line (a crash mid-write) was never
acknowledged, and readers stop before it (see `console.store.jsonl`). A whole line
that is no record (a damaged disk block) costs that record alone: it is kept in
`FILE.damaged` beside the file and logged once, as the store keeps its damage (see
`console.store.damage`), and the lines after it are read as usual. Records the engine
cannot import are kept in `rejected.jsonl` (see `console.webhooks.intake.process`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.store.atomic import fsync_dir
from console.store.damage import keep_damaged
from console.store.journal import StoreWriteFailed
from console.store.jsonl import Line, parse_lines, read_jsonl, whole_lines
from console.webhooks.limits import MAX_RECORD_DEPTH, body_too_deep, value_depth

log = logging.getLogger("console.webhooks.intake")

INTAKE_DIR = "intake"
ROTATE_AT = 4 * 1024 * 1024  # a file takes no new batch once it holds this much
PREALLOCATED = ROTATE_AT + 1024 * 1024  # zeros written when a file is made (see _write)
SUFFIX = ".jsonl"
REJECTED = "rejected.jsonl"  # records the engine could not import, kept for the operator
_JOURNAL_NAME = re.compile(r"\d+-\d+" + re.escape(SUFFIX))
# The fields `IntakeRecord.to_line` writes first, up to the parameters.
_HEAD = re.compile(rb'(\{"id":"[^"\\]*","created":[0-9.eE+-]+,"webhook":.*?),"parameters":')


def intake_dir(data_dir: Path) -> Path:
    return Path(data_dir) / INTAKE_DIR


def journal_files(directory: Path) -> list[Path]:
    """The intake files in the order they were written (not the files kept aside)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob(f"*{SUFFIX}") if _JOURNAL_NAME.fullmatch(p.name))


@dataclass(frozen=True)
class IntakeRecord:
    """One accepted webhook request: what the engine needs to create its job. The
    webhook's runbook, pattern and parameters are those it had when the request came."""

    id: str
    created: float
    webhook: str
    runbook: str
    pattern: str
    parameters: dict[str, str]
    data: dict[str, Any]  # WebhookData
    line: bytes = field(default=b"", compare=False, repr=False)  # as read from the journal

    def to_line(self) -> bytes:
        doc = {
            "id": self.id,
            "created": self.created,
            "webhook": self.webhook,
            "runbook": self.runbook,
            "pattern": self.pattern,
            "parameters": self.parameters,
            "data": self.data,
        }
        return json.dumps(doc, separators=(",", ":")).encode() + b"\n"

    def too_deep(self) -> bool:
        """Whether its data nests deeper than a webhook body may (see limits): judged
        on the line when there is one, at C speed, since the data may be large."""
        if self.line:  # {"id":..,"data":{"RequestBodyJson":body}}: one more level
            return body_too_deep(self.line, MAX_RECORD_DEPTH + 1)
        return value_depth(self.data) > MAX_RECORD_DEPTH

    @classmethod
    def from_dict(cls, doc: dict[str, Any], line: bytes = b"") -> IntakeRecord:
        return cls(
            id=str(doc["id"]),
            created=float(doc["created"]),
            webhook=str(doc["webhook"]),
            runbook=str(doc["runbook"]),
            pattern=str(doc["pattern"]),
            parameters={str(k): str(v) for k, v in dict(doc["parameters"]).items()},
            data=dict(doc["data"]),
            line=line,
        )

    @classmethod
    def from_line(cls, line: bytes) -> IntakeRecord:
        """The record of one journal line (without its newline). Raises ValueError when
        the line is no record: damaged on disk, or not written by a worker."""
        try:
            return cls.from_dict(json.loads(line), line + b"\n")
        except RecursionError:
            return cls._too_deep_to_read(line)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not an intake record: {exc}") from None

    @classmethod
    def _too_deep_to_read(cls, line: bytes) -> IntakeRecord:
        """A record nested too deeply for json (written before the worker had a nesting
        limit): its id and webhook, from the fields `to_line` writes first, with no
        data, so that the engine can fail its job and keep the line aside."""
        head = _HEAD.match(line)
        if head is None:
            raise ValueError("not an intake record: nested too deeply to read")
        fields = json.loads(head.group(1) + b"}")
        return cls.from_dict({**fields, "parameters": {}, "data": {}}, line + b"\n")


def read_records(
    path: Path, start: int = 0, end: int | None = None
) -> tuple[list[IntakeRecord], int]:
    """The whole records in bytes [start, end) of an intake file, up to its zeros, and
    the offset just after the last whole line. A damaged line is skipped: it is kept in
    `FILE.damaged` beside the file and logged, once (see `keep_damaged`)."""
    parsed = read_jsonl(path, _record, start, end, zero_filled=True)
    if parsed.damage:
        keep_damaged(path, parsed.damage)
    return parsed.items, parsed.end


def read_records_from(data: bytes) -> list[IntakeRecord]:
    """The records in the whole lines of `data`, skipping those that are no record."""
    lines, _ = whole_lines(data, zero_filled=True)
    return parse_lines(lines, _record)[0]


def _record(line: Line) -> IntakeRecord:
    return IntakeRecord.from_line(line.raw)


def rejected_path(directory: Path) -> Path:
    return directory / REJECTED


async def claim(path: Path, timeout: float) -> None:
    """Wait until no worker writes `path`. A worker holds an flock on the file it
    writes; one whose engine died finishes the requests it had taken before it exits,
    and a new engine must not import (and delete) that file before then. After
    `timeout` the file is taken anyway (what is durable in it is imported)."""
    with contextlib.suppress(FileNotFoundError), path.open("rb") as file:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if asyncio.get_running_loop().time() > deadline:
                    return
                await asyncio.sleep(0.05)


Durable = Callable[[str, int], None]


class IntakeWriter:
    """The worker's side: `await append(line)` returns once the line is durable.
    `on_durable(file_name, end)` is called after each sync with the durable end of the
    current file (a new file name means every earlier file is complete).

    A thread of its own takes whatever lines are waiting, writes them, syncs, and
    starts on the next lines at once: it never waits for the event loop between two
    syncs (a busy loop would otherwise stretch every sync cycle). The loop only queues
    lines and, told by the thread, answers their waiters."""

    def __init__(self, directory: Path, on_durable: Durable) -> None:
        self._directory = directory
        self._on_durable = on_durable
        self._loop = asyncio.get_running_loop()
        self._pending: deque[tuple[bytes, asyncio.Future[None]]] = deque()
        self._thread_idle = True
        self._kicks: queue.SimpleQueue[bool] = queue.SimpleQueue()
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._name, self._fd, self._size = self._open()
        self._thread = threading.Thread(target=self._sync_thread, name="intake sync", daemon=True)
        self._thread.start()

    async def append(self, line: bytes) -> None:
        done: asyncio.Future[None] = self._loop.create_future()
        self._pending.append((line, done))
        if self._thread_idle:
            self._thread_idle = False
            self._kicks.put(True)
        await done  # each line has its own future: cancelling one cancels no write

    async def close(self) -> None:
        """Write what was appended, stop the thread, close the file. Waiters are
        answered before this returns (the thread's callbacks precede the join's)."""
        self._kicks.put(False)
        await asyncio.to_thread(self._thread.join)
        os.close(self._fd)

    def _sync_thread(self) -> None:
        """(its thread) While lines are waiting: write and sync them, hand the result
        to the loop, rotate a full file. Then sleep until kicked."""
        while self._kicks.get():
            self._drain()
        self._drain()  # closing: what is left

    def _drain(self) -> None:
        """Sync batches until none is waiting, then mark the thread idle. A line queued
        after the last take saw the thread busy and did not kick: take it too, unless
        its kick came after all (the thread is then marked busy again)."""
        while True:
            while batch := self._take():
                self._sync(batch)
            self._thread_idle = True
            if not (self._pending and self._thread_idle):
                return
            self._thread_idle = False

    def _take(self) -> list[tuple[bytes, asyncio.Future[None]]]:
        batch = []
        with contextlib.suppress(IndexError):
            while True:
                batch.append(self._pending.popleft())
        return batch

    def _sync(self, batch: list[tuple[bytes, asyncio.Future[None]]]) -> None:
        try:
            self._write(b"".join(line for line, _ in batch))
        except StoreWriteFailed as exc:
            self._loop.call_soon_threadsafe(self._settle, batch, self._name, self._size, exc)
            return
        self._loop.call_soon_threadsafe(self._settle, batch, self._name, self._size, None)
        if self._size >= ROTATE_AT:
            try:
                rotated = self._open()
            except StoreWriteFailed as exc:  # the current file just grows
                log.error("%s", exc)
                return
            os.close(self._fd)
            self._name, self._fd, self._size = rotated

    def _settle(
        self,
        batch: list[tuple[bytes, asyncio.Future[None]]],
        name: str,
        end: int,
        error: StoreWriteFailed | None,
    ) -> None:
        """(loop) Answer the batch's waiters; report how far `name` is durable."""
        for _, done in batch:
            if done.done():  # cancelled: its request was abandoned
                continue
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)
        if error is None:
            self._on_durable(name, end)

    def _write(self, data: bytes) -> None:
        """(worker thread) Write after the last line and fdatasync. The file is zeros
        up to PREALLOCATED, so this changes neither its size nor its block map, and the
        fdatasync flushes data only: no filesystem journal commit, which would queue
        behind the engine's own syncs. On failure the bytes are zeroed again, so a line
        that was not acknowledged is never followed by later ones."""
        try:
            view, offset = memoryview(data), self._size
            while view:
                written = os.pwrite(self._fd, view, offset)
                view, offset = view[written:], offset + written
            os.fdatasync(self._fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.pwrite(self._fd, bytes(len(data)), self._size)
            path = self._directory / self._name
            raise StoreWriteFailed(f"could not write {path}: {exc}") from exc
        self._size += len(data)

    def _open(self) -> tuple[str, int, int]:
        """A new file, zero-filled and synced (what PostgreSQL does for its WAL)."""
        name = f"{time.time_ns():020d}-{os.getpid()}{SUFFIX}"
        fd = os.open(self._directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # held while this process writes it: see claim()
            os.pwrite(fd, bytes(PREALLOCATED), 0)
            os.fsync(fd)
            fsync_dir(self._directory)
        except OSError as exc:
            os.close(fd)
            raise StoreWriteFailed(f"could not create {self._directory / name}: {exc}") from exc
        return name, fd, 0
