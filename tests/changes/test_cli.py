"""`opsconsole inventory collect/facts/software`, `changes` and `tracking` as a user runs
them: real CLI processes, a real isolated sshd fleet (tests/fleet.py), the real store."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.changes.test_collector import PACKAGE, build_deb
from tests.fleet import Fleet, start_fleet

OPSCONSOLE = Path(sys.executable).with_name("opsconsole")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs an isolated fleet (root)")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with start_fleet(3, tmp_path_factory.mktemp("changes-cli")) as started:
        yield started


@pytest.fixture
def env(fleet: Fleet, tmp_path: Path) -> dict[str, str]:
    """A fresh data directory over the fleet's inventory (group `fleet`)."""
    (tmp_path / "runbooks").mkdir()
    fleet.inventory(tmp_path / "inventory.yaml")
    return {
        **fleet.ssh_env(),
        "OPSCONSOLE_INVENTORY": str(tmp_path / "inventory.yaml"),
        "OPSCONSOLE_DATA_DIR": str(tmp_path / "data"),
        "OPSCONSOLE_RUNBOOKS": str(tmp_path / "runbooks"),
    }


def opsconsole(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(OPSCONSOLE), *args], env=env, text=True, capture_output=True, timeout=300
    )


def ok(env: dict[str, str], *args: str) -> str:
    done = opsconsole(env, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def changes(env: dict[str, str], *args: str) -> list[dict[str, object]]:
    listed: list[dict[str, object]] = json.loads(ok(env, "changes", "list", "--json", *args))
    return listed


def test_collect_then_facts_and_software_of_a_host(fleet: Fleet, env: dict[str, str]) -> None:
    lines = ok(env, "inventory", "collect", "fleet").splitlines()
    assert sorted(lines) == [f"{h.name} | ok | 0 changes" for h in fleet.hosts]
    host = fleet.hosts[1]
    facts = json.loads(ok(env, "inventory", "facts", host.name, "--json"))
    assert facts["hostname"] == host.run("hostname", check=True).stdout.strip()
    assert set(facts) >= {
        "hostname", "fqdn", "os", "kernel", "arch", "cpus", "memory_mb", "ipv4", "ipv6",
        "uptime_s", "boot_time", "machine_id", "collected",
    }  # fmt: skip
    assert set(facts["os"]) == {"name", "version", "family"}
    software = json.loads(ok(env, "inventory", "software", host.name, "--json"))
    listed = host.run("dpkg-query -W -f='${Package} ${db:Status-Abbrev}\\n'", check=True)
    installed = {line.split()[0] for line in listed.stdout.splitlines() if line.endswith("ii ")}
    assert {p["name"] for p in software} == installed
    assert {p["source"] for p in software} == {"dpkg"}
    narrowed = json.loads(
        ok(env, "inventory", "software", host.name, "--filter", "openssh", "--json")
    )
    assert narrowed and len(narrowed) < len(software)
    assert all("openssh" in p["name"] for p in narrowed)


def test_an_installed_package_is_one_software_added_change_on_that_host(
    fleet: Fleet, env: dict[str, str], tmp_path: Path
) -> None:
    ok(env, "inventory", "collect", "fleet")
    host = fleet.hosts[0]
    deb = build_deb(tmp_path)
    host.run(
        "base64 -d > /tmp/p.deb && dpkg -i /tmp/p.deb",
        check=True,
        input=base64.b64encode(deb).decode(),
    )
    try:
        lines = ok(env, "inventory", "collect", "fleet").splitlines()
        assert f"{host.name} | ok | 1 change" in lines
        found = changes(env)
        assert [(c["host"], c["type"], c["change"], c["name"]) for c in found] == [
            (host.name, "software", "added", PACKAGE)
        ]
    finally:
        host.run(f"dpkg -P {PACKAGE}", check=True)


def test_an_edited_tracked_file_is_a_file_change_shown_as_a_diff(
    fleet: Fleet, env: dict[str, str]
) -> None:
    for host in fleet.hosts:
        host.run("printf 'welcome\\nport 22\\n' > /etc/motd-test", check=True)
    assert "tracking /etc/motd-test" in ok(env, "tracking", "add-file", "/etc/motd-test")
    ok(env, "tracking", "add-file", "/etc/nothing-here.d/*.conf")
    listed = json.loads(ok(env, "tracking", "list", "--json"))
    assert [t["path"] for t in listed] == ["/etc/motd-test", "/etc/nothing-here.d/*.conf"]
    first = ok(env, "inventory", "collect", "fleet")
    assert "/etc/nothing-here.d/*.conf matched nothing" in first  # said, not an error
    edited = fleet.hosts[2]
    edited.run("printf 'welcome\\nport 2222\\n' > /etc/motd-test", check=True)
    ok(env, "inventory", "collect", "fleet")
    (change,) = changes(env, "--type", "file")
    assert (change["host"], change["change"], change["name"]) == (
        edited.name,
        "modified",
        "/etc/motd-test",
    )
    shown = ok(env, "changes", "show", str(change["id"])).splitlines()
    assert "-port 22" in shown and "+port 2222" in shown and " welcome" in shown
    ok(env, "tracking", "remove-file", "/etc/motd-test")
    assert "/etc/motd-test" not in ok(env, "tracking", "list")


def test_a_host_that_is_down_fails_with_the_reason_and_gets_no_change(
    fleet: Fleet, env: dict[str, str]
) -> None:
    ok(env, "inventory", "collect", "fleet")
    down = fleet.hosts[1]
    fleet.stop_host(down.name)
    try:
        done = opsconsole(env, "inventory", "collect", "fleet")
        fleet.hosts[0].run("echo extra > /etc/c3-marker-fact", check=True)
    finally:
        fleet.start_host(down.name)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    (failed,) = [line for line in lines if line.startswith(f"{down.name} |")]
    assert failed.startswith(f"{down.name} | FAILED | unreachable: ")
    others = [h.name for h in fleet.hosts if h is not down]
    assert sorted(line for line in lines if line is not failed) == [
        f"{name} | ok | 0 changes" for name in others
    ]
    assert changes(env, "--host", down.name) == []
    ok(env, "inventory", "collect", "fleet")  # back: compared with its last good snapshot
    # Its sshd was started again with the host: that restart is all that changed.
    (restart,) = changes(env, "--host", down.name)
    assert (restart["type"], restart["name"]) == ("service", "ssh")
    assert restart["before"]["state"] == restart["after"]["state"] == "running"


def test_bad_input_is_refused_with_what_to_fix(env: dict[str, str]) -> None:
    unknown = opsconsole(env, "inventory", "facts", "no-such-host")
    assert unknown.returncode == 2
    assert "no host 'no-such-host'" in unknown.stderr
    relative = opsconsole(env, "tracking", "add-file", "etc/motd")
    assert relative.returncode == 2
    assert "not an absolute path" in relative.stderr
    bad_type = opsconsole(env, "changes", "list", "--type", "sofware")
    assert bad_type.returncode == 2 and "unknown change type 'sofware'" in bad_type.stderr
    bad_since = opsconsole(env, "changes", "list", "--since", "yesterday")
    assert bad_since.returncode == 2 and "--since" in bad_since.stderr
    missing = opsconsole(env, "changes", "show", "nope")
    assert missing.returncode == 2 and "no change 'nope'" in missing.stderr


ALERT_RUNBOOK = """#!/bin/sh
# /// runbook
# description = "says where it ran and what changed"
# ///
printf '%s %s\\n' "$(hostname)" "$OPS_CHANGE_DATA"
"""


def test_an_alert_runs_its_runbook_on_the_changed_host_with_change_data(
    fleet: Fleet, env: dict[str, str]
) -> None:
    Path(env["OPSCONSOLE_RUNBOOKS"], "on-change.sh").write_text(ALERT_RUNBOOK)
    for host in fleet.hosts:
        host.run("echo 'root:x:0:0' > /etc/alert-watched", check=True)
    ok(env, "tracking", "add-file", "/etc/alert-watched")
    when = "type=file name=/etc/alert-watched"
    typo = opsconsole(env, "tracking", "alert", "watch", "--when", when, "--runbook", "on-chnage")
    assert typo.returncode == 2 and "no runbook named 'on-chnage'" in typo.stderr
    ok(env, "tracking", "alert", "watch", "--when", when, "--runbook", "on-change")
    (alert,) = json.loads(ok(env, "tracking", "alerts", "--json"))
    assert (alert["name"], alert["when"], alert["runbook"]) == ("watch", when, "on-change")
    ok(env, "inventory", "collect", "fleet")  # the baseline

    changed = fleet.hosts[1]
    changed.run("echo 'mallory:x:0:0' >> /etc/alert-watched", check=True)
    collected = json.loads(ok(env, "inventory", "collect", "fleet", "--json"))
    started = {r["host"]: r["alert_jobs"] for r in collected}
    assert started == {h.name: [] for h in fleet.hosts} | {changed.name: started[changed.name]}
    (job_id,) = started[changed.name]
    job = json.loads(ok(env, "jobs", "show", job_id, "--json"))
    assert (job["status"], job["trigger"], job["trigger_ref"]) == ("Completed", "alert", "watch")
    assert [r["host"] for r in job["host_runs"]] == [changed.name]
    (output,) = [s["text"] for s in job["streams"] if s["stream"] == "output"]
    hostname, data = output.split(" ", 1)
    assert hostname == changed.run("hostname", check=True).stdout.strip()
    change = json.loads(data)
    assert (change["host"], change["type"], change["name"]) == (
        changed.name,
        "file",
        "/etc/alert-watched",
    )
    assert "+mallory:x:0:0" in change["diff"]
    assert job["parameters"]["ChangeData"]["id"] == change["id"]
    ok(env, "tracking", "remove-alert", "watch")
    assert "no alerts" in ok(env, "tracking", "alerts")


DAEMON_INIT = """#!/bin/sh
# A SysV service with a real process and pid file, as most daemons have.
PIDFILE=/run/fleet-flap.pid
case "$1" in
    start)
        setsid sleep 100000 </dev/null >/dev/null 2>&1 &
        echo $! > $PIDFILE ;;
    stop)
        kill "$(cat $PIDFILE)" && rm -f $PIDFILE ;;
    status)
        # `service --status-all` shows [ + ] only for a script that says something
        [ -f $PIDFILE ] && kill -0 "$(cat $PIDFILE)" 2>/dev/null && echo running && exit 0
        echo "not running"; exit 3 ;;
esac
"""


def service_changes(env: dict[str, str], host: str) -> list[tuple[object, object, object]]:
    return [
        (c["change"], (c["before"] or {}).get("state"), (c["after"] or {}).get("state"))
        for c in changes(env, "--type", "service", "--host", host)
    ]


def test_a_stopped_service_and_a_restart_between_collections_are_changes(
    fleet: Fleet, env: dict[str, str]
) -> None:
    host = fleet.hosts[2]
    host.run(
        "cat > /etc/init.d/fleet-flap && chmod 755 /etc/init.d/fleet-flap && "
        "/etc/init.d/fleet-flap start",
        input=DAEMON_INIT,
        check=True,
    )
    try:
        ok(env, "inventory", "collect", host.name)
        (service,) = [
            s
            for s in json.loads(ok(env, "inventory", "services", host.name, "--json"))
            if s["name"] == "fleet-flap"
        ]
        assert service["state"] == "running" and service["started"] is not None

        host.run("/etc/init.d/fleet-flap stop && /etc/init.d/fleet-flap start", check=True)
        ok(env, "inventory", "collect", host.name)  # running before and after: a flap
        (flap,) = changes(env, "--type", "service", "--host", host.name)
        assert (flap["change"], flap["name"]) == ("modified", "fleet-flap")
        assert flap["before"]["state"] == flap["after"]["state"] == "running"
        assert flap["after"]["started"] > flap["before"]["started"]

        host.run("/etc/init.d/fleet-flap stop", check=True)
        ok(env, "inventory", "collect", host.name)
        assert service_changes(env, host.name)[0] == ("modified", "running", "stopped")
        ok(env, "inventory", "collect", host.name)  # nothing moved: nothing invented
        assert len(service_changes(env, host.name)) == 2
    finally:
        host.run("/etc/init.d/fleet-flap stop; rm -f /etc/init.d/fleet-flap")
