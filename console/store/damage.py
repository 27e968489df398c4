"""What the store does with a damaged record: skip it, keep it, say so once.

Disks, filesystems and hand edits damage files. A store that stops at the first bad
byte (refusing to start, or dropping everything after it) turns one bad sector into a
lost history. The most trusted stores do otherwise: LevelDB's and RocksDB's log
readers checksum every record and skip a corrupted one, reporting the bytes dropped;
SQLite's `.recover` and PostgreSQL's `zero_damaged_pages` salvage what still reads.
So here every damaged record is

- skipped: every good record before and after it is kept, and written back, so the
  next compaction or rewrite cannot lose them;
- kept: where it was and why (a `# FILE line N (byte B): why` line), then its raw
  bytes, go to `<file>.damaged` beside the file, durably, and a file read again after
  a crash adds no second copy (a whole TinyDB file that does not parse is renamed to
  `<file>.damaged` and what still parses of it is written in its place);
- logged once, at ERROR: the repair rewrites the file without the damage, so the
  next read finds nothing to report.

A torn tail (the last line without its newline) is not damage: it is a write a crash
cut short, never acknowledged, and it is dropped silently (see .jsonl, which reads
every append-only file).

TinyDB files are written one row per line (see `encode_tables`; still plain JSON) so
that damage costs the one row it hits, not the whole table.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from console.store.jsonl import Damage, line_numbers, whole_lines

log = logging.getLogger(__name__)

SUFFIX = ".damaged"
_TABLE_HEADER = re.compile(rb'^\{?("(?:[^"\\]|\\.)*"):\{$')
_CLOSERS = {b"}", b"},", b"}}"}


def fsync_dir(directory: Path) -> None:
    """Make a rename or unlink in `directory` durable (also exported by .atomic)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def keep_damaged(path: Path, damage: Sequence[Damage]) -> None:
    """Keep each damaged record in `<path>.damaged` (a `# where: why` line, then the
    raw bytes), durably, and log once the records not kept there before."""
    aside = path.with_name(path.name + SUFFIX)
    entries = {
        f"# {path.name} line {d.line} (byte {d.offset}): {d.why}\n".encode() + d.raw + b"\n": d
        for d in damage
    }
    kept = [entries[chunk] for chunk in append_once(aside, list(entries))]
    if kept:
        log.error(
            "%s: skipped %d damaged record(s) (line %s); kept in %s",
            path,
            len(kept),
            line_numbers(kept),
            aside,
        )


def append_once(path: Path, chunks: Sequence[bytes]) -> list[bytes]:
    """Append each chunk (whole lines) to `path` unless the file holds it already, and
    make it durable (file and directory) before returning: the file it came from may
    be deleted next. A file read again after a crash thus adds no copies. Returns the
    chunks that were new, so that each is logged once."""
    try:
        held = b"\n" + path.read_bytes()
    except FileNotFoundError:
        held = b"\n"
    new = [chunk for chunk in dict.fromkeys(chunks) if b"\n" + chunk not in held]
    if not new:
        return []
    lead = b"" if held.endswith(b"\n") else b"\n"  # after a torn append: a line of its own
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, lead + b"".join(new))
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(path.parent)
    return new


def set_aside(path: Path) -> Path:
    """Rename a damaged whole file to `<path>.damaged` (never over an earlier one)."""
    aside = path.with_name(path.name + SUFFIX)
    if aside.exists():
        aside = path.with_name(f"{path.name}{SUFFIX}-{time.time_ns()}")
    os.replace(path, aside)
    fsync_dir(path.parent)
    return aside


def encode_tables(data: Mapping[str, Mapping[str, Any]]) -> bytes:
    """TinyDB's JSON with one row per line: `{"table":{` NL `"key":{...},` NL ... `}}`.
    JSON strings never hold a raw newline, so every newline is between rows."""
    tables = []
    for name, rows in data.items():
        body = ",\n".join(
            f"{json.dumps(key)}:{json.dumps(doc, separators=(',', ':'))}"
            for key, doc in rows.items()
        )
        tables.append(f"{json.dumps(name)}:{{\n{body}\n}}")
    return ("{" + ",\n".join(tables) + "}").encode()


def salvage_tables(raw: bytes) -> tuple[dict[str, dict[str, Any]], list[Damage]]:
    """The rows of a damaged TinyDB file that still parse, by table, and the lines
    that do not. A file written in one line (before rows had their own) salvages to
    nothing: it is all one damaged line."""
    tables: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    damage = []
    for number, offset, line in whole_lines(raw + b"\n")[0]:
        header = _TABLE_HEADER.match(line)
        if header:
            current = tables.setdefault(json.loads(header.group(1)), {})
            continue
        if line in _CLOSERS or not line:
            continue
        row = _row(line)
        if row is None or current is None:
            damage.append(Damage(number, offset, line, "not a row of a table"))
        else:
            current.update(row)
    return tables, damage


def _row(line: bytes) -> dict[str, Any] | None:
    """`"key":{...}` (with or without its trailing comma) as {key: doc}, else None."""
    try:
        row = json.loads(b"{" + line.removesuffix(b",") + b"}")
    except ValueError:
        return None
    if len(row) != 1 or not isinstance(next(iter(row.values())), dict):
        return None
    return dict(row)
