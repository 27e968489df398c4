"""Ad-hoc `(command)` jobs through the engine, and running again only the failed hosts."""

from __future__ import annotations

import pytest

from console.engine.job_building import COMMAND_RUNBOOK
from console.errors import UsageError
from console.jobs.model import JobStatus
from tests.jobs.helpers import JobEnv, wait_finished

pytestmark = pytest.mark.timeout(180)

PICKY = """#!/bin/sh
# /// runbook
# [parameters.spare]
# type = "string"
# required = true
# ///
echo "$OPS_PARAM_SPARE on $(hostname)"
[ "$(hostname)" != "$OPS_PARAM_SPARE" ]
"""


async def test_command_job_and_rerun_of_its_failed_hosts(job_env: JobEnv) -> None:
    async with job_env.engine() as engine:
        job = await engine.start_command(
            "host01:host02:host03", 'hostname; test "$(hostname)" != host02'
        )
        done = await wait_finished(engine, job.id)
        assert (done.runbook, done.parameters["command"]) == (
            COMMAND_RUNBOOK,
            'hostname; test "$(hostname)" != host02',
        )
        assert done.status is JobStatus.FAILED
        assert {h: r.status for h, r in done.host_runs.items()} == {
            "host01": JobStatus.COMPLETED,
            "host02": JobStatus.FAILED,
            "host03": JobStatus.COMPLETED,
        }
        assert done.host_runs["host02"].exit_code == 1
        assert {(r.host, r.text) for r in await engine.streams(job.id)} == {
            ("host01", "host01"),
            ("host02", "host02"),
            ("host03", "host03"),
        }

        again = await engine.rerun_job(job.id, failed_only=True)
        assert (again.runbook, again.hosts) == (COMMAND_RUNBOOK, ["host02"])
        redone = await wait_finished(engine, again.id)
        assert redone.status is JobStatus.FAILED  # the same command fails there again
        assert [r.text for r in await engine.streams(again.id)] == ["host02"]

        with pytest.raises(UsageError, match="empty"):
            await engine.start_command("host01", "  ")


async def test_rerun_failed_only_keeps_the_parameters(job_env: JobEnv) -> None:
    job_env.runbook("picky.sh", PICKY)
    async with job_env.engine() as engine:
        job = await engine.start_job("picky", "host04:host05:ghost", {"spare": "host05"})
        done = await wait_finished(engine, job.id)
        assert done.failed_hosts() == ["host05", "ghost"]
        assert done.host_runs["ghost"].error_kind == "unreachable"
        again = await engine.rerun_job(job.id, failed_only=True)
        assert sorted(again.hosts) == ["ghost", "host05"]
        assert again.parameters == {"spare": "host05"}
        await wait_finished(engine, again.id)
        all_again = await engine.rerun_job(job.id)
        assert (all_again.pattern, all_again.hosts) == (job.pattern, job.hosts)
        await wait_finished(engine, all_again.id)
        ok = await engine.start_job("picky", "host04", {"spare": "none"})
        assert (await wait_finished(engine, ok.id)).status is JobStatus.COMPLETED
        with pytest.raises(UsageError, match="no failed hosts"):
            await engine.rerun_job(ok.id, failed_only=True)
