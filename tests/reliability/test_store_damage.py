"""One damaged byte in the middle of each kind of store file, then real `opsconsole`
commands and a real `serve` restart: every other record is still there, the damaged
one is kept in `<file>.damaged`, and the engine starts."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.store import Store
from tests.reliability.store_world import StoreWorld
from tests.store.helpers import compact_at_every_close

pytestmark = pytest.mark.timeout(180)

SAY = "#!/bin/sh\nfor i in 1 2 3 4 5; do echo line $i; done\n"
JOBS = 6


@pytest.fixture
def world(tmp_path: Path) -> Iterator[StoreWorld]:
    made = StoreWorld(tmp_path)
    made.runbook("say.sh", SAY)
    yield made


def damage_middle_line(path: Path) -> bytes:
    """Overwrite one byte in the middle of the line that holds the file's middle byte
    with 0xff (never valid in UTF-8 JSON); returns that line as it was."""
    data = path.read_bytes()
    start = data.rfind(b"\n", 0, len(data) // 2) + 1
    end = data.find(b"\n", start) % (len(data) + 1)  # a file of one line: its end
    at = (start + end) // 2
    path.write_bytes(data[:at] + b"\xff" + data[at + 1 :])
    return data[start:end]


def serve(world: StoreWorld, name: str) -> subprocess.Popen[str]:
    """A real `opsconsole serve`, once its engine has started."""
    log_path = world.root / f"{name}.log"
    with log_path.open("w") as log:
        proc = world.popen(
            "serve", "--listen", "127.0.0.1:0", "--no-collection", stdout=log, stderr=log
        )
    deadline = time.monotonic() + 60
    while "engine started" not in log_path.read_text():
        assert proc.poll() is None, f"serve exited: {log_path.read_text()}"
        assert time.monotonic() < deadline, f"serve did not start: {log_path.read_text()}"
        time.sleep(0.05)
    return proc


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> None:
    proc.send_signal(sig)
    proc.wait(timeout=60)


def run_jobs(world: StoreWorld) -> list[str]:
    ids = []
    for _ in range(JOBS):
        done = world.cli_json("run", "say", "all")
        assert done["status"] == "Completed"
        ids.append(done["id"])
    return ids


def statuses(world: StoreWorld) -> dict[str, str]:
    return {j["id"]: j["status"] for j in world.cli_json("jobs", "list")}


def assert_serve_starts_and_sees(world: StoreWorld, expected: dict[str, str]) -> None:
    proc = serve(world, "restarted")
    try:
        assert statuses(world) == expected  # attached to the restarted engine
    finally:
        stop(proc)
    assert proc.returncode == 0


def test_a_damaged_job_journal_line_loses_no_other_job(world: StoreWorld) -> None:
    engine = serve(world, "first")
    ids = run_jobs(world)  # through the live engine: its journal holds them all
    stop(engine, signal.SIGKILL)
    journal = world.data_dir / "jobs" / "journal.jsonl"
    assert journal.read_bytes().count(b"\n") >= 2 * JOBS
    line = damage_middle_line(journal)

    # the damaged line was one state change of one job; every job's later lines count
    after = statuses(world)
    assert sorted(after) == sorted(ids)
    assert list(after.values()).count("Completed") >= JOBS - 1
    kept = (world.data_dir / "jobs" / "journal.jsonl.damaged").read_bytes()
    assert kept.count(b"\n# ") == 0 and kept.startswith(b"# journal.jsonl line ")
    assert kept.split(b"\n")[1] != line and len(kept.split(b"\n")[1]) == len(line)
    assert statuses(world) == after  # the compaction that followed kept them too
    assert_serve_starts_and_sees(world, after)


def test_a_damaged_stream_line_costs_that_line_only(world: StoreWorld) -> None:
    ids = run_jobs(world)
    stream_file = world.data_dir / "streams" / f"{ids[2]}.jsonl"
    damage_middle_line(stream_file)

    shown = world.cli_json("jobs", "show", ids[2])
    assert [r["text"] for r in shown["streams"]] == ["line 1", "line 2", "line 4", "line 5"]
    kept = stream_file.with_name(stream_file.name + ".damaged").read_bytes()
    assert kept.startswith(f"# {stream_file.name} line 3 ".encode())
    human = world.cli("jobs", "show", ids[2])
    assert human.returncode == 0 and "line 5" in human.stdout
    assert [r["text"] for r in world.cli_json("jobs", "show", ids[3])["streams"]] == [
        f"line {i}" for i in range(1, 6)
    ]


def test_a_damaged_segment_file_loses_one_job_and_the_engine_starts(
    world: StoreWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = run_jobs(world)
    compact_at_every_close(monkeypatch)
    Store(world.data_dir).close()  # the jobs folded into their segment file
    (segment,) = (world.data_dir / "jobs").glob("seg-*.json")
    line = damage_middle_line(segment)

    after = statuses(world)
    lost = next(i for i in ids if line.startswith(f'"{i}":'.encode()))
    assert after == {i: "Completed" for i in ids if i != lost}
    assert segment.with_name(segment.name + ".damaged").exists()
    assert_serve_starts_and_sees(world, after)


def test_a_damaged_table_file_keeps_its_other_rows_and_the_engine_starts(
    world: StoreWorld,
) -> None:
    names = ["alpha", "bravo", "charlie", "delta", "echo"]
    for name in names:
        made = world.cli("schedules", "create", name, "say", "all", "--cron", "0 3 1 1 *")
        assert made.returncode == 0, made.stderr
    table = world.data_dir / "tables" / "schedules.json"
    line = damage_middle_line(table)

    listed = world.cli_json("schedules", "list")
    lost = next(n for n in names if line.startswith(f'"{n}":'.encode()))
    assert sorted(row["name"] for row in listed) == [n for n in names if n != lost]
    assert table.with_name("schedules.json.damaged").exists()
    proc = serve(world, "with-schedules")
    stop(proc)
    assert proc.returncode == 0
