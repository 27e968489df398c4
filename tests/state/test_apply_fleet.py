"""Apply against real isolated sshd hosts: every resource type brought to its declared
state in one script, idempotently, in order, with dependents of a failure skipped and
package actions waiting for the dpkg lock."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.state.model import Resource, ResourceStatus
from console.transports.pool import TransportPool
from tests.fleet import Fleet, FleetHost, start_fleet
from tests.state.conftest import (
    NEEDS_ROOT,
    apply_on,
    build_deb,
    check_on,
    install_demo_service,
    on_host,
    publish,
)

pytestmark = NEEDS_ROOT

HOSTILE = 'it\'s "quoted" $(touch /tmp/pwned) `touch /tmp/pwned2` \\n ${HOME}\n\ttab; rm -rf /x\n'


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Three isolated hosts, each with the local repo holding fleet-hello 1.0 and a
    stopped, disabled SysV service fleet-demo."""
    debs = tmp_path_factory.mktemp("debs")
    with start_fleet(3, tmp_path_factory.mktemp("apply")) as started:
        deb = build_deb(debs, "fleet-hello", "1.0")
        for host in started.hosts:
            publish(host, deb)
            install_demo_service(host, "fleet-demo", running=False, enabled=False)
        yield started


def every_type() -> list[Resource]:
    """A configuration using every resource type, with hostile values where a value
    reaches the host."""
    return [
        Resource("file", "/etc/motd-ops", {"content": "Managed by opsconsole\n",
                                           "mode": "0640", "owner": "root", "group": "adm"}),
        Resource("file", "/etc/legacy.conf", {"state": "absent"}),
        Resource("directory", "/srv/my app", {"mode": "0750", "group": "adm"}),
        Resource("file", "/srv/my app/hostile 'name'.conf", {"content": HOSTILE},
                 requires=("directory:/srv/my app",)),
        Resource("package", "fleet-hello", {"state": "present"}),
        Resource("service", "fleet-demo", {"running": True, "enabled": True}),
        Resource("lineinfile", "/etc/app.conf", {"line": "PermitRootLogin prohibit-password",
                                                 "match": "^#?PermitRootLogin"}),
        Resource("lineinfile", "/etc/hostile lines", {"line": "x='$(touch /tmp/pwned3)' \\1 & /"}),
        Resource("group", "deployers"),
        Resource("user", "deploy", {"shell": "/bin/sh", "groups": ["adm", "deployers"]}),
        Resource("command", "touch '/srv/my app/ensured'",
                 {"check": "test -e '/srv/my app/ensured'"}),
    ]  # fmt: skip


def prepare_drift(host: FleetHost) -> None:
    host.run(
        "echo old > /etc/legacy.conf && "
        "printf 'Port 22\\n#PermitRootLogin yes\\nPermitRootLogin no\\n' > /etc/app.conf",
        check=True,
    )


async def test_apply_every_type_then_all_compliant_and_a_second_apply_changes_nothing(
    hosts: Fleet, pool: TransportPool
) -> None:
    host = hosts.hosts[0]
    prepare_drift(host)
    resources = every_type()
    first = await apply_on(hosts, host, pool, resources)
    assert {r: x.status for r, x in first.items()} == {
        r.id: ResourceStatus.CHANGED for r in resources
    }, {r: x.message for r, x in first.items()}

    assert on_host(host, "cat /etc/motd-ops") == "Managed by opsconsole\n"
    assert on_host(host, "stat -c '%a %U %G' /etc/motd-ops") == "640 root adm\n"
    assert host.run("test -e /etc/legacy.conf").returncode == 1
    assert on_host(host, "stat -c '%a %G' '/srv/my app'") == "750 adm\n"
    assert on_host(host, "cat \"/srv/my app/hostile 'name'.conf\"") == HOSTILE
    assert on_host(host, "dpkg-query -W -f='${Version}' fleet-hello") == "1.0"
    assert host.run("/etc/init.d/fleet-demo status").returncode == 0
    assert on_host(host, "ls /etc/rc2.d/ | grep fleet-demo").startswith("S")
    assert on_host(host, "cat /etc/app.conf") == (
        "Port 22\nPermitRootLogin prohibit-password\nPermitRootLogin no\n"
    )
    assert on_host(host, "getent passwd deploy").strip().endswith(":/bin/sh")
    assert set(on_host(host, "id -nG deploy").split()) >= {"adm", "deployers"}
    assert host.run("test -e '/srv/my app/ensured'").returncode == 0
    assert on_host(host, "cat '/etc/hostile lines'") == "x='$(touch /tmp/pwned3)' \\1 & /\n"
    assert host.run("ls /tmp/pwned*").returncode != 0
    assert first["file:/etc/motd-ops"].diff.startswith("--- /etc/motd-ops (on host)\n")
    assert "+Managed by opsconsole" in first["file:/etc/motd-ops"].diff
    assert first["package:fleet-hello"].actual == {"state": "present", "version": "1.0"}

    checked = await check_on(hosts, host, pool, resources)
    assert {x.status for x in checked.values()} == {ResourceStatus.COMPLIANT}, checked
    again = await apply_on(hosts, host, pool, resources)
    assert {r: x.status for r, x in again.items()} == {
        r.id: ResourceStatus.COMPLIANT for r in resources
    }, {r: x.message for r, x in again.items()}


async def test_removal_states(hosts: Fleet, pool: TransportPool) -> None:
    host = hosts.hosts[1]
    host.run("useradd gone && groupadd gone2 && mkdir -p /srv/old/sub", check=True)
    await apply_on(hosts, host, pool, [Resource("package", "fleet-hello")])
    host.run("printf 'keep\\n#drop me\\nkeep2\\n' > /etc/lines.conf", check=True)
    resources = [
        Resource("package", "fleet-hello", {"state": "absent"}),
        Resource("user", "gone", {"state": "absent"}),
        Resource("group", "gone2", {"state": "absent"}),
        Resource("directory", "/srv/old", {"state": "absent"}),
        Resource("lineinfile", "/etc/lines.conf", {"match": "^#drop", "state": "absent"}),
        Resource("service", "fleet-demo", {"running": False, "enabled": False}),
    ]
    host.run("touch /run/fleet-demo.up && update-rc.d fleet-demo defaults", check=True)
    results = await apply_on(hosts, host, pool, resources)
    assert {x.status for x in results.values()} == {ResourceStatus.CHANGED}, results
    assert host.run("dpkg-query -W -f='${db:Status-Abbrev}' fleet-hello").stdout[:2] != "ii"
    assert host.run("getent passwd gone").returncode == 2
    assert host.run("getent group gone2").returncode == 2
    assert host.run("test -e /srv/old").returncode == 1
    assert on_host(host, "cat /etc/lines.conf") == "keep\nkeep2\n"
    assert host.run("/etc/init.d/fleet-demo status").returncode == 3
    assert host.run("ls /etc/rc2.d/S*fleet-demo").returncode != 0
    again = await apply_on(hosts, host, pool, resources)
    assert {x.status for x in again.values()} == {ResourceStatus.COMPLIANT}, again


async def test_a_failing_resource_skips_its_dependents_and_only_them(
    hosts: Fleet, pool: TransportPool
) -> None:
    host = hosts.hosts[1]
    broken = Resource("command", "echo broken >&2; exit 3")
    resources = [
        broken,
        Resource("file", "/etc/needs-command", {"content": "x\n"}, requires=(broken.id,)),
        Resource("directory", "/srv/needs-file", requires=("file:/etc/needs-command",)),
        Resource("file", "/etc/independent", {"content": "y\n"}),
    ]  # fmt: skip
    results = await apply_on(hosts, host, pool, resources)
    failed = results[broken.id]
    assert failed.status is ResourceStatus.FAILED
    assert "exited with status 3" in failed.message and "broken" in failed.message
    assert results["file:/etc/needs-command"].status is ResourceStatus.SKIPPED
    assert results["directory:/srv/needs-file"].status is ResourceStatus.SKIPPED
    assert results["file:/etc/independent"].status is ResourceStatus.CHANGED
    assert host.run("test -e /etc/needs-command || test -e /srv/needs-file").returncode == 1
    assert on_host(host, "cat /etc/independent") == "y\n"


HOLD_LOCK = """
import fcntl, sys, time
with open("/var/lib/dpkg/lock-frontend", "w") as lock:
    fcntl.lockf(lock, fcntl.LOCK_EX)
    open("/run/lock-held", "w").close()
    time.sleep(120)
"""


async def test_a_held_dpkg_lock_fails_the_package_after_the_timeout_and_the_rest_applies(
    hosts: Fleet, pool: TransportPool, tmp_path: Path
) -> None:
    host = hosts.hosts[2]
    holder = subprocess.Popen(
        ["nsenter", "-t", str(host.pid), "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--",
         "/usr/bin/python3", "-c", HOLD_LOCK],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        while host.run("test -e /run/lock-held").returncode != 0:
            assert holder.poll() is None, "the lock holder ended early"
        results = await apply_on(
            hosts,
            host,
            pool,
            [
                Resource("package", "fleet-hello"),
                Resource("file", "/etc/after-lock", {"content": "z\n"}),
            ],
            lock_timeout=2,
        )
    finally:
        holder.kill()
        holder.wait()
    package = results["package:fleet-hello"]
    assert package.status is ResourceStatus.FAILED
    assert package.message.startswith("dpkg lock held for 2s"), package.message
    assert results["file:/etc/after-lock"].status is ResourceStatus.CHANGED
    assert host.run("dpkg-query -W -f='${db:Status-Abbrev}' fleet-hello").stdout[:2] != "ii"
