"""The intake journal on real files: what a reader takes from a file (whole lines only,
never a torn line or the zero-filled rest), what the writer acknowledges and reports,
file rotation, and finding one not-yet-imported job for `jobs show`."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest

from console.webhooks.intake import journal
from console.webhooks.intake.journal import IntakeRecord, IntakeWriter, journal_files, read_records
from console.webhooks.intake.process import IntakeConfig, IntakeProcess


def record(n: int, webhook: str = "deploy") -> IntakeRecord:
    return IntakeRecord(
        id=f"{n:020x}",
        created=1_700_000_000.0 + n,
        webhook=webhook,
        runbook="noop",
        pattern="localhost",
        parameters={"env": "prod"},
        data={"WebhookName": webhook, "RequestHeader": {}, "RequestBody": f"#{n}"},
    )


def test_reader_takes_whole_lines_only(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    whole = record(1).to_line() + record(2).to_line()
    torn = record(3).to_line()[:-9]
    path.write_bytes(whole + torn + bytes(4096))  # a crash mid-write, then zeros
    records, end = read_records(path)
    assert [r.id for r in records] == [record(1).id, record(2).id]
    assert records[1] == record(2)  # everything survives the round trip
    assert end == len(whole)
    # From an offset, up to an end: what one durable notice covers.
    first = len(record(1).to_line())
    assert read_records(path, first, len(whole)) == ([record(2)], len(whole))


async def test_writer_acknowledges_after_the_data_is_in_the_file(tmp_path: Path) -> None:
    notices: list[tuple[str, int]] = []
    writer = IntakeWriter(tmp_path, lambda name, end: notices.append((name, end)))
    lines = [record(n).to_line() for n in range(50)]
    await asyncio.gather(*(writer.append(line) for line in lines))
    name, end = notices[-1]
    assert end == sum(map(len, lines))
    records, _ = read_records(tmp_path / name, 0, end)
    assert sorted(r.id for r in records) == sorted(record(n).id for n in range(50))
    # The file is zero-filled ahead of the data, so syncs change no file size.
    assert (tmp_path / name).stat().st_size >= journal.PREALLOCATED
    assert oct((tmp_path / name).stat().st_mode & 0o777) == "0o600"
    await writer.close()


async def test_writer_rotates_and_reports_the_new_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal, "ROTATE_AT", 2_000)
    notices: list[tuple[str, int]] = []
    writer = IntakeWriter(tmp_path, lambda name, end: notices.append((name, end)))
    for n in range(30):  # one at a time: one batch each
        await writer.append(record(n).to_line())
    await writer.close()
    names = list(dict.fromkeys(name for name, _ in notices))
    assert len(names) > 2
    files = journal_files(tmp_path)
    assert [p.name for p in files[: len(names)]] == names  # in the order written
    assert [read_records(p)[0] for p in files[len(names) :]] == [[]]  # the next, unused
    found = []
    for name in names:
        last_end = max(end for n, end in notices if n == name)
        found += read_records(tmp_path / name, 0, last_end)[0]
    assert [r.id for r in found] == [record(n).id for n in range(30)]


async def test_a_job_not_imported_yet_is_imported_when_asked_for(tmp_path: Path) -> None:
    imported: list[str] = []

    async def import_records(records: list[IntakeRecord]) -> None:
        imported.extend(r.id for r in records)

    async def flush() -> None:
        return None

    directory = journal.intake_dir(tmp_path)
    directory.mkdir()
    (directory / "00000000000000000001-1.jsonl").write_bytes(
        record(1).to_line() + record(2).to_line() + record(3).to_line()[:-5]
    )
    with socket.socket() as sock:
        intake = IntakeProcess(sock, IntakeConfig(tmp_path), list, import_records, flush)
        assert await intake.import_pending(record(2).id)
        assert imported == [record(2).id]
        assert not await intake.import_pending(record(3).id)  # torn: never acknowledged
        assert not await intake.import_pending("0" * 20)
    assert os.listdir(directory)  # asking imports; it does not retire the file


async def test_writer_never_loses_a_wakeup_between_bursts(tmp_path: Path) -> None:
    """Lines that arrive while the sync thread is going idle are still written: bursts
    of every size, separated by pauses of every length, all come back acknowledged."""
    notices: list[tuple[str, int]] = []
    writer = IntakeWriter(tmp_path, lambda name, end: notices.append((name, end)))
    sent = []
    for wave in range(200):
        lines = [record(wave * 1000 + n).to_line() for n in range(wave % 7 + 1)]
        sent += lines
        await asyncio.wait_for(asyncio.gather(*(writer.append(line) for line in lines)), 60)
        await asyncio.sleep((wave % 5) * 0.0003)
    await writer.close()
    name, end = notices[-1]
    assert end == sum(map(len, sent))
    records, _ = read_records(tmp_path / name, 0, end)
    assert len(records) == len(sent)
