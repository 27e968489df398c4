"""A worker's commands are reaped through pidfds: exit codes, signals and timeouts as
before, and no thread started per command (the wait for it slowed every host run).

Run in a fresh interpreter: the child watcher is process-wide asyncio state."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import asyncio, json, sys, threading
from console.errors import TimedOut
from console.inventory.model import Host
from console.transports.local import LocalTransport
from console.workers.child_reaping import reap_with_pidfds

async def main():
    pidfds = reap_with_pidfds(asyncio.get_running_loop()) if sys.argv[1] == "pidfds" else False
    transport = LocalTransport(Host("here", {"ansible_connection": "local"}))
    async def one(command, timeout=None):
        lines = []
        try:
            status = await transport.run(
                command, timeout=timeout, on_line=lambda stream, data: lines.append(data.decode()))
        except TimedOut:
            return "timed out"
        return [status.code, status.signal, lines]
    commands = [f"sleep 1; echo run{i}; exit {i % 3}" for i in range(20)]
    runs = asyncio.gather(
        *(one(c) for c in commands), one("sleep 1; kill -TERM $$"), one("sleep 30", timeout=1))
    threads = 0
    while not runs.done():  # the most threads seen while the commands run
        threads = max(threads, threading.active_count())
        await asyncio.sleep(0.01)
    print(json.dumps({"pidfds": pidfds, "threads": threads, "results": runs.result()}))

asyncio.run(main())
"""


def run_commands(watcher: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, watcher],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="Python 3.12 reaps with pidfds itself")
def test_commands_reaped_through_pidfds_end_as_before_without_a_thread_each() -> None:
    reaped = run_commands("pidfds")
    assert reaped["pidfds"] is True
    expected = [[i % 3, None, [f"run{i}\n"]] for i in range(20)] + [[None, "TERM", []]]
    assert reaped["results"] == [*expected, "timed out"]
    assert reaped["threads"] == 1  # the main thread only, with 22 commands running
    threaded = run_commands("default")  # what the worker did before: a thread each
    assert threaded["results"] == reaped["results"]
    assert threaded["threads"] > 20
