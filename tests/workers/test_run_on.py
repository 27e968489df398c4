"""`run --run-on GROUP`: a local runbook runs on one worker of the group."""

from __future__ import annotations

import asyncio
import json

from tests.workers.harness import World, cli


async def test_run_on_a_group_runs_the_runbook_on_one_of_its_workers(world: World) -> None:
    world.runbook("where.sh", "#!/bin/sh\necho on-a-worker\n")
    async with world.engine():
        pass  # stores the group key asset
    worker = world.worker("w1")
    done = await asyncio.to_thread(cli, world, "run", "where", "--run-on", "g1", "--json")
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["status"] == "Completed"
    assert [run["host"] for run in job["host_runs"]] == ["run-on/g1"]
    assert [r["text"] for r in job["streams"]] == ["on-a-worker"]
    assert f"running {job['id']}.run-on/g1" in worker.text()
