"""Workers and the engine outlive a NATS restart: a run going on meanwhile completes,
with all of its output."""

from __future__ import annotations

import asyncio

from console.jobs.model import JobStatus
from tests.workers.harness import World, wait_finished, wait_output


async def test_a_job_completes_across_a_nats_restart(world: World) -> None:
    go = world.tmp / "go"
    world.runbook(
        "waits.sh",
        f"#!/bin/sh\necho before\nwhile [ ! -e {go} ]; do sleep 0.05; done\necho after\n",
    )
    world.worker("w1")
    async with world.engine() as engine:
        job = await engine.start_job("waits", "routed", {})
        await wait_output(engine, job.id, ["before"])
        await asyncio.to_thread(world.nats.restart, True)
        go.touch()
        done = await wait_finished(engine, job.id)
        records = await engine.streams(job.id)
    assert done.status is JobStatus.COMPLETED, done.host_runs
    assert [r.text for r in records] == ["before", "after"]
