"""Append-only JSON-lines files, read one way: whole lines, torn tail dropped, damage named.

The job journal, the job stream files, the intake journal and the worker's delivery and
rate-limit logs are all one record per line, appended. So they are all read here:

- a torn tail (the bytes after the last newline) is a write a crash cut short, never
  acknowledged: it is dropped silently, it is not damage;
- a file preallocated with zeros (the intake journal) ends, when asked, at the first
  line that starts with a zero byte: nothing was ever written from there on;
- a whole line the caller's parser refuses (disk damage, a hand edit) is damage: it is
  reported with its line number and byte offset, and the lines after it are read as
  usual, so one bad line costs one record (what callers do with it: see .damage).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, NamedTuple, TypeVar

T = TypeVar("T")
_CHUNK = 65536


class Line(NamedTuple):
    """One whole line of a file: its number (from 1), the byte offset of its first
    byte in the file, and its bytes without the newline."""

    number: int
    offset: int
    raw: bytes


@dataclass(frozen=True)
class Damage:
    """One damaged record: where it was (line number and byte offset) and its bytes."""

    line: int
    offset: int
    raw: bytes
    why: str


@dataclass(frozen=True)
class Parsed(Generic[T]):
    """What a read found: the records, the damaged lines, and the offset just after
    the last whole line (where the next read of the file may start)."""

    items: list[T]
    damage: list[Damage]
    end: int


# Turns one line into a record; raises ValueError (saying why) when the line is damaged.
Parse = Callable[[Line], T]


def whole_lines(data: bytes, offset: int = 0, zero_filled: bool = False) -> tuple[list[Line], int]:
    """The whole lines of `data` (which starts at byte `offset` of its file) and the
    offset just after the last of them. With `zero_filled`, the first line that starts
    with a zero byte ends the data: it and what follows are preallocated space."""
    lines = []
    at = offset
    for number, raw in enumerate(data.split(b"\n")[:-1], 1):
        if zero_filled and raw.startswith(b"\0"):
            break
        lines.append(Line(number, at, raw))
        at += len(raw) + 1
    return lines, at


def parse_lines(lines: Sequence[Line], parse: Parse[T]) -> tuple[list[T], list[Damage]]:
    """Each line parsed, in order, and the lines `parse` refused, as Damage."""
    items, damage = [], []
    for line in lines:
        try:
            items.append(parse(line))
        except ValueError as exc:
            damage.append(Damage(line.number, line.offset, line.raw, str(exc) or "not a record"))
    return items, damage


def read_jsonl(
    path: Path, parse: Parse[T], start: int = 0, end: int | None = None, zero_filled: bool = False
) -> Parsed[T]:
    """The records in the whole lines of bytes [start, end) of `path` (all of it by
    default); a missing file holds none. Damage is numbered by its line in the whole
    file, even when the read starts further on."""
    try:
        with path.open("rb") as file:
            file.seek(start)
            data = file.read() if end is None else file.read(max(0, end - start))
    except FileNotFoundError:
        return Parsed([], [], start)
    lines, stop = whole_lines(data, start, zero_filled)
    items, damage = parse_lines(lines, parse)
    if damage and start:
        damage = _numbered_from_file_start(path, start, damage)
    return Parsed(items, damage, stop)


def _numbered_from_file_start(path: Path, start: int, damage: list[Damage]) -> list[Damage]:
    """Damage found by a read from `start`, renumbered from the file's first line.
    Counting the lines before `start` costs a read of them, so only damage pays it."""
    with path.open("rb") as file:
        before = file.read(start).count(b"\n")
    return [dataclasses.replace(d, line=d.line + before) for d in damage]


def line_numbers(damage: Sequence[Damage]) -> str:
    """`3, 17`: the lines of `damage`, for a log message."""
    return ", ".join(str(d.line) for d in damage)


def cut_torn_tail(path: Path) -> None:
    """Truncate `path` after its last newline, so that the next append does not glue a
    good record onto a torn one. Reads backwards from the end, a chunk at a time."""
    with open(path, "rb+") as handle:
        end = handle.seek(0, os.SEEK_END)
        pos = end
        while pos > 0:
            step = min(_CHUNK, pos)
            handle.seek(pos - step)
            chunk = handle.read(step)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                pos = pos - step + newline + 1
                break
            pos -= step
        if pos != end:
            handle.truncate(pos)
