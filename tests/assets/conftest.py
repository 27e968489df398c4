"""Fixtures for the asset tests: the serve tests' `site` (inventory with `localhost`,
runbooks folder, data directory, `opsconsole serve`), plus `assets(...)`, which runs
`opsconsole assets ...` as a real process with a stdin, and `grep_data`, which looks
for a text in every file of the data directory."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.serve.conftest import OPSCONSOLE, Site, site

__all__ = ["site"]  # the serve tests' fixture, shared

RunAssets = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def assets(site: Site) -> RunAssets:
    def run(
        *args: str, stdin: str = "", env: dict[str, str] | None = None, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(OPSCONSOLE), "assets", *args],
            env={**site.env, **(env or {})},
            input=stdin,
            text=True,
            capture_output=True,
            timeout=timeout,
        )

    return run


def files_containing(root: Path, needle: str) -> list[Path]:
    raw = needle.encode()
    return [
        p for p in root.rglob("*") if p.is_file() and not p.is_socket() and raw in p.read_bytes()
    ]
