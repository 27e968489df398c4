"""Fixtures for runbook languages, metadata and parameters.

`run_invocation` runs a built `Invocation` the way the job runner does on a host, but
with a local `sh -c`: write `files` into a fresh private workdir, run `command` with
`env`, split each line into its job stream with `console.runbooks.streams.classify`.
`thirdparty_site` is a real `pip install` of tests/runbooks/thirdparty_plugin into a
temporary folder put on sys.path; `broken_site` is a folder of deliberately broken
plugins with their own dist-info, so `importlib.metadata` finds them like installed ones.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from console.runbooks.plugin_api import Invocation
from console.runbooks.streams import classify

HERE = Path(__file__).resolve().parent
THIRDPARTY = HERE / "thirdparty_plugin"


@dataclass
class LocalRun:
    code: int
    records: list[tuple[str, str]]  # (stream, text) in order per pipe: stdout then stderr
    workdir: Path

    def stream(self, name: str) -> list[str]:
        return [text for stream, text in self.records if stream == name]


RunInvocation = Callable[[Invocation, Path], LocalRun]


def run_locally(invocation: Invocation, workdir: Path, timeout: float = 60) -> LocalRun:
    """Upload (write) the files into `workdir` (with the runner's modes) and run."""
    workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name, data, mode in invocation.uploads():
        assert "/" not in name, "files must be plain names inside the workdir"
        path = workdir / name
        path.write_bytes(data)
        path.chmod(mode)
    base_env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    result = subprocess.run(
        ["sh", "-c", invocation.command],
        input=invocation.stdin,
        env={**base_env, **invocation.env},
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    records = [classify("stdout", line) for line in result.stdout.decode().splitlines()]
    records += [classify("stderr", line) for line in result.stderr.decode().splitlines()]
    return LocalRun(result.returncode, records, workdir)


@pytest.fixture
def run_invocation() -> RunInvocation:
    return run_locally


@pytest.fixture(scope="session")
def thirdparty_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The third-party plugin package, pip-installed (offline) into a folder on sys.path."""
    target = tmp_path_factory.mktemp("thirdparty-site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--target",
            str(target),
            str(THIRDPARTY),
        ],
        check=True,
        timeout=120,
    )
    sys.path.insert(0, str(target))
    try:
        yield target
    finally:
        sys.path.remove(str(target))


BROKEN_ENTRY_POINTS = """\
[opsconsole.runbook_languages]
raises = opsconsole_broken_raises:RaisingLanguage
syntax = opsconsole_broken_syntax:SyntaxLanguage
missing = opsconsole_not_installed:MissingLanguage
not-a-language = opsconsole_not_a_language:Thing
"""

BROKEN_MODULES = {
    # Declares its suffix as a literal, then fails when imported.
    "opsconsole_broken_raises.py": (
        "class RaisingLanguage:\n"
        "    suffixes = ('.raises',)\n"
        "raise RuntimeError('this plugin is broken on purpose')\n"
    ),
    "opsconsole_broken_syntax.py": "class SyntaxLanguage(:\n    suffixes = ('.syn',)\n",
    # Imports fine but is not a RunbookLanguage.
    "opsconsole_not_a_language.py": "class Thing:\n    suffixes = ('.thing',)\n",
}


def make_site(folder: Path, dist: str, entry_points: str, modules: dict[str, str]) -> Path:
    """A folder holding distribution `dist` (dist-info and modules), as pip would leave it."""
    dist_info = folder / f"{dist.replace('-', '_')}-0.1.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(entry_points)
    for name, source in modules.items():
        (folder / name).write_text(source)
    return folder


@contextmanager
def on_sys_path(folder: Path, modules: tuple[str, ...]) -> Iterator[Path]:
    """`folder` importable (and its dist-info visible) for the duration; then forgotten."""
    sys.path.insert(0, str(folder))
    try:
        yield folder
    finally:
        sys.path.remove(str(folder))
        for module in modules:
            sys.modules.pop(module, None)


@pytest.fixture
def broken_site(tmp_path: Path) -> Iterator[Path]:
    """A distribution whose four plugins are each broken in a different way."""
    site = make_site(
        tmp_path / "broken-site", "opsconsole-broken-fixture", BROKEN_ENTRY_POINTS, BROKEN_MODULES
    )
    with on_sys_path(site, ("opsconsole_broken_raises", "opsconsole_not_a_language")):
        yield site
