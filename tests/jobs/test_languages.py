"""Shell and Python runbooks as jobs on several fleet hosts, and an unreachable host."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.jobs.model import JobStatus
from tests.fleet import Fleet
from tests.jobs.helpers import JobEnv, make_job_env, wait_finished

pytestmark = pytest.mark.timeout(180)

FIVE = "host01:host02:host03:host04:host05"
HOSTS = ["host01", "host02", "host03", "host04", "host05"]

SHELL = """#!/bin/sh
# /// runbook
# description = "say which host this is"
# ///
echo "shell on $(hostname)"
"""

PYTHON = """# /// runbook
# description = "say which host this is, from Python"
# ///
import socket
print("python on " + socket.gethostname())
"""


async def test_shell_and_python_runbooks_report_each_host(job_env: JobEnv) -> None:
    job_env.runbook("where.sh", SHELL)
    job_env.runbook("where-py.py", PYTHON)
    async with job_env.engine() as engine:
        shell = await engine.start_job("where", FIVE, {})
        python = await engine.start_job("where-py", FIVE, {})
        for job, word in ((shell, "shell"), (python, "python")):
            done = await wait_finished(engine, job.id)
            assert done.status is JobStatus.COMPLETED, done.host_runs
            assert {r.status for r in done.host_runs.values()} == {JobStatus.COMPLETED}
            lines = {(r.host, r.text) for r in await engine.streams(job.id, stream="output")}
            assert lines == {(h, f"{word} on {h}") for h in HOSTS}
            assert all(r.exit_code == 0 for r in done.host_runs.values())


async def test_an_unreachable_host_fails_its_run_and_the_job(
    small_fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inventory = small_fleet.inventory(tmp_path / "inventory.yaml")
    job_env = make_job_env(small_fleet, inventory, tmp_path, monkeypatch)
    job_env.runbook("where.sh", SHELL)
    small_fleet.stop_host("host02")
    done = await job_env.acli("run", "where", "fleet", "--json")
    assert done.returncode == 1, done.stderr
    job = json.loads(done.stdout)
    assert job["status"] == "Failed"
    runs = {r["host"]: r for r in job["host_runs"]}
    assert runs["host02"]["status"] == "Failed"
    assert runs["host02"]["error"].startswith("unreachable")
    assert runs["host02"]["exit_code"] is None
    for host in ("host01", "host03"):
        assert (runs[host]["status"], runs[host]["exit_code"]) == ("Completed", 0)
    texts = {(r["host"], r["text"]) for r in job["streams"] if r["stream"] == "output"}
    assert texts == {("host01", "shell on host01"), ("host03", "shell on host03")}
