"""Check against real isolated sshd hosts: for every resource type a compliant and a
drifted case with what a person would read (expected, actual, diff), in one script
that changes nothing on the host."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from console.state.model import Resource, ResourceResult, ResourceStatus
from console.transports.pool import TransportPool
from tests.fleet import Fleet, FleetHost, start_fleet
from tests.state.conftest import (
    NEEDS_ROOT,
    build_deb,
    check_on,
    install_demo_service,
    on_host,
    publish,
)

pytestmark = NEEDS_ROOT

COMPLIANT, DRIFTED = ResourceStatus.COMPLIANT, ResourceStatus.DRIFTED

SETUP = """
printf 'same\\n' > /etc/ok.conf && chmod 644 /etc/ok.conf
printf 'old line\\nkept\\n' > /etc/motd-x && chmod 600 /etc/motd-x
echo stale > /etc/stale.conf
mkdir -p /srv/d-ok && chmod 755 /srv/d-ok
mkdir -p /srv/d-mode && chmod 700 /srv/d-mode
printf 'Port 22\\nPermitRootLogin prohibit-password\\n' > /etc/ok-lines.conf
printf 'Port 22\\n#PermitRootLogin yes\\n' > /etc/bad-lines.conf
useradd -s /bin/sh alice && useradd -s /bin/sh bob
"""


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """One isolated host in a known state: files, packages from the local repo (1.0
    installed while 1.1 is published), two SysV services, users."""
    debs = tmp_path_factory.mktemp("debs")
    with start_fleet(1, tmp_path_factory.mktemp("check")) as started:
        host = started.hosts[0]
        publish(host, build_deb(debs, "fleet-hello", "1.0"), build_deb(debs, "fleet-old", "1.0"))
        host.run("apt-get install -y -qq fleet-hello fleet-old", check=True, timeout=120)
        publish(host, build_deb(debs, "fleet-old", "1.1"))
        install_demo_service(host, "demo-up", running=True, enabled=True)
        install_demo_service(host, "demo-down", running=False, enabled=False)
        host.run(SETUP, check=True)
        yield started


CASES = [
    (Resource("file", "/etc/ok.conf", {"content": "same\n", "mode": "0644",
                                       "owner": "root"}), COMPLIANT),
    (Resource("file", "/etc/motd-x", {"content": "new line\nkept\n", "mode": "0644"}), DRIFTED),
    (Resource("file", "/etc/never-there", {"state": "absent"}), COMPLIANT),
    (Resource("file", "/etc/stale.conf", {"state": "absent"}), DRIFTED),
    (Resource("directory", "/srv/d-ok", {"mode": "0755", "owner": "root"}), COMPLIANT),
    (Resource("directory", "/srv/d-mode", {"mode": "0755"}), DRIFTED),
    (Resource("package", "fleet-hello", {"state": "present"}), COMPLIANT),
    (Resource("package", "fleet-hello", {"version": "1.0"}), COMPLIANT),
    (Resource("package", "fleet-missing", {"state": "present"}), DRIFTED),
    (Resource("package", "fleet-old", {"state": "latest"}), DRIFTED),
    (Resource("service", "demo-up", {"running": True, "enabled": True}), COMPLIANT),
    (Resource("service", "demo-down", {"running": True, "enabled": False}), DRIFTED),
    (Resource("lineinfile", "/etc/ok-lines.conf", {"line": "PermitRootLogin prohibit-password",
                                                   "match": "^#?PermitRootLogin"}), COMPLIANT),
    (Resource("lineinfile", "/etc/bad-lines.conf", {"line": "PermitRootLogin prohibit-password",
                                                    "match": "^#?PermitRootLogin"}), DRIFTED),
    (Resource("user", "alice", {"shell": "/bin/sh"}), COMPLIANT),
    (Resource("user", "bob", {"shell": "/bin/bash", "groups": ["adm"]}), DRIFTED),
    (Resource("group", "adm"), COMPLIANT),
    (Resource("group", "no-such-group"), DRIFTED),
    (Resource("command", "true", {"check": "test -e /etc/ok.conf"}), COMPLIANT),
    (Resource("command", "touch /run/ran", {"check": "echo not yet; exit 1"}), DRIFTED),
]  # fmt: skip


async def check_all(hosts: Fleet, pool: TransportPool) -> dict[str, ResourceResult]:
    # Two package resources share an id; check them in two runs.
    first = [r for r, _ in CASES if r.properties != {"version": "1.0"}]
    second = [r for r, _ in CASES if r.properties == {"version": "1.0"}]
    results = await check_on(hosts, hosts.hosts[0], pool, first)
    versioned = await check_on(hosts, hosts.hosts[0], pool, second)
    return results | {f"{k} version": v for k, v in versioned.items()}


async def test_every_type_compliant_and_drifted(hosts: Fleet, pool: TransportPool) -> None:
    results = await check_all(hosts, pool)
    for resource, status in CASES:
        key = resource.id + (" version" if "version" in resource.properties else "")
        assert results[key].status is status, (key, results[key])


async def test_drifted_file_shows_a_unified_diff_with_mode(
    hosts: Fleet, pool: TransportPool
) -> None:
    result = (await check_all(hosts, pool))["file:/etc/motd-x"]
    assert result.diff == (
        "--- /etc/motd-x (on host)\n+++ /etc/motd-x (declared)\n@@ -1,2 +1,2 @@\n"
        "-old line\n+new line\n kept\n@@ attributes @@\n-mode: 0600\n+mode: 0644\n"
    )
    assert result.expected["mode"] == "0644" and result.actual["mode"] == "0600"
    stale = (await check_all(hosts, pool))["file:/etc/stale.conf"]
    assert (stale.expected, stale.actual) == ({"state": "absent"}, {"state": "present"})
    assert "-stale" in stale.diff


async def test_drifted_values_say_what_is_on_the_host(hosts: Fleet, pool: TransportPool) -> None:
    results = await check_all(hosts, pool)
    assert results["directory:/srv/d-mode"].actual["mode"] == "0700"
    assert results["package:fleet-missing"].actual == {"state": "absent"}
    latest = results["package:fleet-old"]
    assert latest.actual == {"state": "present", "version": "1.0 (candidate 1.1)"}
    assert results["package:fleet-hello version"].actual == {"state": "present", "version": "1.0"}
    service = results["service:demo-down"]
    assert (service.expected, service.actual) == (
        {"running": True, "enabled": False},
        {"running": False, "enabled": False},
    )
    assert "-running: false\n+running: true" in service.diff
    lines = results["lineinfile:/etc/bad-lines.conf"]
    assert lines.actual["matching line"] == "#PermitRootLogin yes"
    assert "-#PermitRootLogin yes\n+PermitRootLogin prohibit-password" in lines.diff
    bob = results["user:bob"]
    assert bob.actual == {"state": "present", "shell": "/bin/sh", "groups": []}
    assert results["group:no-such-group"].actual == {"state": "absent"}
    command = results["command:touch /run/ran"]
    assert command.actual == {"check exit status": 1} and command.message == "not yet"


def host_fingerprint(host: FleetHost) -> str:
    """Everything a check could plausibly touch: the checked files' sha256 and modes,
    the dpkg database and apt lists, rc links, users, /run and /tmp."""
    return on_host(
        host,
        "sha256sum /etc/ok.conf /etc/motd-x /etc/stale.conf /etc/*-lines.conf "
        "/etc/passwd /etc/group; stat -c '%n %a %U %G' /etc/motd-x /srv/d-mode; "
        "dpkg -l; ls -la --time-style=full-iso /var/lib/apt/lists /etc/rc2.d /run /tmp",
    )


async def test_a_check_changes_nothing_and_never_runs_a_command_without_check(
    hosts: Fleet, pool: TransportPool
) -> None:
    host = hosts.hosts[0]
    before = host_fingerprint(host)
    unchecked = Resource("command", "touch /etc/command-ran")
    results = await check_on(hosts, host, pool, [*(r for r, _ in CASES), unchecked])
    assert host_fingerprint(host) == before
    assert results[unchecked.id].status is ResourceStatus.UNKNOWN
    assert host.run("test -e /etc/command-ran || test -e /run/ran").returncode == 1
