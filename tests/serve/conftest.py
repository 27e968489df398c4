"""Fixtures for the headless-engine tests: real `opsconsole serve` processes, real CLI
processes and a real HTTP client, on one tmp data directory with a `localhost` host
(`ansible_connection: local`, so no SSH is needed).

`site` gives a fresh inventory, runbooks folder and data directory; `site.serve()` starts
`opsconsole serve` on a free loopback port and waits for its "engine started" line;
`site.cli(...)` runs one `opsconsole` command against the same directories.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

OPSCONSOLE = Path(sys.executable).with_name("opsconsole")
START_TIMEOUT = 60.0

INVENTORY = """\
all:
  hosts:
    localhost:
      ansible_connection: local
"""


def runbook(description: str, body: str, parameters: str = "") -> str:
    """A shell runbook with its metadata block."""
    meta = f'# description = "{description}"\n' + parameters
    return f"#!/bin/sh\n# /// runbook\n{meta}# ///\n{body}\n"


@dataclass
class Serve:
    """One `opsconsole serve` process; its stderr (JSON lines) goes to a file."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    started: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url_base(self) -> str:
        return str(self.started["webhooks"])

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def logs(self) -> list[dict[str, Any]]:
        """Every stderr line parsed as JSON (a line that is not JSON fails the test)."""
        lines = [line for line in self.text().splitlines() if line.strip()]
        parsed = []
        for line in lines:
            try:
                parsed.append(json.loads(line))
            except ValueError:
                pytest.fail(f"serve wrote a line that is not JSON: {line!r}")
        return parsed

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.logs() if line.get("event") == name]

    def wait_for(self, predicate: Any, timeout: float = 60.0) -> dict[str, Any]:
        """The first log line matching `predicate`, waiting for it to be written."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.logs():
                if predicate(line):
                    return line
            if self.proc.poll() is not None and not any(predicate(x) for x in self.logs()):
                pytest.fail(f"serve exited {self.proc.returncode}:\n{self.text()}")
            time.sleep(0.05)
        pytest.fail(f"no matching serve log line within {timeout}s:\n{self.text()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)


@dataclass
class Site:
    root: Path

    def __post_init__(self) -> None:
        self.inventory = self.root / "inventory.yaml"
        self.runbooks = self.root / "runbooks"
        self.data_dir = self.root / "data"
        self.inventory.write_text(INVENTORY)
        self.runbooks.mkdir()
        self._serves: list[Serve] = []

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "OPSCONSOLE_INVENTORY": str(self.inventory),
            "OPSCONSOLE_DATA_DIR": str(self.data_dir),
            "OPSCONSOLE_RUNBOOKS": str(self.runbooks),
        }

    def add_runbook(self, name: str, text: str) -> None:
        (self.runbooks / name).write_text(text)

    def serve(
        self,
        *args: str,
        wait: bool = True,
        prefix: tuple[str, ...] = (),
        collection: bool = False,
    ) -> Serve:
        """`prefix` runs serve through another command (e.g. setpriv). The periodic
        collection is off unless `collection`: a test that collects says when."""
        log_path = self.root / f"serve-{len(self._serves)}.log"
        quiet = () if collection else ("--no-collection",)
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [*prefix, str(OPSCONSOLE), "serve", "--listen", "127.0.0.1:0", *quiet, *args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        serve = Serve(proc, log_path)
        self._serves.append(serve)
        if wait:
            serve.started = serve.wait_for(
                lambda line: line.get("event") == "engine started", START_TIMEOUT
            )
        return serve

    def cli(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(OPSCONSOLE), *args], env=self.env, text=True, capture_output=True, timeout=timeout
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"opsconsole {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def cli_json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json").stdout)

    def wait_job(self, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """`jobs show --json` once the job has finished."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.cli_json("jobs", "show", job_id)
            if job["ended"] is not None or time.monotonic() > deadline:
                return dict(job)
            time.sleep(0.2)

    def close(self) -> None:
        for serve in self._serves:
            if serve.proc.poll() is None:
                serve.proc.kill()
                serve.proc.wait()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    made = Site(tmp_path)
    try:
        yield made
    finally:
        made.close()
