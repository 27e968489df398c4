"""Which worker ran a host run: kept by the store, named by `jobs show` (text and
`--json`), and absent (None, no stored key) for runs the engine ran itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.jobs.model import HostRun, JobStatus
from console.store import Store
from tests.store.helpers import compact_at_every_close, finish, make_job


def job_run_on_a_worker(data_dir: Path) -> str:
    """A finished job whose web01 ran on worker dmz-1 and web02 in the engine."""
    store = Store(data_dir)
    job = make_job(hosts=("web01", "web02"))
    store.add_job(job)
    for run in job.host_runs.values():
        run.transition(JobStatus.STARTING)
        run.transition(JobStatus.RUNNING)
        run.exit_code = 0
        run.transition(JobStatus.COMPLETED)
    job.host_runs["web01"].worker = "dmz-1"
    store.save_job(finish(job))
    store.close()
    return job.id


@pytest.mark.parametrize("compacted", [False, True], ids=["journal", "segments"])
def test_the_store_keeps_the_worker_of_each_host_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compacted: bool
) -> None:
    if compacted:
        compact_at_every_close(monkeypatch)
    job_id = job_run_on_a_worker(tmp_path / "data")

    again = Store(tmp_path / "data").get_job(job_id)
    assert {h: r.worker for h, r in again.host_runs.items()} == {"web01": "dmz-1", "web02": None}
    assert "worker" not in again.host_runs["web02"].to_dict()  # engine runs stored as before


def test_a_host_run_stored_before_workers_existed_has_none() -> None:
    old = {"host": "web01", "status": "Completed", "exit_code": 0, "started": 1.0, "ended": 2.0}
    assert HostRun.from_dict(old).worker is None


def opsconsole(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSCONSOLE_")}
    env["OPSCONSOLE_DATA_DIR"] = str(tmp_path / "data")
    return subprocess.run(
        [sys.executable, "-m", "console", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )


def test_jobs_show_names_the_worker_of_each_host_run(tmp_path: Path) -> None:
    job_id = job_run_on_a_worker(tmp_path / "data")

    shown = opsconsole(tmp_path, "jobs", "show", job_id, "--json")
    assert shown.returncode == 0, shown.stderr
    runs = json.loads(shown.stdout)["host_runs"]
    assert [(r["host"], r["worker"]) for r in runs] == [("web01", "dmz-1"), ("web02", None)]

    text = opsconsole(tmp_path, "jobs", "show", job_id)
    assert text.returncode == 0, text.stderr
    lines = {line.split()[0]: line for line in text.stdout.splitlines() if "exit 0" in line}
    assert "on worker dmz-1" in lines["web01"]
    assert "worker" not in lines["web02"]
