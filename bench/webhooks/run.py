"""Benchmark: webhook requests per second and latency to the 202, against the floor.

The engine (`opsconsole serve`) answers 202 only once the request is durably stored
(its line in the intake journal fdatasynced; its webhook intake worker answers while
the engine makes and runs the jobs), so its figures include the fsyncs. The floor is a
bare aiohttp handler that reads the body and answers the same 202 JSON, in its own
process on the same machine. Both are measured by a load generator in a separate
process:

- **max**: sustained requests per second with C connections for D seconds (closed loop);
  `wrk` when it is installed (apt install wrk), else an aiohttp client;
- **paced**: 100 requests per second for D seconds (open loop: each request is timed
  from when it was due, so a stall is not hidden), p50/p99/max latency to the 202.

The engine's data directory holds 100,000 finished jobs before serve starts (seeded
with `Store.add_jobs`), and each round uses a fresh copy of it. The runbook is `true`
on `localhost` (`ansible_connection: local`), so the engine also runs every job it
accepts. Targets (issue 5): throughput at least 40% of the floor's; p99 at most 50 ms
at 100 requests per second.

Usage:  .venv/bin/python bench/webhooks/run.py [--rounds 3] [--history 100000]
                                              [--no-priority]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OPSCONSOLE = Path(sys.executable).with_name("opsconsole")
BODY = json.dumps({"service": "billing", "version": 7, "note": "x" * 200}).encode()
INVENTORY = "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
RUNBOOK = '#!/bin/sh\n# /// runbook\n# description = "does nothing"\n# ///\ntrue\n'


# --------------------------------------------------------------------- load generator
async def _paced(url: str, rate: float, seconds: float) -> dict[str, Any]:
    import aiohttp

    latencies: list[float] = []
    errors: dict[str, int] = {}
    count = int(rate * seconds)
    conn = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=conn) as session:
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.2

        async def one(due: float) -> None:
            await asyncio.sleep(max(0.0, due - loop.time()))
            try:
                async with session.post(url, data=BODY) as response:
                    await response.read()
                    status = str(response.status)
            except aiohttp.ClientError as exc:
                status = type(exc).__name__
            if status == "202":
                latencies.append(loop.time() - due)
            else:
                errors[status] = errors.get(status, 0) + 1

        await asyncio.gather(*(one(start + i / rate) for i in range(count)))
    latencies.sort()
    return {
        "ok": len(latencies),
        "errors": errors,
        "p50_ms": 1000 * _pct(latencies, 50),
        "p99_ms": 1000 * _pct(latencies, 99),
        "max_ms": 1000 * latencies[-1] if latencies else float("nan"),
    }


async def _max_aiohttp(url: str, connections: int, seconds: float) -> dict[str, Any]:
    import aiohttp

    latencies: list[float] = []
    errors: dict[str, int] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as s:
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds

        async def worker() -> None:
            while (began := loop.time()) < end:
                async with s.post(url, data=BODY) as response:
                    await response.read()
                if response.status == 202:
                    latencies.append(loop.time() - began)
                else:
                    errors[str(response.status)] = errors.get(str(response.status), 0) + 1

        began = loop.time()
        await asyncio.gather(*(worker() for _ in range(connections)))
        took = loop.time() - began
    latencies.sort()
    return {
        "tool": "aiohttp",
        "ok": len(latencies),
        "errors": errors,
        "rps": len(latencies) / took,
        "p50_ms": 1000 * _pct(latencies, 50),
        "p99_ms": 1000 * _pct(latencies, 99),
    }


def _max_wrk(url: str, connections: int, seconds: float) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = {json.dumps(BODY.decode())}\n"
        )
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds:g}s",
                "--latency",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    pct = {
        p: _wrk_ms(re.search(rf"^\s+{p}%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
        for p in ("50", "99")
    }
    return {
        "tool": "wrk",
        "rps": rps,
        "errors": {"non-2xx": int(bad.group(1))} if bad else {},
        "p50_ms": pct["50"],
        "p99_ms": pct["99"],
    }


def _wrk_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _pct(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p / 100))]


def loadgen(args: argparse.Namespace) -> None:
    if args.mode == "paced":
        result = asyncio.run(_paced(args.url, args.rate, args.seconds))
    elif shutil.which("wrk") and not args.no_wrk:
        result = _max_wrk(args.url, args.connections, args.seconds)
    else:
        result = asyncio.run(_max_aiohttp(args.url, args.connections, args.seconds))
    print(json.dumps(result))


def run_loadgen(url: str, *extra: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "loadgen", url, *extra],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(json.loads(out))


# --------------------------------------------------------------------- the floor
def floor_server(args: argparse.Namespace) -> None:
    """A bare aiohttp handler: read the body, answer 202 with a job id."""
    from aiohttp import web

    counter = iter(range(10**12))

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"JobIds": [f"job-{next(counter)}"]}, status=202)

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/webhooks/{token}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(runner.addresses[0][1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


# --------------------------------------------------------------------- the engine
def seed(data_dir: Path, count: int) -> float:
    """`count` finished webhook jobs over the last 29 days, through Store.add_jobs."""
    from console.jobs.model import HostRun, Job, JobStatus, Trigger, new_job_id
    from console.store import Store

    began = time.perf_counter()
    store = Store(data_dir)
    now, step = time.time(), 29 * 86400 / max(count, 1)
    for first in range(0, count, 10_000):
        jobs = []
        for n in range(first, min(first + 10_000, count)):
            created = now - 29 * 86400 + n * step
            run = HostRun(
                "localhost",
                status=JobStatus.COMPLETED,
                exit_code=0,
                started=created + 0.1,
                ended=created + 0.2,
            )
            jobs.append(
                Job(
                    id=new_job_id(created),
                    runbook="noop",
                    pattern="localhost",
                    hosts=["localhost"],
                    parameters={},
                    trigger=Trigger.WEBHOOK,
                    trigger_ref="bench",
                    status=JobStatus.COMPLETED,
                    created=created,
                    started=created + 0.1,
                    ended=created + 0.2,
                    host_runs={"localhost": run},
                )
            )
        store.add_jobs(jobs)
    store.close()
    return time.perf_counter() - began


# Run serve without CAP_SYS_NICE (as an unprivileged user would): the intake worker
# then cannot raise its priority above the engine's (docs/serve.md).
WITHOUT_PRIORITY = ["setpriv", "--bounding-set", "-sys_nice", "--inh-caps", "-sys_nice"]
NO_PRIORITY_LINE = "webhook intake runs at the engine's priority"


def start_serve(
    root: Path, data_dir: Path, log: Path, deny_priority: bool
) -> tuple[subprocess.Popen[bytes], str]:
    env = {
        **os.environ,
        "OPSCONSOLE_INVENTORY": str(root / "inventory.yaml"),
        "OPSCONSOLE_RUNBOOKS": str(root / "runbooks"),
        "OPSCONSOLE_DATA_DIR": str(data_dir),
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *(WITHOUT_PRIORITY if deny_priority else []),
                str(OPSCONSOLE),
                "serve",
                "--listen",
                "127.0.0.1:0",
            ],
            env=env,
            stdout=out,
            stderr=out,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if '"engine started"' in line:
                url = subprocess.run(
                    [
                        str(OPSCONSOLE),
                        "webhooks",
                        "create",
                        "bench",
                        "noop",
                        "localhost",
                        "--rate-limit",
                        "100000000",
                    ],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.strip()
                return proc, url
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"serve did not start:\n{log.read_text()}")


def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    paced = run_loadgen(
        url, "--mode", "paced", "--rate", str(args.rate), "--seconds", str(args.seconds)
    )
    top = run_loadgen(
        url, "--mode", "max", "--connections", str(args.connections), "--seconds", str(args.seconds)
    )
    return {
        "rps": top["rps"],
        "max_p50_ms": top["p50_ms"],
        "max_p99_ms": top["p99_ms"],
        "paced_p50_ms": paced["p50_ms"],
        "paced_p99_ms": paced["p99_ms"],
        "paced_max_ms": paced["max_ms"],
        "errors": {**paced["errors"], **top["errors"]},
        "tool": top["tool"],
    }


def bench(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-webhooks-", dir=HERE))
    try:
        (root / "inventory.yaml").write_text(INVENTORY)
        (root / "runbooks").mkdir()
        (root / "runbooks" / "noop.sh").write_text(RUNBOOK)
        seeded = root / "seed"
        print(f"seeding {args.history} jobs: {seed(seeded, args.history):.1f}s", flush=True)
        floor_rounds, engine_rounds = [], []
        for n in range(args.rounds):
            floor = subprocess.Popen(
                [sys.executable, __file__, "floor"], stdout=subprocess.PIPE, text=True
            )
            assert floor.stdout is not None
            port = floor.stdout.readline().strip()
            try:
                floor_rounds.append(measure(f"http://127.0.0.1:{port}/webhooks/x", args))
            finally:
                floor.kill()
                floor.wait()
            data = root / f"data-{n}"
            shutil.copytree(seeded, data)
            log = root / f"serve-{n}.log"
            proc, url = start_serve(root, data, log, args.no_priority)
            try:
                engine_rounds.append(measure(url, args))
                engine_rounds[-1]["priority"] = NO_PRIORITY_LINE not in log.read_text()
            finally:
                proc.send_signal(signal.SIGKILL)  # the copy is discarded: no need to drain
                proc.wait()
                shutil.rmtree(data)
            print(f"round {n + 1}: floor {_row(floor_rounds[-1])}", flush=True)
            print(f"         engine {_row(engine_rounds[-1])}", flush=True)
        report(floor_rounds, engine_rounds, args)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def _row(r: dict[str, Any]) -> str:
    return (
        f"{r['rps']:8.0f} req/s (p50 {r['max_p50_ms']:.1f} ms, p99 {r['max_p99_ms']:.1f} ms)"
        f"   paced p50 {r['paced_p50_ms']:.1f} ms p99 {r['paced_p99_ms']:.1f} ms "
        f"max {r['paced_max_ms']:.1f} ms  errors {r['errors'] or 0}"
    )


def report(
    floor: list[dict[str, Any]], engine: list[dict[str, Any]], args: argparse.Namespace
) -> None:
    def med(rows: list[dict[str, Any]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    print(
        f"\nmedians of {len(engine)} rounds; history {args.history} jobs; "
        f"max load: {engine[0]['tool']}, {args.connections} connections, {args.seconds:g}s; "
        f"paced: {args.rate:g} req/s for {args.seconds:g}s"
    )
    print(
        f"{'':8} {'req/s':>8} {'max p50':>8} {'max p99':>8} {'paced p50':>10} "
        f"{'paced p99':>10} {'paced max':>10}"
    )
    for name, rows in (("floor", floor), ("engine", engine)):
        print(
            f"{name:8} {med(rows, 'rps'):8.0f} {med(rows, 'max_p50_ms'):8.1f} "
            f"{med(rows, 'max_p99_ms'):8.1f} {med(rows, 'paced_p50_ms'):10.1f} "
            f"{med(rows, 'paced_p99_ms'):10.1f} {med(rows, 'paced_max_ms'):10.1f}"
        )
    raised = [r["priority"] for r in engine]
    print(
        "intake worker priority: "
        + ("raised above the engine's" if all(raised) else "the engine's (not raised)")
        + ("" if len(set(raised)) == 1 else " in some rounds only")
    )
    ratio = med(engine, "rps") / med(floor, "rps")
    p99 = med(engine, "paced_p99_ms")
    print(
        f"throughput engine/floor: {ratio:.2f} (target >= 0.40: "
        f"{'met' if ratio >= 0.4 else 'MISSED'})"
    )
    print(
        f"p99 at {args.rate:g} req/s: {p99:.1f} ms (target <= 50 ms: "
        f"{'met' if p99 <= 50 else 'MISSED'}); "
        f"engine/floor p99 ratio {p99 / med(floor, 'paced_p99_ms'):.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command")
    gen = sub.add_parser("loadgen", help="(internal) the load generator process")
    gen.add_argument("url")
    gen.add_argument("--mode", choices=("paced", "max"), required=True)
    gen.add_argument("--rate", type=float, default=100)
    gen.add_argument("--seconds", type=float, default=10)
    gen.add_argument("--connections", type=int, default=16)
    gen.add_argument("--no-wrk", action="store_true")
    sub.add_parser("floor", help="(internal) the bare aiohttp server")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--history", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--keep", action="store_true", help="keep the tmp dir (logs)")
    parser.add_argument(
        "--no-priority",
        action="store_true",
        help="run serve without CAP_SYS_NICE (setpriv), as an unprivileged user would",
    )
    args = parser.parse_args()
    if args.command == "loadgen":
        loadgen(args)
    elif args.command == "floor":
        floor_server(args)
    else:
        bench(args)


if __name__ == "__main__":
    main()
