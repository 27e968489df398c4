"""Reading append-only JSON-lines files: whole lines only, damage named, the rest kept."""

from __future__ import annotations

import json
from pathlib import Path

from console.store.jsonl import Damage, Line, cut_torn_tail, read_jsonl, whole_lines


def number(line: Line) -> int:
    """A test record: `{"n": <int>}`; anything else is damage."""
    doc = json.loads(line.raw)
    if not isinstance(doc, dict) or not isinstance(doc.get("n"), int):
        raise ValueError("not a numbered record")
    return int(doc["n"])


def lines(*numbers: int) -> bytes:
    return b"".join(b'{"n":%d}\n' % n for n in numbers)


def test_a_torn_tail_is_dropped_without_being_damage(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(lines(1, 2) + b'{"n":3')  # a crash in the middle of the third
    parsed = read_jsonl(path, number)
    assert parsed.items == [1, 2]
    assert parsed.damage == []
    assert parsed.end == len(lines(1, 2))


def test_a_damaged_middle_line_is_named_and_the_lines_after_it_kept(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    bad = b'{"n":\xff}'
    path.write_bytes(lines(1, 2) + bad + b"\n" + lines(4, 5))
    parsed = read_jsonl(path, number)
    assert parsed.items == [1, 2, 4, 5]
    assert [(d.line, d.offset, d.raw) for d in parsed.damage] == [(3, len(lines(1, 2)), bad)]
    assert parsed.end == path.stat().st_size


def test_the_parsers_reason_is_kept_with_the_damage(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(lines(1) + b'{"m":2}\n')
    assert read_jsonl(path, number).damage == [
        Damage(2, len(lines(1)), b'{"m":2}', "not a numbered record")
    ]


def test_a_read_from_an_offset_numbers_damage_from_the_files_first_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(lines(1, 2, 3) + b"garbage\n" + lines(5))
    start, stop = len(lines(1)), len(lines(1, 2, 3)) + len(b"garbage\n")
    parsed = read_jsonl(path, number, start, stop)
    assert parsed.items == [2, 3]  # line 5 lies past `stop`
    assert [(d.line, d.offset) for d in parsed.damage] == [(4, len(lines(1, 2, 3)))]
    assert parsed.end == stop


def test_preallocated_zeros_end_the_data_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(lines(1, 2) + bytes(100) + b"\n" + lines(9))
    zero_filled = read_jsonl(path, number, zero_filled=True)
    assert (zero_filled.items, zero_filled.damage) == ([1, 2], [])
    assert zero_filled.end == len(lines(1, 2))
    plain = read_jsonl(path, number)  # elsewhere a line of zeros is damage like any other
    assert plain.items == [1, 2, 9] and [d.line for d in plain.damage] == [3]


def test_an_empty_or_missing_file_holds_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    for path in (empty, tmp_path / "missing.jsonl"):
        parsed = read_jsonl(path, number)
        assert (parsed.items, parsed.damage, parsed.end) == ([], [], 0)
    assert read_jsonl(tmp_path / "missing.jsonl", number, start=40).end == 40


def test_whole_lines_give_number_offset_and_bytes() -> None:
    found, end = whole_lines(b"ab\n\ncd\nef", offset=10)
    assert found == [Line(1, 10, b"ab"), Line(2, 13, b""), Line(3, 14, b"cd")]
    assert end == 17


def test_cut_torn_tail_leaves_the_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    long_torn = b'{"n":' + b"7" * 200_000  # longer than one backwards read
    path.write_bytes(lines(1, 2) + long_torn)
    cut_torn_tail(path)
    assert path.read_bytes() == lines(1, 2)
    cut_torn_tail(path)  # nothing torn: nothing cut
    assert path.read_bytes() == lines(1, 2)
    path.write_bytes(b'{"n":1')  # no whole line at all
    cut_torn_tail(path)
    assert path.read_bytes() == b""
