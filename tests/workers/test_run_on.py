"""`run --run-on GROUP`: a local runbook runs on one worker of the group."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.nats_server import NatsServer
from tests.workers.harness import ROOT, World, make_world


@pytest.fixture
def world(tmp_path: Path, nats_server: NatsServer) -> Iterator[World]:
    made = make_world(tmp_path, nats_server)
    try:
        yield made
    finally:
        made.close()


async def test_run_on_a_group_runs_the_runbook_on_one_of_its_workers(world: World) -> None:
    world.runbook("where.sh", "#!/bin/sh\necho on-a-worker\n")
    async with world.engine():
        pass  # stores the group key asset
    worker = world.worker("w1")
    env = {
        **os.environ,
        "OPSCONSOLE_NATS": world.nats.url,
        "OPSCONSOLE_INVENTORY": str(world.settings.inventory),
        "OPSCONSOLE_DATA_DIR": str(world.settings.data_dir),
        "OPSCONSOLE_RUNBOOKS": str(world.settings.runbooks),
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "console", "run", "where", "--run-on", "g1", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["status"] == "Completed"
    assert [run["host"] for run in job["host_runs"]] == ["run-on/g1"]
    assert [r["text"] for r in job["streams"]] == ["on-a-worker"]
    assert f"running {job['id']}.run-on/g1" in worker.text()
