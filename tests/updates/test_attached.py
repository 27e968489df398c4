"""Update management through a running `opsconsole serve`: the CLI attaches over the
control socket (RemoteUpdates) and gets what an in-process engine gives; the one host
has no SSH server, so a run fails there and installs nothing."""

from __future__ import annotations

from tests.serve.conftest import Site, site

GHOST = """\
all:
  hosts:
    ghost:
      ansible_host: 127.0.0.1
      ansible_port: 1
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
