"""Where the event loop's thread spends a job's time, in the key-press bench's setting.

    .venv/bin/python bench/windows/loop_time.py [--runs 3]

One run of `run.py` (the console, the test server, the winrm job then the local job,
keys pressed throughout) with the loop's thread accounted during each job (Linux):

- cpu: CPU time the loop's thread used (Textual, the engine, handing WinRM calls on);
- core: time it was ready to run but waited for a core (`/proc/thread-self/schedstat`:
  other processes, the WinRM helper and the test server among them);
- select: time in the selector's wait (idle, and the GIL taken back after it);
- rest: what is left of the job's wall time: waits for the GIL, which other threads of
  the console's process hold (`rest` also holds GIL waits that end in a core wait:
  a woken thread queues for a core);
- and the CPU time the console's child processes used meanwhile (the WinRM helper,
  the test server).

This is how the GIL waits of the WinRM threads were found (bench/windows/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import selectors
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench

_selecting = [0.0]


def _timed_select(original: Any) -> Any:
    def select(self: selectors.BaseSelector, timeout: float | None = None) -> Any:
        started = time.perf_counter()
        try:
            return original(self, timeout)
        finally:
            _selecting[0] += time.perf_counter() - started

    return select


def children_cpu() -> dict[str, float]:
    """CPU seconds of this process's children, by command line (Linux /proc)."""
    found: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[1]) != os.getpid():
                continue
            name = Path(f"/proc/{pid}/cmdline").read_text().split("\0")[2]
        except (OSError, IndexError):
            continue
        found[name] = found.get(name, 0.0) + (int(stat[11]) + int(stat[12])) / tick
    return found


def accounted(during: Any) -> Any:
    async def job(app: Any, frames: Any, pattern: str, command: str, rounds: int) -> Any:
        wall, cpu, core = time.perf_counter(), time.thread_time(), bench.queued_seconds()
        selecting, children = _selecting[0], children_cpu()
        result = await during(app, frames, pattern, command, rounds)
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        core, selecting = bench.queued_seconds() - core, _selecting[0] - selecting
        rest = wall - cpu - core - selecting
        print(
            f"  {pattern} job {wall:.2f} s: loop thread cpu {cpu:.2f} s, core {core:.2f} s, "
            f"select {selecting:.2f} s, rest (GIL waits) {rest:.2f} s"
        )
        for name, seconds in children_cpu().items():
            print(f"    child {name}: cpu {seconds - children.get(name, 0.0):.2f} s")
        return result

    return job


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hosts", type=int, default=50)
    args = parser.parse_args()
    selector = type(selectors.DefaultSelector())
    selector.select = _timed_select(selector.select)  # type: ignore[method-assign]
    bench.during_job = accounted(bench.during_job)
    for run in range(1, args.runs + 1):
        print(f"run {run} (load average {os.getloadavg()[0]:.1f}):")
        with tempfile.TemporaryDirectory(prefix="bench-windows-") as tmp:
            work = Path(tmp)
            with bench.server_process(work / "C") as port:
                asyncio.run(bench.one_run(bench.site(work, port, args.hosts), 5))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
