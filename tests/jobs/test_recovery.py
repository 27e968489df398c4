"""A real engine process killed with SIGKILL mid-job, the restart; the data-dir lock."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid

import pytest

from console.engine.connect import attach
from console.engine.core import Engine
from console.jobs.model import JobStatus, Trigger
from console.store.lock import EngineRunning
from console.store.recovery import INTERRUPTED
from tests.jobs.helpers import JobEnv, on_host, wait_finished, wait_status

pytestmark = pytest.mark.timeout(180)


async def test_restart_after_kill_9_fails_running_jobs_and_starts_queued_ones(
    job_env: JobEnv,
) -> None:
    marker = f"crash-{uuid.uuid4().hex[:8]}"
    job_env.runbook("sleeper.sh", f"#!/bin/sh\nsh -c 'sleep 300' {marker}\n")
    job_env.runbook("hello.sh", "#!/bin/sh\necho hello from $(hostname)\n")
    serve = await asyncio.to_thread(job_env.serve, "--max-jobs", "1")
    client = await attach(job_env.settings)
    assert client is not None and client.info["pid"] == serve.pid
    try:
        running = await client.start_job("sleeper", "host01:host02", {}, trigger=Trigger.CLI)
        queued = [
            await client.start_job("hello", host, {}, trigger=Trigger.CLI)
            for host in ("host03", "host04")
        ]
        await wait_status(client, running.id, "Running")
        while not on_host(job_env.fleet, "host01", marker):
            await asyncio.sleep(0.05)
        assert [(await client.job(j.id)).status for j in queued] == [JobStatus.QUEUED] * 2
    finally:
        await client.close()
    serve.send_signal(signal.SIGKILL)
    await asyncio.to_thread(serve.wait)

    async with job_env.engine() as engine:
        crashed = await engine.job(running.id)
        assert crashed.status is JobStatus.FAILED
        assert crashed.reason == INTERRUPTED
        assert crashed.ended is not None
        for run in crashed.host_runs.values():
            assert run.status is JobStatus.FAILED
            assert run.error_kind == "interrupted" and run.error == INTERRUPTED
        for job in queued:
            done = await wait_finished(engine, job.id)
            assert done.status is JobStatus.COMPLETED
            host = job.hosts[0]
            assert [r.text for r in await engine.streams(job.id)] == [f"hello from {host}"]
    listed = job_env.cli_json("jobs", "list")
    assert {j["id"]: j["status"] for j in listed} == {
        running.id: "Failed",
        queued[0].id: "Completed",
        queued[1].id: "Completed",
    }
    # The orphaned remote sleep is not ours to keep: end it so the host stays clean.
    job_env.fleet.host("host01").run(f"pkill -f '[{marker[0]}]{marker[1:]}'")
    job_env.fleet.host("host02").run(f"pkill -f '[{marker[0]}]{marker[1:]}'")


async def test_second_engine_is_refused_and_the_cli_attaches(job_env: JobEnv) -> None:
    job_env.runbook("hello.sh", "#!/bin/sh\necho hello from $(hostname)\n")
    serve = await asyncio.to_thread(job_env.serve)
    with pytest.raises(EngineRunning) as refused:
        await Engine(job_env.settings).start()
    assert refused.value.pid == serve.pid
    assert f"pid {serve.pid}" in str(refused.value)

    done = await job_env.acli("run", "hello", "host05", "--json")
    assert done.returncode == 0, done.stderr
    job_id = json.loads(done.stdout)["id"]
    client = await attach(job_env.settings)
    assert client is not None
    try:
        assert client.info["pid"] == serve.pid
        seen = await client.job(job_id)
        assert seen.status is JobStatus.COMPLETED and seen.trigger is Trigger.CLI
    finally:
        await client.close()
    listed = await job_env.acli("jobs", "list", "--json")
    assert [j["id"] for j in json.loads(listed.stdout)] == [job_id]
    # A second serve on the same directory refuses to start, naming the owner.
    second = await job_env.acli("serve", "--listen", "127.0.0.1:0", timeout=60)
    assert second.returncode != 0
    assert str(serve.pid) in second.stderr
