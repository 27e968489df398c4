"""kill -9 of a CLI engine mid-job, then the very first command: it already tells the
truth. And the data-directory lock that commands reading the store take for it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.jobs.model import Job, new_job_id
from console.store import Store
from console.store.recovery import INTERRUPTED
from tests.reliability.store_world import StoreWorld

pytestmark = pytest.mark.timeout(120)

SLOW = """#!/bin/sh
echo "$OPS_JOB_ID" > "{out}/job.tmp" && mv "{out}/job.tmp" "{out}/job"
echo "$OPS_WORKDIR" > "{out}/workdir"
echo $$ > "{out}/pid.tmp" && mv "{out}/pid.tmp" "{out}/pid"
echo started
exec sleep 300
"""


def wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"opsconsole exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)
    return path.read_text().strip()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[StoreWorld]:
    made = StoreWorld(tmp_path)
    made.runbook("slow.sh", SLOW.format(out=tmp_path))
    yield made
    pid_file = tmp_path / "pid"
    if pid_file.exists():  # the runbook's sleep, orphaned by the kill: ours to end
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def crash_mid_job(world: StoreWorld) -> str:
    """`opsconsole run slow all`, SIGKILLed once the runbook runs; returns the job id."""
    run = world.popen("run", "slow", "all", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        job_id = wait_for(world.root / "job", run)
        wait_for(world.root / "pid", run)
        # The kill comes once the engine has the output line: what it had is what the
        # first command after the crash must show (an attached `jobs show` reads it).
        deadline = time.monotonic() + 60
        while [r["text"] for r in world.cli_json("jobs", "show", job_id)["streams"]] != ["started"]:
            assert run.poll() is None, f"opsconsole exited with {run.returncode}"
            assert time.monotonic() < deadline, "the runbook's output never reached the engine"
            time.sleep(0.05)
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    return job_id


def test_first_jobs_list_after_kill_9_shows_the_job_failed(world: StoreWorld) -> None:
    job_id = crash_mid_job(world)

    listed = world.cli_json("jobs", "list")
    assert [(j["id"], j["status"]) for j in listed] == [(job_id, "Failed")]
    shown = world.cli_json("jobs", "show", job_id)
    assert shown["reason"] == INTERRUPTED
    assert shown["ended"] is not None
    (run,) = shown["host_runs"]
    assert run["status"] == "Failed" and INTERRUPTED in run["error"]
    assert [r["text"] for r in shown["streams"]] == ["started"]
    human = world.cli("jobs", "list")
    assert human.returncode == 0 and "Running" not in human.stdout


def test_first_jobs_show_after_kill_9_shows_the_reason(world: StoreWorld) -> None:
    job_id = crash_mid_job(world)

    human = world.cli("jobs", "show", job_id)
    assert human.returncode == 0, human.stderr
    assert f"job {job_id}  Failed" in human.stdout
    assert f"reason: {INTERRUPTED}" in human.stdout


def test_a_killed_engines_work_folder_goes_when_the_next_engine_starts(
    world: StoreWorld,
) -> None:
    """The killed engine could not remove its host run's work folder (the runbook, a
    webhook's data); nothing else will, so the next engine on the data directory does."""
    crash_mid_job(world)
    left = Path((world.root / "workdir").read_text().strip())
    assert left.parent == world.data_dir / "work", left
    assert [p.name for p in left.iterdir()] == ["slow.sh"]

    world.cli_json("jobs", "list")  # a reader: an engine may still be using it
    assert left.is_dir()
    done = world.cli("exec", "all", "--", "true")  # an engine that runs jobs starts
    assert done.returncode == 0, done.stderr
    assert not left.exists()


def test_readers_and_a_starting_engine_share_the_lock(world: StoreWorld) -> None:
    """Readers now take the data-directory lock for a moment: a `serve` starting while
    several `jobs list` run must still start (it waits for a reader), and every
    reader must end well, reading the store itself or attaching to the new engine."""
    world.runbook("hello.sh", "#!/bin/sh\necho hello\n")
    assert world.cli("run", "hello", "all").returncode == 0
    log_path = world.root / "serve.log"
    with log_path.open("w") as log:
        readers = [world.popen("jobs", "list", "--json", stdout=subprocess.PIPE) for _ in range(6)]
        serve = world.popen(
            "serve", "--listen", "127.0.0.1:0", "--no-collection", stdout=log, stderr=log
        )
        readers += [world.popen("jobs", "list", "--json", stdout=subprocess.PIPE) for _ in range(6)]
    try:
        deadline = time.monotonic() + 60
        while "engine started" not in log_path.read_text():
            assert serve.poll() is None, f"serve exited: {log_path.read_text()}"
            assert time.monotonic() < deadline, f"serve did not start: {log_path.read_text()}"
            time.sleep(0.05)
        for reader in readers:
            out, _ = reader.communicate(timeout=60)
            assert reader.returncode == 0
            assert '"Completed"' in out
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)


def test_reading_history_leaves_a_queued_job_queued(world: StoreWorld) -> None:
    """With no engine running, `jobs list` and `jobs show` read through a read-only
    engine: it must not start a Queued job (and stop it again when the command ends),
    nor need a loadable inventory to show history."""
    marker = world.root / "ran"
    world.runbook("mark.sh", f"#!/bin/sh\ntouch {marker}\n")
    store = Store(world.data_dir)
    try:
        job = Job(id=new_job_id(), runbook="mark", pattern="all", hosts=["localhost"])
        store.add_job(job)
    finally:
        store.close()
    world.inventory.write_text("all: [this is not an inventory\n")

    for _ in range(2):
        listed = world.cli_json("jobs", "list")
        assert [(j["id"], j["status"]) for j in listed] == [(job.id, "Queued")]
    shown = world.cli_json("jobs", "show", job.id)
    assert shown["status"] == "Queued" and shown["started"] is None
    assert [r["status"] for r in shown["host_runs"]] == ["Queued"]
    assert not marker.exists()
