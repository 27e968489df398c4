"""A worker-group world for tests: an inventory of `local` hosts (one or more routed to
group g1), a runbooks folder, a data directory with the group key asset, and real
`python -m console worker` processes on the test's nats-server."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.engine.core import Engine
from console.engine.options import EngineOptions
from console.jobs.model import Job
from console.settings import Settings
from console.workers.connection import NatsSettings
from tests.nats_server import NatsServer

ROOT = Path(__file__).resolve().parents[2]
GROUP = "g1"
GROUP_KEY = "k3y-of-group-g1-0123456789abcdef"
WAIT = 60.0  # seconds any awaited state may take on a slow machine
INVENTORY = f"""\
all:
  hosts:
    here:
      ansible_connection: local
  children:
    behind:
      vars:
        console_worker_group: {GROUP}
      hosts:
        routed:
          ansible_connection: local
        routed2:
          ansible_connection: local
"""


def wait_until(check: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"still not {what} after {timeout} s"
        time.sleep(0.05)


async def await_until(check: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    await asyncio.to_thread(wait_until, check, what, timeout)


@dataclass
class WorkerProc:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


@dataclass
class World:
    tmp: Path
    nats: NatsServer
    settings: Settings
    key_file: Path
    workers: list[WorkerProc] = field(default_factory=list)

    def runbook(self, name: str, text: str) -> None:
        (self.settings.runbooks / name).write_text(text)

    def worker(self, name: str, *args: str, env: dict[str, str] | None = None) -> WorkerProc:
        """A real worker process of group g1, once it takes orders."""
        log = self.tmp / f"worker-{name}.log"
        command = [
            sys.executable, "-m", "console", "worker", "--group", GROUP,
            "--nats", self.nats.url, "--name", name,
            "--group-key-file", str(self.key_file), "--ack-wait", "2", *args,
        ]  # fmt: skip
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, cwd=ROOT, env={**os.environ, **(env or {})},
                stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            )  # fmt: skip
        proc = WorkerProc(name, process, log)
        self.workers.append(proc)
        wait_until(
            lambda: "takes orders" in proc.text() or process.poll() is not None, "taking orders"
        )
        assert process.poll() is None, proc.text()
        return proc

    @asynccontextmanager
    async def engine(self, **options: Any) -> AsyncIterator[Engine]:
        nats = NatsSettings(self.nats.url)
        engine = Engine(self.settings, EngineOptions(**{"nats": nats, **options}))
        await engine.start()
        try:
            await engine.assets.set_variable(f"worker-group-{GROUP}", GROUP_KEY, encrypted=True)
            yield engine
        finally:
            await engine.close()

    def close(self) -> None:
        for proc in self.workers:
            proc.kill()


def make_world(tmp: Path, nats: NatsServer) -> World:
    settings = Settings(
        inventory=tmp / "inventory.yaml", data_dir=tmp / "data", runbooks=tmp / "runbooks"
    )
    settings.inventory.write_text(INVENTORY)
    settings.runbooks.mkdir()
    key_file = tmp / "group.key"
    key_file.write_text(GROUP_KEY)
    return World(tmp, nats, settings, key_file)


async def wait_finished(engine: Engine, job_id: str, timeout: float = WAIT) -> Job:
    deadline = time.monotonic() + timeout
    while True:
        job = await engine.job(job_id)
        if job.status.finished:
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job.status}"
        await asyncio.sleep(0.05)


async def wait_run(
    engine: Engine, job_id: str, host: str, check: Callable[[Any], bool], what: str
) -> None:
    deadline = time.monotonic() + WAIT
    while not check((await engine.job(job_id)).host_runs[host]):
        assert time.monotonic() < deadline, f"the run on {host} is still not {what}"
        await asyncio.sleep(0.05)


async def wait_output(engine: Engine, job_id: str, lines: list[str]) -> None:
    """Until the job's stored output is exactly `lines`."""
    deadline = time.monotonic() + WAIT
    while [r.text for r in await engine.streams(job_id)] != lines:
        assert time.monotonic() < deadline, f"job {job_id}'s output is not {lines}"
        await asyncio.sleep(0.05)


def cli_env(world: World) -> dict[str, str]:
    """The environment a user's shell has for this world's engine."""
    return {
        **os.environ,
        "OPSCONSOLE_NATS": world.nats.url,
        "OPSCONSOLE_INVENTORY": str(world.settings.inventory),
        "OPSCONSOLE_DATA_DIR": str(world.settings.data_dir),
        "OPSCONSOLE_RUNBOOKS": str(world.settings.runbooks),
    }


def cli(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console", *args],
        cwd=ROOT, env=cli_env(world), capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def serve(world: World, log: Path) -> subprocess.Popen[bytes]:
    """A real `opsconsole serve --nats` on the world's data directory, once started."""
    command = [sys.executable, "-m", "console", "serve", "--listen", "127.0.0.1:0"]
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*command, "--no-collection"],
            cwd=ROOT, env=cli_env(world), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
        )  # fmt: skip
    wait_until(
        lambda: (
            log.read_text(errors="replace").count("engine started") > 0 and process.poll() is None
        ),
        "serving",
    )
    return process
