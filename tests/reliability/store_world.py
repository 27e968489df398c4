"""A local opsconsole world for the store's reliability tests: one `localhost` host
(ansible_connection: local), a runbooks folder and a data directory, driven through
the installed `opsconsole` script as a user would."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OPSCONSOLE = ROOT / ".venv" / "bin" / "opsconsole"
INVENTORY = "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"


@dataclass
class StoreWorld:
    root: Path

    def __post_init__(self) -> None:
        self.inventory.write_text(INVENTORY)
        self.runbooks.mkdir(exist_ok=True)

    @property
    def inventory(self) -> Path:
        return self.root / "inventory.yaml"

    @property
    def runbooks(self) -> Path:
        return self.root / "runbooks"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("OPS_JOB_ID", None)
        env.update(
            OPSCONSOLE_INVENTORY=str(self.inventory),
            OPSCONSOLE_DATA_DIR=str(self.data_dir),
            OPSCONSOLE_RUNBOOKS=str(self.runbooks),
        )
        return env

    def runbook(self, name: str, text: str) -> None:
        (self.runbooks / name).write_text(text)

    def popen(self, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(OPSCONSOLE), *args], env=self.env, text=True, stdin=subprocess.DEVNULL, **kwargs
        )

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(OPSCONSOLE), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def cli_json(self, *args: str) -> Any:
        done = self.cli(*args, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)
