"""Routing by host var: a routed host's run goes through a worker of its group, its
output arrives as a local run's does; the other host runs in the engine."""

from __future__ import annotations

import json
import signal

from console.jobs.model import JobStatus
from tests.workers.harness import World, cli, wait_finished

LINES = "#!/bin/sh\nfor i in 1 2 3; do echo line-$i; done\necho oops >&2\n"


async def test_a_routed_host_runs_on_a_worker_and_its_output_comes_back(world: World) -> None:
    world.runbook("lines.sh", LINES)
    worker = world.worker("w1")
    async with world.engine() as engine:
        job = await engine.start_job("lines", "here,routed", {})
        done = await wait_finished(engine, job.id)
        records = await engine.streams(job.id)
    assert done.status is JobStatus.COMPLETED, done.host_runs
    assert f"running {job.id}.routed" in worker.text()
    assert f"running {job.id}.here" not in worker.text()
    assert (done.host_runs["routed"].worker, done.host_runs["here"].worker) == ("w1", None)
    shown = json.loads(ran(world, "jobs", "show", job.id, "--json"))
    assert {r["host"]: r["worker"] for r in shown["host_runs"]} == {"here": None, "routed": "w1"}
    for host in ("here", "routed"):
        mine = [r for r in records if r.host == host]
        assert [r.text for r in mine if r.stream == "output"] == ["line-1", "line-2", "line-3"]
        assert [r.text for r in mine if r.stream == "error"] == ["oops"]


async def test_a_routed_host_without_nats_fails_naming_the_setting(world: World) -> None:
    world.runbook("lines.sh", LINES)
    async with world.engine(nats=None) as engine:
        job = await engine.start_job("lines", "here,routed", {})
        done = await wait_finished(engine, job.id)
    assert done.host_runs["here"].status is JobStatus.COMPLETED
    routed = done.host_runs["routed"]
    assert routed.status is JobStatus.FAILED
    assert "--nats" in (routed.error or "") and "OPSCONSOLE_NATS" in (routed.error or "")


async def test_workers_list_shows_a_running_worker_online_then_offline_once_stopped(
    world: World,
) -> None:
    worker = world.worker("w1", "--capacity", "3")
    (listed,) = json.loads(ran(world, "workers", "list", "--nats", world.nats.url, "--json"))
    assert (listed["name"], listed["group"], listed["state"]) == ("w1", "g1", "online")
    assert (listed["capacity"], listed["running"]) == (3, 0)
    worker.process.send_signal(signal.SIGTERM)
    assert worker.process.wait() == 0
    (listed,) = json.loads(ran(world, "workers", "list", "--nats", world.nats.url, "--json"))
    assert (listed["name"], listed["state"]) == ("w1", "offline")


def ran(world: World, *args: str) -> str:
    done = cli(world, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout
