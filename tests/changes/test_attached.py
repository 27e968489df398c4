"""Inventory data through a running `opsconsole serve`: the CLI attaches over the
control socket (RemoteChanges) and gets what an in-process engine gives."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.serve.conftest import Site, site

CHANGE_RUNBOOK = """#!/bin/sh
# /// runbook
# description = "prints its tag and the changed file's name"
# [parameters.tag]
# type = "string"
# ///
name=$(printf '%s' "$OPS_CHANGE_DATA" | sed 's/.*"name":"\\([^"]*\\)".*/\\1/')
printf '%s %s\\n' "$OPS_PARAM_TAG" "$name"
"""

__all__ = ["site"]


def test_collect_facts_and_tracking_through_a_running_engine(site: Site, tmp_path: Path) -> None:
    tracked = tmp_path / "tracked.conf"
    tracked.write_text("port 22\n")
    site.serve()
    assert site.cli_json("tracking", "list") == []
    site.cli("tracking", "add-file", str(tracked))
    assert [t["path"] for t in site.cli_json("tracking", "list")] == [str(tracked)]

    first = site.cli_json("inventory", "collect", "localhost")
    assert [(r["host"], r["ok"]) for r in first] == [("localhost", True)]
    facts = site.cli_json("inventory", "facts", "localhost")
    assert facts["hostname"] == socket.gethostname()

    tracked.write_text("port 2222\n")
    again = site.cli_json("inventory", "collect", "localhost")
    assert again[0]["changes"] == 1
    changes = site.cli_json("changes", "list", "--host", "localhost")
    assert [(c["type"], c["change"], c["name"]) for c in changes] == [
        ("file", "modified", str(tracked))
    ]
    shown = site.cli("changes", "show", changes[0]["id"]).stdout
    assert "-port 22" in shown and "+port 2222" in shown


def test_a_serving_engine_collects_every_host_on_its_own(site: Site) -> None:
    assert site.cli("tracking", "interval").stdout == "each host is collected every 15m00s\n"
    serve = site.serve(collection=True)  # nobody runs `inventory collect`
    logged = serve.wait_for(lambda line: line["event"] == "periodic collection done")
    assert (logged["hosts"], logged["changes"], logged["failed"]) == (1, 0, 0)
    facts = site.cli_json("inventory", "facts", "localhost")
    assert facts["hostname"] == socket.gethostname()

    assert site.cli_json("tracking", "interval", "30m") == 1800
    assert "off" in site.cli("tracking", "interval", "off").stdout
    assert site.cli_json("tracking", "interval") is None
    too_short = site.cli("tracking", "interval", "10s", check=False)
    assert too_short.returncode == 2 and "too short" in too_short.stderr


def test_alerts_through_a_running_engine_start_their_jobs_there(site: Site, tmp_path: Path) -> None:
    site.add_runbook("on-change.sh", CHANGE_RUNBOOK)
    tracked = tmp_path / "watched.conf"
    tracked.write_text("a\n")
    site.serve()
    site.cli("tracking", "add-file", str(tracked))
    when = f"type=file name={tracked}"
    site.cli("tracking", "alert", "w1", "--when", when, "--runbook", "on-change", "-p", "tag=x")
    (alert,) = site.cli_json("tracking", "alerts")
    assert (alert["name"], alert["parameters"]) == ("w1", {"tag": "x"})
    site.cli("inventory", "collect", "localhost")
    tracked.write_text("b\n")
    (result,) = site.cli_json("inventory", "collect", "localhost")
    (job_id,) = result["alert_jobs"]
    job = site.wait_job(job_id)  # the engine runs it; the command did not wait
    assert (job["status"], job["trigger"]) == ("Completed", "alert")
    (line,) = [s["text"] for s in job["streams"] if s["stream"] == "output"]
    assert line == f"x {tracked}"
    assert "removed alert w1" in site.cli("tracking", "remove-alert", "w1").stdout
