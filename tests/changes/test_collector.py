"""The collector against real isolated sshd hosts (tests/fleet.py): what it reports is
what the host itself says, for facts, software, services and tracked files."""

from __future__ import annotations

import base64
import hashlib
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from console.changes import collector
from console.changes.collector import collect
from console.changes.model import FileStatus, Snapshot, TrackedFile, TrackedPath
from console.errors import Unreachable
from console.transports.factory import transport_for
from console.transports.pool import TransportPool
from tests.fleet import LOGIN_USER, Fleet, FleetHost, start_fleet
from tests.transports.helpers import host_of, pool_for

pytestmark = pytest.mark.skipif(
    subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip() != "0",
    reason="needs an isolated fleet (root)",
)


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Two isolated hosts with a non-root login user who logs in with the fleet key."""
    with start_fleet(2, tmp_path_factory.mktemp("collect"), login_user=True) as started:
        key = Path(f"{started.client_key}.pub").read_text()
        for host in started.hosts:
            host.run(f"cat >> /home/{LOGIN_USER}/.ssh/authorized_keys", input=key, check=True)
        yield started


@pytest.fixture
async def pool(hosts: Fleet) -> AsyncIterator[TransportPool]:
    started = pool_for(hosts)
    try:
        yield started
    finally:
        await started.close()


async def collect_on(
    fleet: Fleet, host: FleetHost, pool: TransportPool, *tracked: TrackedPath, **vars: str
) -> Snapshot:
    transport = transport_for(host_of(fleet, host, **vars), pool)
    return await collect(transport, host.name, tracked)


def on_host(host: FleetHost, command: str) -> str:
    return host.run(command, check=True).stdout


def by_path(snapshot: Snapshot) -> dict[str, TrackedFile]:
    return {tracked.path: tracked for tracked in snapshot.files}


# --- facts ------------------------------------------------------------------------------


async def test_facts_are_what_the_host_says(hosts: Fleet, pool: TransportPool) -> None:
    host = hosts.hosts[1]
    facts = (await collect_on(hosts, host, pool)).facts
    release = dict(
        line.split("=", 1) for line in on_host(host, "set -a; . /etc/os-release; env").splitlines()
    )
    assert facts.hostname == host.name == on_host(host, "hostname").strip()
    assert facts.kernel == on_host(host, "uname -r").strip()
    assert facts.arch == on_host(host, "uname -m").strip()
    assert facts.machine_id == on_host(host, "cat /etc/machine-id").strip()
    assert facts.machine_id != on_host(hosts.hosts[0], "cat /etc/machine-id").strip()
    assert (facts.os_name, facts.os_version) == (release["NAME"], release["VERSION_ID"])
    assert facts.os_family == (release.get("ID_LIKE") or release["ID"]).split()[0]
    assert facts.cpus == int(on_host(host, "nproc"))
    assert facts.memory_mb > 0 and facts.uptime_s > 0 and facts.boot_time > 0
    assert "/" in {disk.mount for disk in facts.disks}
    assert not {disk.fstype for disk in facts.disks} & {"proc", "tmpfs", "devpts", "sysfs"}


# --- software ---------------------------------------------------------------------------

PACKAGE = "fleet-hello"


def build_deb(directory: Path) -> bytes:
    """A tiny real .deb (dpkg-deb), as the fleet's local apt repo would hold."""
    root = directory / "pkg"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "usr" / "share" / PACKAGE).mkdir(parents=True)
    (root / "usr" / "share" / PACKAGE / "hello").write_text("hello\n")
    (root / "DEBIAN" / "control").write_text(
        f"Package: {PACKAGE}\nVersion: 1.0\nArchitecture: all\n"
        "Maintainer: opsconsole tests <tests@example.invalid>\nDescription: test package\n"
    )
    deb = directory / f"{PACKAGE}_1.0_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", root, deb], check=True)
    return deb.read_bytes()


def install_from_local_repo(host: FleetHost, deb: bytes) -> None:
    """Publish `deb` in a flat apt repo on the host and `apt-get install` it from there
    only (the machine's own sources are not read, so apt stays offline)."""
    apt = "-o Dir::Etc::sourcelist=/etc/apt/fleet.list -o Dir::Etc::sourceparts=-"
    host.run(
        "mkdir -p /srv/fleet-repo && base64 -d > /srv/fleet-repo/p.deb",
        check=True,
        input=base64.b64encode(deb).decode(),
    )
    host.run(
        "cd /srv/fleet-repo && dpkg-scanpackages . /dev/null > Packages 2>/dev/null && "
        "echo 'deb [trusted=yes] file:/srv/fleet-repo ./' > /etc/apt/fleet.list && "
        f"apt-get {apt} update -qq && "
        f"DEBIAN_FRONTEND=noninteractive apt-get {apt} install -y -qq {PACKAGE}",
        check=True,
        timeout=120,
    )


async def test_software_is_the_hosts_dpkg_database_and_follows_an_install(
    hosts: Fleet, pool: TransportPool, tmp_path: Path
) -> None:
    host = hosts.hosts[0]
    before = await collect_on(hosts, host, pool)
    listed = on_host(host, "dpkg-query -W -f='${Package}\\t${Version}\\t${db:Status-Abbrev}\\n'")
    installed = {
        tuple(line.split("\t")[:2]) for line in listed.splitlines() if line.endswith("ii ")
    }
    assert {(p.name, p.version) for p in before.software} == installed
    assert {p.source for p in before.software} == {"dpkg"}
    assert PACKAGE not in {p.name for p in before.software}

    install_from_local_repo(host, build_deb(tmp_path))
    after = await collect_on(hosts, host, pool)
    added = set(after.software) - set(before.software)
    assert [(p.name, p.version, p.arch) for p in added] == [(PACKAGE, "1.0", "all")]


# --- services ---------------------------------------------------------------------------

DEMO_INIT = """#!/bin/sh
# A SysV init script whose status (LSB: 0 running, 3 stopped) is a flag file.
case "$1" in
    status)
        [ -e /run/fleet-demo.up ] && { echo "fleet-demo is running"; exit 0; }
        echo "fleet-demo is not running"; exit 3 ;;
    *) exit 0 ;;
esac
"""


async def test_services_come_from_sysv_with_state_and_enabled(
    hosts: Fleet, pool: TransportPool
) -> None:
    host = hosts.hosts[1]
    host.run("cat > /etc/init.d/fleet-demo && chmod 755 /etc/init.d/fleet-demo", input=DEMO_INIT)
    host.run("ln -sf ../init.d/fleet-demo /etc/rc2.d/S01fleet-demo && touch /run/fleet-demo.up")
    running = {s.name: s for s in (await collect_on(hosts, host, pool)).services}
    host.run("rm /run/fleet-demo.up /etc/rc2.d/S01fleet-demo")
    stopped = {s.name: s for s in (await collect_on(hosts, host, pool)).services}

    assert {s.manager for s in running.values()} == {"sysv"}
    assert (running["fleet-demo"].state, running["fleet-demo"].enabled) == ("running", "enabled")
    assert (stopped["fleet-demo"].state, stopped["fleet-demo"].enabled) == ("stopped", "")
    assert running["ssh"].enabled == "enabled"  # /etc/rc2.d/S01ssh on the machine image


# --- tracked files ----------------------------------------------------------------------


async def test_text_binary_and_large_files(hosts: Fleet, pool: TransportPool) -> None:
    host = hosts.hosts[0]
    host.run(
        "mkdir -p /opt/tracked && printf 'port 22\\nname é\\n' > /opt/tracked/app.conf && "
        "chmod 640 /opt/tracked/app.conf && chown root:daemon /opt/tracked/app.conf && "
        "head -c 4096 /dev/urandom > /opt/tracked/blob.bin && "
        "printf 'x\\0y' >> /opt/tracked/blob.bin && "
        "head -c 50M /dev/urandom > /tmp/big.log",
        check=True,
    )
    snapshot = await collect_on(
        hosts, host, pool, TrackedPath("/opt/tracked/*"), TrackedPath("/tmp/big.log")
    )
    files = by_path(snapshot)
    listed = on_host(host, "sha256sum /opt/tracked/app.conf /opt/tracked/blob.bin /tmp/big.log")
    sums = {path: digest for digest, path in (line.split() for line in listed.splitlines())}
    conf = files["/opt/tracked/app.conf"]
    assert (conf.status, conf.content) == (FileStatus.OK, "port 22\nname é\n")
    assert (conf.mode, conf.owner, conf.group, conf.size) == ("0640", "root", "daemon", 16)
    assert conf.mtime == float(on_host(host, "stat -c %Y /opt/tracked/app.conf"))
    for path in ("/opt/tracked/app.conf", "/opt/tracked/blob.bin", "/tmp/big.log"):
        assert files[path].sha256 == sums[path], path
    for path in ("/opt/tracked/blob.bin", "/tmp/big.log"):
        assert (files[path].status, files[path].content) == (FileStatus.HASH_ONLY, None), path
    assert files["/tmp/big.log"].size == 50 * 1024 * 1024


async def test_no_content_and_size_limit_keep_only_the_hash(
    hosts: Fleet, pool: TransportPool
) -> None:
    host = hosts.hosts[0]
    host.run("mkdir -p /opt/limits && echo secret > /opt/limits/a && seq 1 1000 > /opt/limits/b")
    transport = transport_for(host_of(hosts, host), pool)
    tracked = [TrackedPath("/opt/limits/a", content=False), TrackedPath("/opt/limits/b")]
    files = by_path(await collect(transport, host.name, tracked, max_content=100))
    assert files["/opt/limits/a"].status == FileStatus.HASH_ONLY
    assert files["/opt/limits/a"].sha256 == hashlib.sha256(b"secret\n").hexdigest()
    assert (files["/opt/limits/b"].status, files["/opt/limits/b"].content) == (
        FileStatus.HASH_ONLY,
        None,
    )


async def test_unreadable_missing_and_unmatched_are_reported(
    hosts: Fleet, pool: TransportPool
) -> None:
    host = hosts.hosts[1]
    host.run(
        "echo top > /etc/fleet-secret && chmod 600 /etc/fleet-secret && "
        "mkdir -p -m 700 /opt/closed && echo x > /opt/closed/inner.conf",
        check=True,
    )
    snapshot = await collect_on(
        hosts,
        host,
        pool,
        TrackedPath("/etc/fleet-secret"),
        TrackedPath("/opt/closed/inner.conf"),
        TrackedPath("/etc/not-there.conf"),
        TrackedPath("/etc/nothing-*.d/*.conf"),
        TrackedPath("/etc/hostname"),
        ansible_user=LOGIN_USER,
    )
    files = by_path(snapshot)
    secret = files["/etc/fleet-secret"]
    assert (secret.status, secret.error, secret.content) == (
        FileStatus.UNREADABLE,
        "Permission denied",
        None,
    )
    hidden = files["/opt/closed/inner.conf"]  # its directory is closed to the user
    assert (hidden.status, hidden.error) == (FileStatus.UNREADABLE, "Permission denied")
    assert files["/etc/not-there.conf"].status == FileStatus.MISSING
    assert snapshot.unmatched == ("/etc/nothing-*.d/*.conf",)
    assert files["/etc/hostname"].content == f"{host.name}\n"


async def test_file_content_cannot_forge_a_section(
    hosts: Fleet, pool: TransportPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even content that knows this run's marker stays data (it travels as base64)."""
    monkeypatch.setattr(collector.secrets, "token_hex", lambda _size: "f" * 32)
    marker = "#opsconsole-" + "f" * 32 + "#"
    forged = f"a\n{marker} end\n{marker} file missing\n/etc/passwd\n{marker} dpkg\n"
    host = hosts.hosts[0]
    host.run("mkdir -p /opt/forge && cat > /opt/forge/evil.conf", input=forged, check=True)
    snapshot = await collect_on(
        hosts, host, pool, TrackedPath("/opt/forge/evil.conf"), TrackedPath("/etc/hostname")
    )
    files = by_path(snapshot)
    assert files["/opt/forge/evil.conf"].content == forged
    assert files["/etc/hostname"].content == f"{host.name}\n"
    assert "/etc/passwd" not in files and len(snapshot.software) > 100


# --- failures ---------------------------------------------------------------------------


async def test_a_down_host_fails_with_its_reason(hosts: Fleet, pool: TransportPool) -> None:
    host = hosts.hosts[1]
    hosts.stop_host(host.name)
    try:
        with pytest.raises(Unreachable) as caught:
            await collect_on(hosts, host, pool)
    finally:
        hosts.start_host(host.name)
    assert caught.value.host == host.name
    assert f"cannot connect to {host.address}" in caught.value.detail
