"""Console scale bench: 10,000 hosts, 100,000 jobs, a job streaming 10,000 lines/s.

    .venv/bin/python bench/console/run.py            # synthetic in-memory client
    .venv/bin/python bench/console/run.py --engine   # the real engine and store

Prints: time to ready for input (target <= 1.5 s), filter keystroke -> list updated
(<= 100 ms), and keystroke latency while the open job streams 10,000 lines/s (< 100 ms).
Times are measured headless. A Pilot keystroke round trip includes Pilot's own idle
waits (about 60 ms even on an 8-host list, printed as "pilot baseline"), so the bench
also reports the work a keystroke causes (filter: the handler plus rendering every
visible line) and, while streaming, the event-loop lag: how long a keystroke could wait
before the loop even reads it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from console.client import EngineEvent
from console.inventory.model import Host
from console.jobs import HostRun, Job, JobStatus, StreamRecord
from screens.app import OpsConsoleApp
from screens.job_screen import JobScreen
from tests.tui.sample_client import SampleClient

HOSTS = 10_000
JOBS = 100_000
LINES_PER_SECOND = 10_000
SIZE = (120, 40)


def make_hosts(count: int) -> list[Host]:
    roles = ("web", "db", "cache", "queue", "batch")
    return [Host(f"{roles[i % 5]}{i:05d}", {"ansible_host": f"10.{i // 65536}.{i // 256 % 256}"
                                            f".{i % 256}"},
                 ("all", roles[i % 5], ("prod", "staging")[i % 2])) for i in range(count)]


def make_jobs(count: int, hosts: list[Host]) -> list[Job]:
    """Newest first, like `client.jobs()`; one running job at the top to stream into."""
    t0 = 1_700_000_000.0
    jobs = []
    for n in range(count, 0, -1):
        names = [hosts[(n * 7 + k) % len(hosts)].name for k in range(3)]
        status = JobStatus.COMPLETED if n % 10 else JobStatus.FAILED
        job = Job(id=f"{int((t0 + n) * 1000):012x}{n:08x}", runbook=f"book{n % 40}",
                  pattern="web:&prod", hosts=names, status=status, created=t0 + n,
                  started=t0 + n, ended=t0 + n + 3)
        for name in names:
            job.host_runs[name] = HostRun(name, status, 0, None, t0 + n, t0 + n + 3)
        jobs.append(job)
    top = jobs[0]
    top.status = JobStatus.RUNNING
    top.ended = None
    for run in top.host_runs.values():
        run.status, run.ended = JobStatus.RUNNING, None
    return jobs


async def time_to_ready(client: Any) -> tuple[float, OpsConsoleApp, Any]:
    start = time.perf_counter()
    app = OpsConsoleApp(client)
    context = app.run_test(size=SIZE)
    pilot = await context.__aenter__()
    while not app.ready:
        await asyncio.sleep(0.005)
    await pilot.pause()
    return time.perf_counter() - start, app, (context, pilot)


async def keystroke_ms(pilot: Any, key: str) -> float:
    start = time.perf_counter()
    await pilot.press(key)
    return (time.perf_counter() - start) * 1000


async def filter_latency(app: OpsConsoleApp, pilot: Any) -> tuple[list[float], list[float]]:
    """(Pilot round trips, handler + visible-lines render) per typed character."""
    await pilot.press("1", "slash")
    round_trips = [await keystroke_ms(pilot, ch) for ch in "web0001"]
    shown = app.inventory.table.row_count
    assert shown == 2, f"filter 'web0001' showed {shown} rows"  # web00010, web00015
    await pilot.press("escape", "escape")
    await pilot.pause()
    work = []
    table = app.inventory.table
    for i in range(1, len("web0001") + 1):
        start = time.perf_counter()
        app.inventory.apply_filter("web0001"[:i])
        for y in range(table.size.height):
            table.render_line(y)
        work.append((time.perf_counter() - start) * 1000)
    app.inventory.apply_filter("")
    return round_trips, work


async def loop_lag(stop: asyncio.Event, lags: list[float]) -> None:
    """How late a 5 ms sleep wakes up: the delay a keystroke would see on top."""
    while not stop.is_set():
        start = time.perf_counter()
        await asyncio.sleep(0.005)
        lags.append((time.perf_counter() - start - 0.005) * 1000)


async def streaming_latency(app: OpsConsoleApp, pilot: Any, client: SampleClient,
                            job: Job, seconds: float = 3.0,
                            ) -> tuple[list[float], list[float], int]:
    app.open_job(job.id)
    await pilot.pause(0.3)
    await app.workers.wait_for_complete()
    screen = app.screen
    assert isinstance(screen, JobScreen)
    host = job.hosts[0]
    sent = 0

    async def produce() -> None:
        nonlocal sent
        tick = 0.01
        per_tick = int(LINES_PER_SECOND * tick)
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            now = time.time()
            records = [StreamRecord(now, host, "output" if i % 7 else "error",
                                    f"line {sent + i} of a chatty job: some output text")
                       for i in range(per_tick)]
            client.emit(EngineEvent(job.id, records=records))
            sent += per_tick
            await asyncio.sleep(tick)

    stop = asyncio.Event()
    lags: list[float] = []
    lag_task = asyncio.create_task(loop_lag(stop, lags))
    producer = asyncio.create_task(produce())
    latencies = []
    keys = ["pageup", "pagedown", "t", "t", "tab", "tab"]
    while not producer.done():
        latencies.append(await keystroke_ms(pilot, keys[len(latencies) % len(keys)]))
        await asyncio.sleep(0.05)
    await producer
    stop.set()
    await lag_task
    await pilot.pause(0.2)
    assert len(screen.output.lines) > 0
    return latencies, lags, sent


async def pilot_baseline() -> list[float]:
    app = OpsConsoleApp(SampleClient())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        return [await keystroke_ms(pilot, key) for key in ("down", "up") * 3]


def report(name: str, values: list[float], target: float) -> None:
    worst = max(values)
    verdict = "ok" if worst <= target else "OVER TARGET"
    print(f"{name}: median {statistics.median(values):.1f} ms, max {worst:.1f} ms "
          f"over {len(values)} samples (target {target:.0f} ms) {verdict}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="streaming duration")
    args = parser.parse_args()
    baseline = await pilot_baseline()
    hosts = make_hosts(HOSTS)
    jobs = make_jobs(JOBS, hosts)
    client = SampleClient(hosts, jobs)
    ready, app, (context, pilot) = await time_to_ready(client)
    print(f"hosts {HOSTS}, jobs {JOBS}")
    print(f"pilot baseline (8 hosts, one key): median {statistics.median(baseline):.1f} ms")
    print(f"time to ready for input: {ready:.2f} s (target 1.5 s) "
          f"{'ok' if ready <= 1.5 else 'OVER TARGET'}")
    round_trips, work = await filter_latency(app, pilot)
    report("filter keystroke, pilot round trip", round_trips, 100 + max(baseline))
    report("filter keystroke, filter + render visible rows", work, 100)
    await pilot.press("4")
    start = time.perf_counter()
    await pilot.press("end")
    await app.workers.wait_for_complete()
    print(f"jobs list: {app.jobs_pane.table.row_count} rows paged in after End "
          f"({(time.perf_counter() - start) * 1000:.0f} ms)")
    latencies, lags, sent = await streaming_latency(app, pilot, client, jobs[0], args.seconds)
    print(f"streamed {sent} lines in {args.seconds:.0f} s ({sent / args.seconds:.0f}/s)")
    report("keystroke while streaming, pilot round trip", latencies, 100 + max(baseline))
    report("event-loop lag while streaming", lags, 100)
    await context.__aexit__(None, None, None)


if __name__ == "__main__":
    asyncio.run(main())
