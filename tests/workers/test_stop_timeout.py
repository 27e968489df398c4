"""Stop and the job's time limit end a run on a worker as they end a local one: the
process on the host ends, and the host run says why."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from console.jobs.model import JobStatus
from tests.workers.harness import World, await_until, wait_finished, wait_run

NO_WORKER_3S = "queued for worker group g1: no worker of it is online (fails after 3s without one)"


def sleeper(pid_file: Path) -> str:
    return f"#!/bin/sh\necho $$ > {pid_file}.tmp && mv {pid_file}.tmp {pid_file}\nexec sleep 300\n"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:  # a zombie has ended
            return stat.read().split()[2] != "Z"
    except (ProcessLookupError, FileNotFoundError):  # it ended since os.kill looked
        return False


async def test_stopping_a_job_ends_its_run_on_the_worker(world: World) -> None:
    pid_file = world.tmp / "pid"
    world.runbook("sleeper.sh", sleeper(pid_file))
    world.worker("w1")
    async with world.engine() as engine:
        job = await engine.start_job("sleeper", "routed", {})
        await await_until(pid_file.exists, "running")
        await engine.stop_job(job.id)
        done = await wait_finished(engine, job.id)
        pid = int(pid_file.read_text())
        await await_until(lambda: not alive(pid), "ended on the host")
    assert done.status is JobStatus.STOPPED
    assert done.host_runs["routed"].status is JobStatus.STOPPED


async def test_the_time_limit_ends_a_run_on_the_worker(world: World) -> None:
    pid_file = world.tmp / "pid"
    world.runbook("sleeper.sh", sleeper(pid_file))
    world.worker("w1")
    async with world.engine() as engine:
        job = await engine.start_job("sleeper", "routed", {}, timeout=3)
        done = await wait_finished(engine, job.id)
        pid = int(pid_file.read_text())
        await await_until(lambda: not alive(pid), "ended on the host")
    run = done.host_runs["routed"]
    assert done.status is JobStatus.FAILED
    assert run.error_kind == "timed_out", run
    assert done.reason == "timed out after 3 s"


async def test_a_run_stopped_while_queued_never_runs_later(world: World) -> None:
    marker = world.tmp / "ran"
    world.runbook("touch.sh", f"#!/bin/sh\ntouch {marker}\n")
    async with world.engine() as engine:  # no worker: the order waits in JetStream
        job = await engine.start_job("touch", "routed", {}, timeout=1)
        done = await wait_finished(engine, job.id)
    assert done.host_runs["routed"].error_kind == "timed_out"
    late = world.worker("late")
    await await_until(lambda: "started by another worker; dropped" in late.text(), "dropped")
    assert not marker.exists()


async def test_a_worker_stopped_by_sigterm_stops_its_runs_and_says_so(world: World) -> None:
    pid_file = world.tmp / "pid"
    world.runbook("sleeper.sh", sleeper(pid_file))
    worker = world.worker("w1")
    async with world.engine() as engine:
        job = await engine.start_job("sleeper", "routed", {})
        await await_until(pid_file.exists, "running")
        worker.process.send_signal(signal.SIGTERM)
        done = await wait_finished(engine, job.id)
        pid = int(pid_file.read_text())
        await await_until(lambda: not alive(pid), "ended on the host")
    run = done.host_runs["routed"]
    assert run.status is JobStatus.STOPPED
    assert run.error_kind == "cancelled"  # told by the worker, not "worker lost"
    assert run.error == "cancelled; the command was stopped"
    assert worker.process.wait() == 0


async def test_a_run_with_no_online_worker_waits_then_fails_and_never_runs_later(
    world: World,
) -> None:
    marker = world.tmp / "ran"
    world.runbook("touch.sh", f"#!/bin/sh\ntouch {marker}\n")
    async with world.engine(worker_wait=3.0) as engine:  # no worker of g1 online
        job = await engine.start_job("touch", "routed", {})
        await wait_run(
            engine,
            job.id,
            "routed",
            lambda r: r.error == NO_WORKER_3S,
            "waiting, saying why",
        )
        done = await wait_finished(engine, job.id)
    run = done.host_runs["routed"]
    assert (run.status, run.error_kind) == (JobStatus.FAILED, "no_online_worker")
    assert run.error == "no worker of group g1 was online for 3s"
    late = world.worker("late")
    await await_until(lambda: "started by another worker; dropped" in late.text(), "dropped")
    assert not marker.exists()
