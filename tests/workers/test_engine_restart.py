"""An engine killed mid-run: the run goes on on its worker, and the engine started
again follows it from where it got, so the job's output is complete and in order."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

from tests.workers.harness import World, cli, serve, wait_until

RUNBOOK = """#!/bin/sh
for i in 1 2 3; do echo a$i; done
while [ ! -e {go} ]; do sleep 0.05; done
for i in 1 2 3 4 5; do echo b$i; done
"""


def shown(world: World, job_id: str) -> dict[str, Any]:
    done = cli(world, "jobs", "show", job_id, "--json")
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


async def test_an_engine_killed_mid_run_takes_the_rest_of_the_output(world: World) -> None:
    go = world.tmp / "go"
    world.runbook("long.sh", RUNBOOK.format(go=go))
    async with world.engine():
        pass  # stores the group key asset
    worker = world.worker("w1")
    log = world.tmp / "serve.log"
    engine = serve(world, log)
    try:
        started = await asyncio.to_thread(cli, world, "run", "long", "routed", "--no-wait")
        assert started.returncode == 0, started.stderr
        job_id = started.stdout.split()[-1]
        await asyncio.to_thread(
            wait_until,
            lambda: [s["text"] for s in shown(world, job_id)["streams"]] == ["a1", "a2", "a3"],
            "showing the first lines",
        )
        engine.send_signal(signal.SIGKILL)
        engine.wait()
        go.touch()  # the run goes on without the engine
        await asyncio.to_thread(
            wait_until, lambda: "running" in worker.text() and _ended(world), "ended on the worker"
        )
        engine = serve(world, log)
        await asyncio.to_thread(
            wait_until, lambda: shown(world, job_id)["status"] == "Completed", "completed"
        )
        job = shown(world, job_id)
    finally:
        engine.kill()
        engine.wait()
    assert [s["text"] for s in job["streams"]] == ["a1", "a2", "a3", "b1", "b2", "b3", "b4", "b5"]


def _ended(world: World) -> bool:
    """True once the worker has published the run's end (its log says so)."""
    return "ended" in (world.tmp / "worker-w1.log").read_text()
