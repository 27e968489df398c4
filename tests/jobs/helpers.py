"""Fixtures and helpers for the jobs engine on the real fleet.

`jobs_inventory`: the session fleet's 20 hosts, plus `localhost` (ansible_connection:
local, for child runbooks) and `ghost` (a closed port: unreachable at once).
`job_env`: per test, a fresh data directory and runbooks folder, HOME pointed at the
fleet's key and known_hosts (in-process and for CLI subprocesses), and helpers to
write runbooks, start an in-process engine and run the real `opsconsole` CLI.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from console.engine.core import Engine
from console.engine.options import EngineOptions
from console.jobs.model import Job
from console.settings import Settings
from tests.fleet import Fleet

ROOT = Path(__file__).resolve().parents[2]
OPSCONSOLE = ROOT / ".venv" / "bin" / "opsconsole"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def jobs_inventory(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("jobs") / "inventory.yaml"
    extra: dict[str, dict[str, Any]] = {
        "localhost": {"ansible_connection": "local"},
        "ghost": {"ansible_host": "127.0.0.1", "ansible_port": closed_port()},
    }
    return fleet.inventory(path, extra_hosts=extra)


@dataclass
class JobEnv:
    """One test's opsconsole world: settings, the environment a user's shell would have."""

    fleet: Fleet
    settings: Settings
    env: dict[str, str]
    serves: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def runbook(self, name: str, text: str) -> Path:
        path = self.settings.runbooks / name
        path.write_text(text)
        return path

    @asynccontextmanager
    async def engine(self, **options: Any) -> AsyncIterator[Engine]:
        engine = Engine(self.settings, EngineOptions(**options))
        await engine.start()
        try:
            yield engine
        finally:
            await engine.close()

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """The installed `opsconsole` script, as a user runs it."""
        return subprocess.run(
            [str(OPSCONSOLE), *args], capture_output=True, text=True, env=self.env, timeout=timeout
        )

    async def acli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """`cli` without blocking the loop an in-process engine runs on."""
        return await asyncio.to_thread(self.cli, *args, timeout=timeout)

    def serve(self, *args: str) -> subprocess.Popen[bytes]:
        """A real `opsconsole serve` process on this data dir, once its engine started
        (its periodic collection off: these tests count the fleet's runs)."""
        log_path = self.settings.data_dir.parent / f"serve-{len(self.serves)}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [str(OPSCONSOLE), "serve", "--listen", "127.0.0.1:0", "--no-collection", *args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        self.serves.append(proc)
        deadline = time.monotonic() + 60
        while "engine started" not in log_path.read_text(errors="replace"):
            assert proc.poll() is None, f"serve exited: {log_path.read_text()}"
            assert time.monotonic() < deadline, f"serve did not start: {log_path.read_text()}"
            time.sleep(0.05)
        return proc

    def close(self) -> None:
        for proc in self.serves:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def cli_json(self, *args: str) -> Any:
        done = self.cli(*args, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


@pytest.fixture
def job_env(
    fleet: Fleet, jobs_inventory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[JobEnv]:
    made = make_job_env(fleet, jobs_inventory, tmp_path, monkeypatch)
    try:
        yield made
    finally:
        made.close()


def make_job_env(
    fleet: Fleet, inventory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> JobEnv:
    monkeypatch.setenv("HOME", str(fleet.home))
    settings = Settings(
        inventory=inventory, data_dir=tmp_path / "data", runbooks=tmp_path / "runbooks"
    )
    settings.runbooks.mkdir()
    env = fleet.ssh_env()
    env.update(
        OPSCONSOLE_INVENTORY=str(inventory),
        OPSCONSOLE_DATA_DIR=str(settings.data_dir),
        OPSCONSOLE_RUNBOOKS=str(settings.runbooks),
        PATH=f"{OPSCONSOLE.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    env.pop("OPS_JOB_ID", None)
    return JobEnv(fleet, settings, env)


async def wait_finished(client: Any, job_id: str, timeout: float = 60) -> Job:
    """Poll until the job has finished; fail the test with its state if it does not."""
    deadline = time.monotonic() + timeout
    while True:
        job: Job = await client.job(job_id)
        if job.status.finished:
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job.status} after {timeout} s"
        await asyncio.sleep(0.05)


async def wait_status(client: Any, job_id: str, status: str, timeout: float = 60) -> Job:
    deadline = time.monotonic() + timeout
    while True:
        job: Job = await client.job(job_id)
        if job.status.value == status:
            return job
        assert time.monotonic() < deadline, f"job {job_id} is {job.status}, not {status}"
        await asyncio.sleep(0.05)


def gone_on_host(fleet: Fleet, host: str, marker: str, timeout: float = 30) -> bool:
    """True once no process on `host` has `marker` in its command line, and no
    `sleep 300` (what the test runbooks leave behind when a kill misses the group)."""
    pattern = f"[{marker[0]}]{marker[1:]}"  # never matches the checking shell itself
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check = f"pgrep -f '{pattern}' || pgrep -f '[s]leep 300'"
        if fleet.host(host).run(check).returncode == 1:
            return True
        time.sleep(0.1)
    return False


def on_host(fleet: Fleet, host: str, marker: str) -> bool:
    pattern = f"[{marker[0]}]{marker[1:]}"
    return fleet.host(host).run(f"pgrep -f '{pattern}'").returncode == 0
