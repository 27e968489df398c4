"""Worker-group benchmark: dispatch overhead (host runs through one worker vs in the
engine) and scale (1 vs 2 workers). See README.md next to this file.

    .venv/bin/python bench/workers/run.py [--runs 3] [--overhead-hosts 500] [--scale-hosts 1000]

Starts its own nats-server (tests/nats_server.py) and real `python -m console worker`
processes; the engine is in-process. Prints the median of `--runs` timings per case,
interleaved run by run, and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from console.engine.core import Engine  # noqa: E402
from console.engine.options import EngineOptions  # noqa: E402
from console.settings import Settings  # noqa: E402
from console.workers.connection import NatsSettings  # noqa: E402
from tests.nats_server import NatsServer  # noqa: E402

KEY = "bench-group-key-0123456789abcdef"
TRIVIAL = "#!/bin/sh\necho ok\n"
SLEEPS = "#!/bin/sh\nsleep 0.1\necho ok\n"  # latency-bound: the worker's capacity is the limit


def inventory(overhead_hosts: int, scale_hosts: int) -> str:
    """`plain` hosts run in the engine; `routed` (as many) and `scaled` on group g1."""
    lines = ["all:", "  children:"]
    for group, prefix, count, routed in (
        ("plain", "p", overhead_hosts, False),
        ("routed", "r", overhead_hosts, True),
        ("scaled", "s", scale_hosts, True),
    ):
        lines += [f"    {group}:", "      hosts:"]
        lines += [f"        {prefix}{i}: {{ansible_connection: local}}" for i in range(count)]
        if routed:
            lines += ["      vars: {console_worker_group: g1}"]
    return "\n".join(lines) + "\n"


def start_worker(
    url: str, key_file: Path, name: str, capacity: int, log: Path
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "console", "worker", "--group", "g1", "--nats", url,
        "--name", name, "--group-key-file", str(key_file), "--capacity", str(capacity),
    ]  # fmt: skip
    out = log.open("wb")
    process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=out)
    while "takes orders" not in log.read_text():
        if process.poll() is not None:
            raise RuntimeError(log.read_text())
        time.sleep(0.05)
    return process


async def timed_job(engine: Engine, runbook: str, pattern: str) -> float:
    start = time.perf_counter()
    job = await engine.start_job(runbook, pattern, {})
    while not (await engine.job(job.id)).status.finished:
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - start
    done = await engine.job(job.id)
    assert done.status.value == "Completed", (done.status, done.failed_hosts()[:3])
    return elapsed


async def bench(tmp: Path, runs: int, overhead_hosts: int, scale_hosts: int, capacity: int) -> None:
    settings = Settings(tmp / "inventory.yaml", tmp / "data", tmp / "runbooks")
    settings.inventory.write_text(inventory(overhead_hosts, scale_hosts))
    settings.runbooks.mkdir()
    (settings.runbooks / "trivial.sh").write_text(TRIVIAL)
    (settings.runbooks / "sleeps.sh").write_text(SLEEPS)
    key_file = tmp / "key"
    key_file.write_text(KEY)
    with NatsServer(tmp / "nats") as nats:
        options = EngineOptions(nats=NatsSettings(nats.url), max_jobs=1)
        engine = Engine(settings, options)
        await engine.start()
        await engine.assets.set_variable("worker-group-g1", KEY, encrypted=True)
        workers: list[subprocess.Popen[bytes]] = []
        try:
            first = start_worker(nats.url, key_file, "w1", overhead_hosts, tmp / "w1.log")
            workers.append(first)
            plain, routed = "plain", "routed"
            await timed_job(engine, "trivial", plain)  # warm-up
            await timed_job(engine, "trivial", routed)
            here, there = [], []
            processes = {"engine": os.getpid(), "worker": first.pid, "nats": nats_pid(nats)}
            cpu: dict[str, dict[str, list[float]]] = {plain: {}, routed: {}}
            for _ in range(runs):
                for pattern, timings in ((plain, here), (routed, there)):
                    before = {name: cpu_seconds(pid) for name, pid in processes.items()}
                    timings.append(await timed_job(engine, "trivial", pattern))
                    for name, pid in processes.items():
                        used = cpu_seconds(pid) - before[name]
                        cpu[pattern].setdefault(name, []).append(used)
            report("overhead", overhead_hosts, {"in the engine": here, "one worker": there})
            for pattern, side in ((plain, "in the engine"), (routed, "one worker")):
                used = ", ".join(f"{n} {statistics.median(v):.2f}" for n, v in cpu[pattern].items())
                print(f"  CPU s, {side:13s} {used}")
            first.send_signal(signal.SIGTERM)
            first.wait()
            await scale(engine, nats.url, key_file, tmp, runs, scale_hosts, capacity, workers)
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()
            await engine.close()


async def scale(
    engine: Engine,
    url: str,
    key_file: Path,
    tmp: Path,
    runs: int,
    hosts: int,
    capacity: int,
    workers: list[subprocess.Popen[bytes]],
) -> None:
    pattern = "scaled"
    one, two = [], []
    for run in range(runs):
        a = start_worker(url, key_file, f"a{run}", capacity, tmp / f"a{run}.log")
        workers.append(a)
        one.append(await timed_job(engine, "sleeps", pattern))
        b = start_worker(url, key_file, f"b{run}", capacity, tmp / f"b{run}.log")
        workers.append(b)
        two.append(await timed_job(engine, "sleeps", pattern))
        for worker in (a, b):
            worker.send_signal(signal.SIGTERM)
            worker.wait()
    report(f"scale (capacity {capacity} each)", hosts, {"1 worker": one, "2 workers": two})


def nats_pid(nats: NatsServer) -> int:
    assert nats.process is not None
    return nats.process.pid


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and of its children it waited for (the hosts' commands),
    from /proc (Linux): what each process costs, whatever else loads the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def report(what: str, hosts: int, timings: dict[str, list[float]]) -> None:
    medians = {name: statistics.median(values) for name, values in timings.items()}
    print(f"{what}: {hosts} host runs, median of {len(next(iter(timings.values())))}")
    for name, value in medians.items():
        print(f"  {name:16s} {value:7.2f} s")
    (a, va), (b, vb) = medians.items()
    print(
        f"  ratio {b} / {a}: {vb / va:.2f}x"
        if what == "overhead"
        else f"  speed-up: {va / vb:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--overhead-hosts", type=int, default=500)
    parser.add_argument("--scale-hosts", type=int, default=1000)
    parser.add_argument("--capacity", type=int, default=4, help="each worker, in the scale case")
    args = parser.parse_args()
    print(f"load before: {load()}")
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        asyncio.run(
            bench(Path(tmp), args.runs, args.overhead_hosts, args.scale_hosts, args.capacity)
        )
    print(f"load after: {load()}")


def load() -> str:
    """The machine's load averages (1, 5, 15 min): figures taken under load say so."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
