"""Benchmark: does the job store slow down as history grows?

For each history size (0, 10,000, 100,000 finished jobs) it seeds a fresh data
directory through `Store.add_jobs`, then, in a fresh process (so memory and caches
are those of an engine that just started), measures:

- a job's life: `add_job` + 3 `save_job` (Starting, Running, Completed): median and
  p99 of the per-op latency over many jobs;
- `list_jobs(limit=200)` (the Jobs pane's first page) and a filtered
  `list_jobs(status=Failed)`;
- `get_job` on old ids spread over the history (each from a segment not in memory);
- the time to open the store and the process RSS right after opening it.

Usage:  .venv/bin/python bench/store/run.py [--sizes 0,10000,100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from console.jobs.model import HostRun, Job, JobStatus, Trigger, new_job_id
from console.store import Store

DAY = 86400.0
LIFECYCLES = 300
LIST_REPEATS = 30
OLD_GETS = 40


def seed_job(created: float, n: int) -> Job:
    """A finished job like the ones history is made of (3 hosts, a few parameters)."""
    hosts = [f"web{n % 40:02d}", f"db{n % 7:02d}", f"cache{n % 3}"]
    status = JobStatus.FAILED if n % 17 == 0 else JobStatus.COMPLETED
    runs = {
        h: HostRun(
            h,
            status=status,
            exit_code=0 if status is JobStatus.COMPLETED else 2,
            started=created + 1,
            ended=created + 30,
        )
        for h in hosts
    }
    return Job(
        id=new_job_id(created),
        runbook=f"runbook-{n % 25}.sh",
        pattern="web:db",
        hosts=hosts,
        parameters={"reboot": "IfRequired", "batch": n % 5},
        trigger=Trigger.SCHEDULE if n % 3 else Trigger.MANUAL,
        trigger_ref=f"schedule-{n % 9}" if n % 3 else None,
        status=status,
        created=created,
        started=created + 1,
        ended=created + 30,
        host_runs=runs,
    )


def seed(data_dir: Path, count: int) -> float:
    """Fill `data_dir` with `count` jobs spread over the last 29 days; returns seconds."""
    began = time.perf_counter()
    store = Store(data_dir)
    now = time.time()
    step = 29 * DAY / max(count, 1)
    batch = 10_000
    for first in range(0, count, batch):
        store.add_jobs(
            [
                seed_job(now - 29 * DAY + (first + i) * step, first + i)
                for i in range(min(batch, count - first))
            ]
        )
    store.close()
    return time.perf_counter() - began


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(call: Any) -> float:
    began = time.perf_counter()
    call()
    return (time.perf_counter() - began) * 1000


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(data_dir: Path) -> dict[str, float]:
    """The measurements for one seeded directory (run in a fresh process)."""
    began = time.perf_counter()
    store = Store(data_dir)
    open_ms = (time.perf_counter() - began) * 1000
    rss = rss_mb()
    first_page_ms = timed(lambda: store.list_jobs(limit=200))

    ops: list[float] = []
    for n in range(LIFECYCLES):
        job = Job(
            id=new_job_id(),
            runbook="patch.sh",
            pattern="web",
            hosts=["web01", "web02"],
            parameters={"reboot": "IfRequired", "n": n},
        )
        ops.append(timed(lambda job=job: store.add_job(job)))
        for status in (JobStatus.STARTING, JobStatus.RUNNING, JobStatus.COMPLETED):
            job.transition(status)
            ops.append(timed(lambda job=job: store.save_job(job)))

    page = [timed(lambda: store.list_jobs(limit=200)) for _ in range(LIST_REPEATS)]
    failed = [
        timed(lambda: store.list_jobs(status=JobStatus.FAILED, limit=200))
        for _ in range(LIST_REPEATS)
    ]
    old_ids = sample_old_ids(data_dir)
    gets = [timed(lambda job_id=job_id: store.get_job(job_id)) for job_id in old_ids]
    store.close()
    return {
        "op_median_ms": statistics.median(ops),
        "op_p99_ms": percentile(ops, 0.99),
        "list200_ms": statistics.median(page),
        "list200_cold_ms": first_page_ms,
        "list_failed_ms": statistics.median(failed),
        "get_old_ms": statistics.median(gets) if gets else float("nan"),
        "open_ms": open_ms,
        "rss_mb": rss,
    }


def sample_old_ids(data_dir: Path) -> list[str]:
    """Job ids from segments spread over the history, read straight from the files so
    the store has not loaded those segments yet."""
    segments = sorted((data_dir / "jobs").glob("seg-*.json"))[:-2]
    rng = random.Random(7)
    picked = rng.sample(segments, min(OLD_GETS, len(segments)))
    ids = []
    for path in picked:
        jobs = json.loads(path.read_text())["jobs"]
        ids.append(rng.choice(sorted(jobs)))
    return ids


def run_round(sizes: list[int]) -> dict[int, dict[str, float]]:
    results = {}
    for size in sizes:
        with tempfile.TemporaryDirectory(dir=Path(__file__).parent) as tmp:
            data_dir = Path(tmp) / "data"
            seconds = seed(data_dir, size)
            out = subprocess.run(
                [sys.executable, __file__, "--measure", str(data_dir)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            results[size] = {**json.loads(out), "seed_s": seconds}
    return results


COLUMNS = [
    ("op_median_ms", "op med ms"),
    ("op_p99_ms", "op p99 ms"),
    ("list200_ms", "list200 ms"),
    ("list200_cold_ms", "list cold ms"),
    ("list_failed_ms", "list Failed ms"),
    ("get_old_ms", "get old ms"),
    ("open_ms", "open ms"),
    ("rss_mb", "RSS MB"),
    ("seed_s", "seed s"),
]


def report(rounds: list[dict[int, dict[str, float]]], sizes: list[int]) -> None:
    """Print the median over rounds of every figure, and the 100k/0 ratios."""
    merged = {
        size: {key: statistics.median(r[size][key] for r in rounds) for key, _ in COLUMNS}
        for size in sizes
    }
    print(
        f"median of {len(rounds)} round(s); op = add_job or save_job "
        f"({LIFECYCLES} jobs x 4 ops per size)"
    )
    print(f"{'history':>8} " + " ".join(f"{title:>14}" for _, title in COLUMNS))
    for size in sizes:
        print(f"{size:>8} " + " ".join(f"{merged[size][key]:>14.2f}" for key, _ in COLUMNS))
    low, high = min(sizes), max(sizes)
    if low != high:
        for key in ("op_median_ms", "op_p99_ms", "list200_ms"):
            print(f"ratio {high}/{low} {key}: {merged[high][key] / merged[low][key]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0,10000,100000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure))))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    rounds = []
    for number in range(args.rounds):
        rounds.append(run_round(sizes))
        print(
            f"round {number + 1}: "
            + ", ".join(
                f"{size}: op {r['op_median_ms']:.2f}/{r['op_p99_ms']:.2f} ms"
                for size, r in rounds[-1].items()
            ),
            flush=True,
        )
    report(rounds, sizes)


if __name__ == "__main__":
    main()
