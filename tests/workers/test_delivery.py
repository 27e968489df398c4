"""Delivery guarantees with real workers killed at the two moments that matter:
before a run started (the order goes to another worker, and runs once) and after
(the host run fails with the reason, and never runs twice)."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

from console.jobs.model import JobStatus
from console.workers.worker import HOLD_ENV
from tests.workers.harness import World, await_until, wait_finished, wait_run

NO_WORKER_10M = (
    "queued for worker group g1: no worker of it is online (fails after 10m without one)"
)


def counting(counter: Path, pid_file: Path | None = None) -> str:
    """A runbook that counts its runs in `counter` (and, given `pid_file`, writes its
    pid there and sleeps)."""
    body = f"#!/bin/sh\necho run >> {counter}\necho counted\n"
    if pid_file is not None:
        body += f"echo $$ > {pid_file}.tmp && mv {pid_file}.tmp {pid_file}\nexec sleep 300\n"
    return body


def kill_pid_in(pid_file: Path) -> None:
    """End the sleeper a killed worker left behind (the test started it)."""
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


async def test_a_worker_killed_before_starting_leaves_the_run_to_another(world: World) -> None:
    counter = world.tmp / "counter"
    world.runbook("count.sh", counting(counter))
    hold = world.tmp / "hold"
    hold.mkdir()
    first = world.worker("first", env={HOLD_ENV: str(hold)})
    async with world.engine() as engine:
        job = await engine.start_job("count", "routed", {})
        await await_until(lambda: (hold / "first.held").exists(), "held by the first worker")
        first.kill()
        second = world.worker("second")
        done = await wait_finished(engine, job.id)
        records = await engine.streams(job.id)
    assert done.status is JobStatus.COMPLETED, done.host_runs
    assert counter.read_text() == "run\n"  # exactly once
    assert [r.text for r in records] == ["counted"]
    assert f"running {job.id}.routed" in second.text()
    assert "running" not in first.text()


async def test_a_worker_killed_after_starting_fails_the_run_never_twice(world: World) -> None:
    counter, pid_file = world.tmp / "counter", world.tmp / "pid"
    world.runbook("count.sh", counting(counter, pid_file))
    first = world.worker("first")
    try:
        async with world.engine() as engine:
            job = await engine.start_job("count", "routed", {})
            await await_until(pid_file.exists, "running on the first worker")
            first.kill()
            second = world.worker("second")
            done = await wait_finished(engine, job.id)
    finally:
        kill_pid_in(pid_file)
    run = done.host_runs["routed"]
    assert run.status is JobStatus.FAILED
    assert run.error == "worker lost while the run was in progress"
    assert counter.read_text() == "run\n"  # never run twice
    assert "running" not in second.text()


async def test_the_routed_run_says_it_is_queued_for_its_group(world: World) -> None:
    world.runbook("count.sh", counting(world.tmp / "counter"))
    async with world.engine() as engine:  # no worker yet: the order waits in JetStream
        job = await engine.start_job("count", "routed", {})
        await wait_run(
            engine,
            job.id,
            "routed",
            lambda r: r.error == NO_WORKER_10M,
            "queued",
        )
        assert (await engine.job(job.id)).host_runs["routed"].status is JobStatus.QUEUED
        world.worker("late")
        done = await wait_finished(engine, job.id)
    assert done.status is JobStatus.COMPLETED
    assert done.host_runs["routed"].error is None
    assert done.host_runs["routed"].worker == "late"


async def test_orders_published_together_start_together_after_runs_ended(world: World) -> None:
    """A job's orders are taken in one wave, with the room the worker has when they
    come: the fetch waiting for them was sized while the job before still ran."""
    hosts = "".join(f"        r{n}:\n          ansible_connection: local\n" for n in range(12))
    world.settings.inventory.write_text(
        "all:\n  children:\n    many:\n      vars:\n        console_worker_group: g1\n"
        "      hosts:\n" + hosts
    )
    world.runbook("hello.sh", "#!/bin/sh\necho hello\n")
    worker = world.worker("w", "--capacity", "12")
    async with world.engine() as engine:
        first = await engine.start_job("hello", "r0", {})
        assert (await wait_finished(engine, first.id)).status is JobStatus.COMPLETED
        await await_until(lambda: f"ended {first.id}.r0" in worker.text(), "first job ended")
        second = await engine.start_job("hello", "many", {})
        done = await wait_finished(engine, second.id)
    assert done.status is JobStatus.COMPLETED, done.host_runs
    assert "took 12 order(s)" in worker.text(), worker.text()
