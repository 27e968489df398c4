"""The runbooks/run/jobs CLI contract, through the installed `opsconsole` script."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

from console.store.lock import DataDirLock
from tests.jobs.helpers import JobEnv, gone_on_host

pytestmark = pytest.mark.timeout(180)

SUMMARY_KEYS = {
    "id",
    "runbook",
    "pattern",
    "hosts",
    "status",
    "trigger",
    "started_by",
    "created",
    "started",
    "ended",
}
DETAIL_KEYS = SUMMARY_KEYS | {"parameters", "trigger_ref", "reason", "host_runs", "streams"}

GREET = """#!/bin/sh
# /// runbook
# description = "Greet from each host"
# [parameters.name]
# type = "string"
# required = true
# [parameters.count]
# type = "int"
# default = 1
# [parameters.tone]
# type = "choice"
# choices = ["warm", "cold"]
# default = "warm"
# ///
i=0
while [ "$i" -lt "$OPS_PARAM_COUNT" ]; do
    echo "$OPS_PARAM_TONE hello $OPS_PARAM_NAME from $(hostname)"
    i=$((i + 1))
done
echo "::warning::careful on $(hostname)"
"""

FAIL = "#!/bin/sh\necho about to fail\nexit 3\n"


def wait_ended(job_env: JobEnv, job_id: str, timeout: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, object] = job_env.cli_json("jobs", "show", job_id)
        if job["ended"] is not None:
            return job
        assert time.monotonic() < deadline, f"job {job_id} did not end: {job}"
        time.sleep(0.1)


def test_runbooks_list_and_show(job_env: JobEnv) -> None:
    job_env.runbook("greet.sh", GREET)
    job_env.runbook("fail.sh", FAIL)
    listed = job_env.cli_json("runbooks", "list")
    assert sorted(b["name"] for b in listed) == ["fail", "greet"]
    greet = next(b for b in listed if b["name"] == "greet")
    assert (greet["language"], greet["description"]) == ("shell", "Greet from each host")
    shown = job_env.cli("runbooks", "show", "greet")
    assert shown.returncode == 0, shown.stderr
    assert "-p name=<string>  (required)" in shown.stdout
    assert "-p tone=<choice>  (default 'warm' one of warm, cold)" in shown.stdout
    missing = job_env.cli("runbooks", "show", "nope")
    assert missing.returncode == 2 and "nope" in missing.stderr


def test_run_json_and_jobs_list_show(job_env: JobEnv) -> None:
    job_env.runbook("greet.sh", GREET)
    job_env.runbook("fail.sh", FAIL)
    # The pattern may come between options (argparse alone calls it "unrecognized").
    done = job_env.cli("run", "greet", "-p", "name=ops", "host01:host02", "-p", "count=2", "--json")
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert set(job) == DETAIL_KEYS
    assert (job["status"], job["trigger"], job["trigger_ref"]) == ("Completed", "cli", None)
    assert job["parameters"] == {"name": "ops", "count": 2, "tone": "warm"}
    host_run_keys = {"host", "status", "exit_code", "error", "worker"}
    assert [set(r) for r in job["host_runs"]] == [host_run_keys] * 2
    assert [r["worker"] for r in job["host_runs"]] == [None, None]  # run by the engine
    assert {(r["host"], r["stream"], r["text"]) for r in job["streams"]} == {
        (h, s, t)
        for h in ("host01", "host02")
        for s, t in (("output", f"warm hello ops from {h}"), ("warning", f"careful on {h}"))
    }
    assert all(set(r) == {"time", "host", "stream", "text"} for r in job["streams"])

    failed = job_env.cli("run", "fail", "host03")
    assert failed.returncode == 1
    assert "host03 | about to fail" in failed.stdout
    assert "Failed" in failed.stderr and "exited with status 3" in failed.stdout + failed.stderr

    listed = job_env.cli_json("jobs", "list")
    assert [j["runbook"] for j in listed] == ["fail", "greet"]  # newest first
    assert all(set(j) == SUMMARY_KEYS for j in listed)
    assert [j["runbook"] for j in job_env.cli_json("jobs", "list", "--status", "failed")] == [
        "fail"
    ]
    assert [j["id"] for j in job_env.cli_json("jobs", "list", "--runbook", "greet")] == [job["id"]]
    assert len(job_env.cli_json("jobs", "list", "--limit", "1")) == 1

    warnings = job_env.cli("jobs", "show", job["id"], "--stream", "warning")
    assert warnings.returncode == 0, warnings.stderr
    stream_lines = [line for line in warnings.stdout.splitlines() if " W " in line]
    assert sorted(stream_lines) == ["host01 W careful on host01", "host02 W careful on host02"]
    assert "hello" not in warnings.stdout


@pytest.mark.parametrize(
    ("params", "words"),
    [
        (["-p", "name=x", "-p", "colour=red"], ["colour", "no parameter"]),
        ([], ["'name'", "required"]),
        (["-p", "name=x", "-p", "count=many"], ["'count'", "whole number"]),
        (["-p", "name=x", "-p", "tone=lukewarm"], ["'tone'", "not allowed", "warm, cold"]),
    ],
)
def test_bad_parameters_exit_2_and_create_no_job(
    job_env: JobEnv, params: list[str], words: list[str]
) -> None:
    job_env.runbook("greet.sh", GREET)
    done = job_env.cli("run", "greet", "host01", *params)
    assert done.returncode == 2, done.stderr
    for word in words:
        assert word in done.stderr
    assert job_env.cli_json("jobs", "list") == []


def test_no_wait_with_no_engine_starts_one_in_the_background(job_env: JobEnv) -> None:
    job_env.runbook("greet.sh", GREET)
    done = job_env.cli("run", "greet", "host04", "-p", "name=bg", "--no-wait")
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip()
    assert len(job_id) == 20 and "\n" not in job_id
    job = wait_ended(job_env, job_id)
    assert job["status"] == "Completed"
    assert any(r["text"] == "warm hello bg from host04" for r in job["streams"])  # type: ignore[attr-defined]
    # --until-idle: the background engine goes away by itself.
    lock = DataDirLock(job_env.settings.data_dir)
    deadline = time.monotonic() + 60  # it exits 5 s after its last job
    while lock.holder_pid() is not None:
        assert time.monotonic() < deadline, "the background engine did not exit when idle"
        time.sleep(0.2)


async def test_jobs_stop_through_a_running_engine(job_env: JobEnv) -> None:
    marker = f"clistop-{uuid.uuid4().hex[:8]}"
    job_env.runbook("sleeper.sh", f"#!/bin/sh\necho started\nsh -c 'sleep 300' {marker}\n")
    await asyncio.to_thread(job_env.serve)
    started = await job_env.acli("run", "sleeper", "host05", "--no-wait")
    assert started.returncode == 0, started.stderr
    job_id = started.stdout.strip()
    deadline = time.monotonic() + 60
    while job_env.cli_json("jobs", "show", job_id)["status"] != "Running":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    stopped = await job_env.acli("jobs", "stop", job_id)
    assert stopped.returncode == 0, stopped.stderr
    assert f"job {job_id} Stopped" in stopped.stderr
    job = job_env.cli_json("jobs", "show", job_id)
    assert job["status"] == "Stopped"
    assert [r["status"] for r in job["host_runs"]] == ["Stopped"]
    assert gone_on_host(job_env.fleet, "host05", marker)
    unknown = await job_env.acli("jobs", "show", "0" * 20)
    assert unknown.returncode == 2
