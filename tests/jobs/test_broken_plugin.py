"""An installed language plugin that fails to import: reported, and jobs still run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.jobs.helpers import JobEnv
from tests.runbooks.conftest import BROKEN_ENTRY_POINTS, BROKEN_MODULES, make_site

pytestmark = pytest.mark.timeout(180)


def test_a_broken_plugin_does_not_stop_other_runbooks(job_env: JobEnv, tmp_path: Path) -> None:
    site = make_site(
        tmp_path / "broken-site", "opsconsole-broken-fixture", BROKEN_ENTRY_POINTS, BROKEN_MODULES
    )
    job_env.env["PYTHONPATH"] = str(site)
    job_env.runbook("hello.sh", "#!/bin/sh\necho hello from $(hostname)\n")
    job_env.runbook("oops.raises", "whatever\n")

    listed = job_env.cli("runbooks", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == ["hello", "shell"]
    assert "oops.raises: its language plugin cannot be loaded" in listed.stderr

    broken = job_env.cli("run", "oops", "host06")
    assert broken.returncode == 2
    assert "oops.raises: its language plugin cannot be loaded" in broken.stderr
    assert job_env.cli_json("jobs", "list") == []

    done = job_env.cli("run", "hello", "host06", "--json")
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["status"] == "Completed"
    assert [r["text"] for r in job["streams"]] == ["hello from host06"]
