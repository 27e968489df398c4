"""Update management through a running `opsconsole serve`: the CLI attaches over the
control socket (RemoteUpdates) and gets what an in-process engine gives; the one host
has no SSH server, so a run fails there and installs nothing."""

from __future__ import annotations

import json

from tests.serve.conftest import Site, site

GHOST = """\
all:
  hosts:
    ghost:
      ansible_host: 127.0.0.1
      ansible_port: 1
"""

TWO_LOCAL = """\
all:
  hosts:
    l1:
      ansible_connection: local
    l2:
      ansible_connection: local
"""

# Fails on l1; on l2 it first waits until the engine has ended l1's host run, so that
# l1's pre-runbook has failed before l2's ends, whatever the machine's speed.
FREEZE = """#!/bin/sh
# /// runbook
# description = "the pre-runbook of the stop test"
# ///
echo "pre $OPS_DEPLOYMENT $OPS_DEPLOYMENT_PHASE $OPS_HOST $OPS_DEPLOYMENT_HOSTS"
[ "$OPS_HOST" = l1 ] && exit 3
ended='import json, sys
runs = {r["host"]: r["status"] for r in json.load(sys.stdin)["host_runs"]}
sys.exit(0 if runs["l1"] in ("Completed", "Failed", "Stopped") else 1)'
for _ in $(seq 600); do
  opsconsole jobs show "$OPS_JOB_ID" --json | python3 -c "$ended" && exit 0
  sleep 0.2
done
exit 0
"""

__all__ = ["site"]


def test_deployments_scheduled_and_run_through_a_running_engine(site: Site) -> None:
    site.inventory.write_text(GHOST)
    site.serve()
    at_night = ("--classification", "Security", "--at", "2099-01-01T02:00", "--tz", "Europe/Berlin")
    done = site.cli("updates", "deploy", "night", "ghost", *at_night)
    assert "deployment night scheduled; next run 2099-01-01T01:00:00+00:00" in done.stdout
    again = site.cli("updates", "deploy", "night", "ghost", *at_night, check=False)
    assert again.returncode == 2 and "'night' is already scheduled" in again.stderr
    late = ("--classification", "Security", "--at", "2020-01-01T02:00")
    past = site.cli("updates", "deploy", "late", "ghost", *late, check=False)
    assert past.returncode == 2 and "--at: 2020-01-01T02:00 (UTC) is in the past" in past.stderr
    assert [d["name"] for d in site.cli_json("updates", "deployments", "list")] == ["night"]
    (schedule,) = site.cli_json("schedules", "list")
    assert (schedule["name"], schedule["parameters"]) == ("night", {"deployment": "night"})

    now = site.cli("updates", "deploy", "now", "ghost", "--classification", "Security", check=False)
    assert now.returncode == 1
    assert now.stdout.startswith("ghost | deployment Failed: unreachable: cannot connect")
    (run,) = site.cli_json("updates", "runs", "list")
    assert (run["name"], run["status"]) == ("now", "Failed")

    site.cli("updates", "deployments", "delete", "night")
    assert site.cli_json("schedules", "list") == []


def test_a_failed_pre_runbook_stops_the_run_with_stop_on_pre_failure(site: Site) -> None:
    site.inventory.write_text(TWO_LOCAL)
    site.add_runbook("freeze.sh", FREEZE)
    site.serve()
    done = site.cli(
        "updates", "deploy", "nightly", "l1,l2", "--classification", "Security",
        "--pre", "freeze", "--stop-on-pre-failure", "--json", check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    run = json.loads(done.stdout)
    hosts = {h["host"]: h for h in run["hosts"]}
    assert (hosts["l1"]["status"], hosts["l1"]["error"]) == (
        "Skipped",
        "pre-runbook freeze failed (exit status 3)",
    )
    assert (hosts["l2"]["status"], hosts["l2"]["error"]) == (
        "Skipped",
        "a pre-runbook failed on another host",
    )
    assert hosts["l2"]["packages"] == []  # nothing assessed nor installed there
    job = site.cli_json("jobs", "show", run["id"])
    said = [s["text"] for s in job["streams"] if s["text"].startswith("pre ")]
    assert sorted(said) == ["pre nightly pre l1 l1,l2", "pre nightly pre l2 l1,l2"]
