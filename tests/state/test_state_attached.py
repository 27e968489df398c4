"""Desired state through a running `opsconsole serve`: the CLI attaches over the control
socket (RemoteState) and gets what an in-process engine gives; the local host is the
target (a file in a temporary folder), so no fleet is needed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.serve.conftest import Site, site

__all__ = ["site"]

CONFIGURATION = """description: a file on the engine's own machine
targets: localhost
mode: ApplyOnly
resources:
  - file: {path}
    content: "declared\\n"
    mode: "0640"
"""


def test_check_apply_status_and_show_through_a_running_engine(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "configurations"
    folder.mkdir()
    managed = tmp_path / "managed.conf"
    managed.write_text("by hand\n")
    (folder / "local.yaml").write_text(CONFIGURATION.format(path=managed))
    monkeypatch.setenv("OPSCONSOLE_CONFIGURATIONS", str(folder))
    site.serve()
    (info,) = site.cli_json("state", "validate")
    assert (info["name"], info["resources"], info["problem"]) == ("local", 1, "")
    # The serving engine runs the mode on its own: ApplyOnly applies to a Pending host.
    applied = wait_for_status(site, "Compliant")
    assert (applied["host"], applied["configuration"]) == ("localhost", "local")
    job = site.wait_job(applied["job_id"])
    assert (job["runbook"], job["trigger"]) == ("(state apply)", "schedule")
    assert managed.read_text() == "declared\n"

    managed.write_text("drifted\n")
    done = site.cli("state", "check", "local", check=False)
    assert done.returncode == 1 and "NotCompliant" in done.stdout
    assert "-drifted" in done.stdout and "+declared" in done.stdout
    (report,) = site.cli_json("state", "show", "localhost", "local")
    assert (report["kind"], report["status"], report["drifted"]) == ("check", "NotCompliant", 1)
    assert managed.read_text() == "drifted\n"  # a check changes nothing


def wait_for_status(site: Site, status: str, timeout: float = 60.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (row,) = site.cli_json("state", "status")
        if row["status"] == status:
            return row
        time.sleep(0.2)
    raise AssertionError(f"the status stayed {row['status']}, not {status}")
