"""Stream mapping; stopping running and queued jobs; time limits; the remote process ends."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from console.jobs.model import JobStatus
from tests.jobs.helpers import JobEnv, gone_on_host, on_host, wait_finished, wait_status

pytestmark = pytest.mark.timeout(180)

STREAMS = """#!/bin/sh
echo plain out
echo plain err >&2
echo '::warning::disk almost full'
echo '::verbose::details here' >&2
echo '::progress::copying (40%)'
echo '::debug::x=1'
echo '::note::stays output'
echo ' ::warning::stays output too'
"""


def sleeper(marker: str, timeout: int | None = None) -> str:
    block = f"# /// runbook\n# timeout = {timeout}\n# ///\n" if timeout else ""
    # The marker is the inner shell's $0, so it is on a command line pgrep can see.
    return f"#!/bin/sh\n{block}echo started\nsh -c 'sleep 300; echo never' {marker}\n"


async def test_streams_map_to_lower_case_names_in_jobs_show(job_env: JobEnv) -> None:
    job_env.runbook("streams.sh", STREAMS)
    done = await job_env.acli("run", "streams", "host08", "--json")
    assert done.returncode == 0, done.stderr
    job_id = json.loads(done.stdout)["id"]
    shown = json.loads((await job_env.acli("jobs", "show", job_id, "--json")).stdout)
    records = sorted((r["stream"], r["text"]) for r in shown["streams"])
    assert records == sorted(
        [
            ("output", "plain out"),
            ("error", "plain err"),
            ("warning", "disk almost full"),
            ("verbose", "details here"),
            ("progress", "copying (40%)"),
            ("debug", "x=1"),
            ("output", "::note::stays output"),
            ("output", " ::warning::stays output too"),
        ]
    )
    assert {r["host"] for r in shown["streams"]} == {"host08"}
    warning = await job_env.acli("jobs", "show", job_id, "--stream", "warning", "--json")
    assert [r["text"] for r in json.loads(warning.stdout)["streams"]] == ["disk almost full"]


async def test_stop_running_job_ends_remote_process(job_env: JobEnv) -> None:
    marker = f"stopme-{uuid.uuid4().hex[:8]}"
    job_env.runbook("sleeper.sh", sleeper(marker))
    async with job_env.engine() as engine:
        job = await engine.start_job("sleeper", "host09:host10", {})
        await wait_status(engine, job.id, "Running")
        while not (
            on_host(job_env.fleet, "host09", marker)
            and on_host(job_env.fleet, "host10", marker)
            and len(await engine.streams(job.id)) == 2
        ):
            await asyncio.sleep(0.05)
        stopped = await engine.stop_job(job.id)
        assert stopped.status is JobStatus.STOPPED
        assert {r.status for r in stopped.host_runs.values()} == {JobStatus.STOPPED}
        stored = engine.store.get_job(job.id) if engine.store else None
        assert stored is not None and stored.status is JobStatus.STOPPED
        assert [r.text for r in await engine.streams(job.id)] == ["started", "started"]
    assert gone_on_host(job_env.fleet, "host09", marker)
    assert gone_on_host(job_env.fleet, "host10", marker)


async def test_stop_queued_job_never_runs_it(job_env: JobEnv) -> None:
    marker = f"busy-{uuid.uuid4().hex[:8]}"
    job_env.runbook("sleeper.sh", sleeper(marker))
    job_env.runbook("hello.sh", "#!/bin/sh\necho hello\n")
    async with job_env.engine(max_jobs=1) as engine:
        busy = await engine.start_job("sleeper", "host11", {})
        await wait_status(engine, busy.id, "Running")
        queued = await engine.start_job("hello", "host11", {})
        await asyncio.sleep(0.2)
        assert (await engine.job(queued.id)).status is JobStatus.QUEUED
        stopped = await engine.stop_job(queued.id)
        assert stopped.status is JobStatus.STOPPED
        assert stopped.started is None
        assert (await engine.job(busy.id)).status is JobStatus.RUNNING
        await engine.stop_job(busy.id)
        await asyncio.sleep(0.2)
        final = await engine.job(queued.id)
        assert final.status is JobStatus.STOPPED
        assert {r.status for r in final.host_runs.values()} == {JobStatus.STOPPED}
        assert await engine.streams(queued.id) == []
    assert gone_on_host(job_env.fleet, "host11", marker)


async def test_metadata_timeout_fails_the_job_and_ends_the_process(job_env: JobEnv) -> None:
    marker = f"slow-{uuid.uuid4().hex[:8]}"
    job_env.runbook("slow.sh", sleeper(marker, timeout=2))
    async with job_env.engine() as engine:
        job = await engine.start_job("slow", "host12", {})
        done = await wait_finished(engine, job.id, timeout=60)
    assert done.status is JobStatus.FAILED
    assert done.reason is not None and "timed out after 2 s" in done.reason
    run = done.host_runs["host12"]
    assert run.status is JobStatus.FAILED and run.error_kind == "timed_out"
    assert done.ended is not None and done.started is not None
    assert 1.5 < done.ended - done.started < 8
    assert gone_on_host(job_env.fleet, "host12", marker)


async def test_cli_timeout_option_fails_the_job(job_env: JobEnv) -> None:
    marker = f"clislow-{uuid.uuid4().hex[:8]}"
    job_env.runbook("slow.sh", sleeper(marker))
    done = await job_env.acli("run", "slow", "host13", "--timeout", "1.5", "--json")
    assert done.returncode == 1, done.stderr
    job = json.loads(done.stdout)
    assert job["status"] == "Failed"
    assert "timed out after 1.5 s" in job["reason"]
    assert job["host_runs"][0]["error"].startswith("timed_out")
    assert gone_on_host(job_env.fleet, "host13", marker)
