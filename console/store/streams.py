"""Job stream records: one append-only JSON-lines file per job, outside TinyDB.

A job can print tens of thousands of lines; keeping them in TinyDB would rewrite the
file on every line. Here each record is one line `{"time","host","stream","text"}`
appended to `streams/<job id>.jsonl` and flushed at once (so a crash of the process
loses nothing already appended); `sync` fsyncs it when a host run ends (so a power
cut loses nothing of a finished host run).

A crash can leave a torn last line. Readers ignore it (see .jsonl), and the next
append to that file first cuts it off, so a torn line never ends up glued to a good
one. A damaged line elsewhere (disk damage, a hand edit) costs that line only: the
first read that meets it moves it to `<job id>.jsonl.damaged`, logs it and rewrites
the file without it (see .damage); every other record stays readable.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from console.jobs.model import StreamRecord, job_id_time
from console.store.atomic import write_atomic
from console.store.damage import SUFFIX, fsync_dir, keep_damaged
from console.store.job_records import check_id
from console.store.jsonl import Line, cut_torn_tail, parse_lines, whole_lines

OPEN_FILES = 128  # append handles kept open; more running jobs just reopen theirs


def encode(value: str) -> bytes:
    """The exact bytes a string field is written as (readers pre-filter on them)."""
    return json.dumps(value, ensure_ascii=False).encode()


def record_line(record: StreamRecord) -> bytes:
    return json.dumps(record.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()


def parse_record(line: bytes) -> StreamRecord:
    """The record of one line; ValueError when the line is damaged."""
    try:
        raw = json.loads(line)
        record = StreamRecord(
            time=raw["time"], host=raw["host"], stream=raw["stream"], text=raw["text"]
        )
    except (ValueError, KeyError, TypeError):
        raise ValueError("not a stream record") from None
    fields_ok = isinstance(record.time, (int, float)) and all(
        isinstance(v, str) for v in (record.host, record.stream, record.text)
    )
    if not fields_ok:
        raise ValueError("not a stream record")
    return record


class StreamFiles:
    """The per-job stream files under one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._handles: OrderedDict[str, BinaryIO] = OrderedDict()

    def path(self, job_id: str) -> Path:
        check_id(job_id)  # also keeps a crafted id from naming a file elsewhere
        return self.directory / f"{job_id}.jsonl"

    def _handle(self, job_id: str) -> BinaryIO:
        handle = self._handles.get(job_id)
        if handle is not None:
            self._handles.move_to_end(job_id)
            return handle
        path = self.path(job_id)
        if path.exists():
            cut_torn_tail(path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        handle = os.fdopen(fd, "ab")
        self._handles[job_id] = handle
        while len(self._handles) > OPEN_FILES:
            _, oldest = self._handles.popitem(last=False)
            oldest.close()
        return handle

    def append(self, job_id: str, records: Sequence[StreamRecord]) -> None:
        """Append and flush (no fsync): cheap enough to call from the event loop."""
        if not records:
            return
        handle = self._handle(job_id)
        handle.write(b"".join(record_line(r) + b"\n" for r in records))
        handle.flush()

    def sync(self, job_id: str) -> None:
        """fsync the job's file (and its directory entry) and close its handle."""
        handle = self.detach(job_id)
        if handle is not None:
            self.sync_handle(handle)

    def detach(self, job_id: str) -> BinaryIO | None:
        """Take the job's open handle out of the cache (a later append reopens the
        file), so it can be synced without holding the store's lock."""
        return self._handles.pop(job_id, None)

    def sync_handle(self, handle: BinaryIO) -> None:
        os.fsync(handle.fileno())
        handle.close()
        fsync_dir(self.directory)

    def read(
        self, job_id: str, host: str | None = None, stream: str | None = None
    ) -> list[StreamRecord]:
        """The job's records in write order, optionally for one host and/or stream.

        Lines that cannot match are rejected on their raw bytes before any JSON
        parsing, so filtering a 10,000-line job costs little more than reading it.
        A damaged line found on the way is repaired away (see `_repair`)."""
        handle = self._handles.get(job_id)
        if handle is not None:
            handle.flush()
        try:
            data = self.path(job_id).read_bytes()
        except FileNotFoundError:
            return []
        lines, _ = whole_lines(data)
        records = self._select(lines, host, stream)
        if records is None:
            records = self._select(self._repair(job_id, lines), host, stream)
        assert records is not None  # a repaired file holds only good lines
        return records

    def _select(
        self, lines: list[Line], host: str | None, stream: str | None
    ) -> list[StreamRecord] | None:
        """The records of `lines` that match, or None at the first damaged one."""
        needles = []
        if host is not None:
            needles.append(b'"host":' + encode(host))
        if stream is not None:
            needles.append(b'"stream":' + encode(stream))
        records = []
        for line in lines:
            if not all(needle in line.raw for needle in needles):
                continue
            try:
                record = parse_record(line.raw)
            except ValueError:
                return None
            if (host is None or record.host == host) and (
                stream is None or record.stream == stream
            ):
                records.append(record)
        return records

    def _repair(self, job_id: str, lines: list[Line]) -> list[Line]:
        """Move the file's damaged lines to `<job id>.jsonl.damaged` (logged there,
        once) and rewrite the file with every other line; returns those lines. The
        append handle is closed first: the next append reopens the new file."""
        path = self.path(job_id)
        good, damage = parse_lines(lines, _checked)
        handle = self._handles.pop(job_id, None)
        if handle is not None:
            handle.close()
        keep_damaged(path, damage)
        write_atomic(path, b"".join(line.raw + b"\n" for line in good))
        return good

    def sweep(self, cutoff: float, keep: set[str]) -> int:
        """Delete the files of jobs created before `cutoff`, except `keep`."""
        removed = 0
        for entry in os.scandir(self.directory):
            job_id = entry.name.removesuffix(".jsonl")
            if (
                entry.name.endswith(".jsonl")
                and len(job_id) == 20
                and job_id not in keep
                and job_id_time(job_id) < cutoff
            ):
                self.sync(job_id)
                os.unlink(entry.path)
                Path(entry.path + SUFFIX).unlink(missing_ok=True)  # its kept damage
                removed += 1
        if removed:
            fsync_dir(self.directory)
        return removed

    def close(self) -> None:
        for job_id in list(self._handles):
            self.sync(job_id)


def _checked(line: Line) -> Line:
    """The line itself, once it parses as a stream record (the repair keeps its bytes)."""
    parse_record(line.raw)
    return line
