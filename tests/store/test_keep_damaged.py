"""Damaged lines kept aside: beside the file, where and why, logged once, never twice."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from console.store.damage import append_once, keep_damaged
from console.store.jsonl import Damage

FIRST = Damage(3, 40, b'{"n":\xff}', "not a record")
SECOND = Damage(9, 200, b"garbage", "not a record")


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]


def test_damage_is_kept_beside_the_file_with_where_and_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "journal.jsonl"
    keep_damaged(path, [FIRST, SECOND])
    aside = tmp_path / "journal.jsonl.damaged"
    assert aside.read_bytes() == (
        b"# journal.jsonl line 3 (byte 40): not a record\n"
        b'{"n":\xff}\n'
        b"# journal.jsonl line 9 (byte 200): not a record\n"
        b"garbage\n"
    )
    assert stat.S_IMODE(aside.stat().st_mode) == 0o600
    assert errors(caplog) == [f"{path}: skipped 2 damaged record(s) (line 3, 9); kept in {aside}"]


def test_a_file_read_again_after_a_crash_adds_no_copies_and_no_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "journal.jsonl"
    keep_damaged(path, [FIRST])
    keep_damaged(path, [FIRST, SECOND])  # read again: the first is kept already
    keep_damaged(path, [FIRST, SECOND])
    aside = (tmp_path / "journal.jsonl.damaged").read_bytes()
    assert aside.count(b'{"n":\xff}\n') == 1 and aside.count(b"garbage\n") == 1
    assert len(errors(caplog)) == 2
    assert "(line 9)" in errors(caplog)[1]  # the second names only what was new


def test_the_same_bytes_at_another_place_are_kept_again(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    keep_damaged(path, [FIRST])
    keep_damaged(path, [Damage(5, 90, FIRST.raw, FIRST.why)])
    assert (tmp_path / "journal.jsonl.damaged").read_bytes().count(FIRST.raw) == 2


def test_no_damage_writes_and_logs_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    keep_damaged(tmp_path / "journal.jsonl", [])
    assert not (tmp_path / "journal.jsonl.damaged").exists()
    assert errors(caplog) == []


def test_append_once_keeps_whole_lines_apart_after_a_torn_append(tmp_path: Path) -> None:
    path = tmp_path / "rejected.jsonl"
    path.write_bytes(b"first\nsecond-cut-sh")  # a crash in the middle of an append
    assert append_once(path, [b"third\n", b"first\n", b"third\n"]) == [b"third\n"]
    assert path.read_bytes() == b"first\nsecond-cut-sh\nthird\n"
    assert append_once(path, [b"third\n"]) == []
