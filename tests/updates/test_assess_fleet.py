"""Assessment against real isolated sshd hosts with two offline apt repositories: a plain
one and one whose Release says `Suite: bookworm-security`, `Label: Debian-Security`."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from console.errors import HostError
from console.transports.factory import transport_for
from console.transports.pool import TransportPool
from console.updates.assess import assess
from console.updates.model import Assessment, Classification
from tests.fleet import Fleet, FleetHost, start_fleet
from tests.state.conftest import NEEDS_ROOT
from tests.transports.helpers import host_of, pool_for

pytestmark = NEEDS_ROOT

MAIN = "/srv/updates-repo/main"
SECURITY = "/srv/updates-repo/security"
RELEASES = {
    MAIN: "Origin: Fleet\nLabel: Fleet\nSuite: bookworm\nCodename: bookworm\n",
    SECURITY: "Origin: Fleet\nLabel: Debian-Security\nSuite: bookworm-security\n"
    "Codename: bookworm-security\n",
}
HOLD_LISTS_LOCK = """
import fcntl, time
with open("/var/lib/apt/lists/lock", "w") as lock:
    fcntl.lockf(lock, fcntl.LOCK_EX)
    open("/run/lists-lock-held", "w").close()
    time.sleep(120)
"""


def build_deb(directory: Path, name: str, version: str, depends: str = "") -> Path:
    """A tiny real .deb (dpkg-deb) of `name` at `version`, depending on `depends`."""
    root = directory / f"{name}-{version}"
    (root / "DEBIAN").mkdir(parents=True)
    requires = f"Depends: {depends}\n" if depends else ""
    (root / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\n{requires}"
        "Maintainer: opsconsole tests <tests@example.invalid>\nDescription: test package\n"
    )
    deb = directory / f"{name}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", root, deb], check=True,
                   capture_output=True)  # fmt: skip
    return deb


def put(host: FleetHost, deb: Path, directory: str) -> None:
    host.run(
        f"mkdir -p {directory} && base64 -d > {directory}/{deb.name}",
        check=True,
        input=base64.b64encode(deb.read_bytes()).decode(),
    )


def index(host: FleetHost) -> None:
    """Index both repositories, give each its Release file and read the lists. The
    Release lists the hash of Packages, as apt-ftparchive would, so that apt sees a
    changed index (with an unchanged Release it would keep its old lists)."""
    for directory, release in RELEASES.items():
        host.run(
            f"mkdir -p {directory} && cd {directory} && "
            "dpkg-scanpackages --multiversion . /dev/null > Packages 2>/dev/null && "
            "{ cat; echo SHA256:; printf ' %s %s Packages\\n' "
            '"$(sha256sum < Packages | cut -d\' \' -f1)" "$(stat -c %s Packages)"; } > Release',
            check=True,
            input=release,
        )
    host.run("apt-get update -qq", check=True, timeout=120)


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Two hosts with fleet-plain, fleet-ssl, fleet-kernel 1.0 installed, then 1.1 of
    fleet-plain in the plain repository, 1.1 of fleet-ssl in the security one, and
    fleet-kernel 1.1 (security) depending on fleet-abi, which is not installed."""
    debs = tmp_path_factory.mktemp("debs")
    with start_fleet(2, tmp_path_factory.mktemp("assess")) as started:
        old = [
            build_deb(debs, name, "1.0") for name in ("fleet-plain", "fleet-ssl", "fleet-kernel")
        ]
        kernel = build_deb(debs / "dep", "fleet-kernel", "1.1", depends="fleet-abi")
        for host in started.hosts:
            host.run(
                "rm -f /etc/apt/sources.list /etc/apt/sources.list.d/* && "
                f"echo 'deb [trusted=yes] file:{MAIN} ./' > /etc/apt/sources.list.d/main.list && "
                f"echo 'deb [trusted=yes] file:{SECURITY} ./' > /etc/apt/sources.list.d/sec.list",
                check=True,
            )
            for deb in old:
                put(host, deb, MAIN)
            index(host)
            host.run("apt-get install -y -qq fleet-plain fleet-ssl fleet-kernel", check=True,
                     timeout=120)  # fmt: skip
            put(host, build_deb(debs / host.name, "fleet-plain", "1.1"), MAIN)
            put(host, build_deb(debs / host.name, "fleet-ssl", "1.1"), SECURITY)
            put(host, kernel, SECURITY)
            put(host, build_deb(debs / host.name, "fleet-abi", "1.1"), SECURITY)
            index(host)
        yield started


@pytest.fixture
async def pool(hosts: Fleet) -> AsyncIterator[TransportPool]:
    started = pool_for(hosts)
    try:
        yield started
    finally:
        await started.close()


async def assess_on(
    fleet: Fleet, host: FleetHost, pool: TransportPool, **options: object
) -> Assessment:
    transport = transport_for(host_of(fleet, host), pool)
    return await assess(transport, host.name, **options)  # type: ignore[arg-type]


def packages_state(host: FleetHost) -> str:
    return host.run("dpkg -l", check=True).stdout


async def test_security_and_other_updates_are_classified_by_their_repository(
    hosts: Fleet, pool: TransportPool
) -> None:
    host = hosts.hosts[0]
    before = packages_state(host)
    result = await assess_on(hosts, host, pool)
    assert result.error == ""
    assert result.manager == "apt"
    found = {u.name: u for u in result.updates}
    assert set(found) == {"fleet-plain", "fleet-ssl", "fleet-kernel", "fleet-abi"}
    assert found["fleet-plain"].classification is Classification.OTHER
    assert found["fleet-plain"].source == "Fleet:bookworm"
    assert (found["fleet-plain"].installed, found["fleet-plain"].available) == ("1.0", "1.1")
    assert found["fleet-ssl"].classification is Classification.SECURITY
    assert found["fleet-ssl"].source == "Debian-Security:bookworm-security"
    assert found["fleet-kernel"].classification is Classification.SECURITY
    # dist-upgrade shows the new dependency a security fix needs, as a new install
    assert (found["fleet-abi"].installed, found["fleet-abi"].available) == ("", "1.1")
    assert found["fleet-abi"].classification is Classification.SECURITY
    assert result.count(Classification.SECURITY) == 3
    assert not result.compliant
    assert packages_state(host) == before  # nothing installed


async def test_no_refresh_leaves_the_lists_alone(hosts: Fleet, pool: TransportPool) -> None:
    host = hosts.hosts[1]
    lists = "stat -c '%n %Y %s' /var/lib/apt/lists /var/lib/apt/lists/*"
    host.run("touch -d '2001-01-01' /var/lib/apt/lists /var/lib/apt/lists/*Release", check=True)
    before = host.run(lists, check=True).stdout
    result = await assess_on(hosts, host, pool, refresh=False)
    assert {u.name for u in result.updates} >= {"fleet-plain", "fleet-ssl"}
    assert host.run(lists, check=True).stdout == before
    # A refresh does write them: the repository's Release changed, so apt fetches it
    # (an unchanged one may be a "Hit" that leaves the old file as it was).
    host.run(f"echo 'Description: republished' >> {MAIN}/Release", check=True)
    await assess_on(hosts, host, pool)
    assert host.run(lists, check=True).stdout != before


async def test_a_reboot_required_marker_is_reported_with_its_packages(
    hosts: Fleet, pool: TransportPool
) -> None:
    host = hosts.hosts[1]
    host.run("touch /var/run/reboot-required && printf 'linux-image-6.1\\nlibc6\\n' "
             "> /var/run/reboot-required.pkgs", check=True)  # fmt: skip
    try:
        result = await assess_on(hosts, host, pool, refresh=False)
    finally:
        host.run("rm -f /var/run/reboot-required /var/run/reboot-required.pkgs", check=True)
    assert result.reboot_pending
    assert result.reboot_packages == ("linux-image-6.1", "libc6")
    assert not (await assess_on(hosts, host, pool, refresh=False)).reboot_pending


async def test_a_held_lists_lock_is_waited_for_then_reported(
    hosts: Fleet, pool: TransportPool
) -> None:
    host = hosts.hosts[0]
    holder = subprocess.Popen(
        ["nsenter", "-t", str(host.pid), "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--",
         "/usr/bin/python3", "-c", HOLD_LISTS_LOCK],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        while host.run("test -e /run/lists-lock-held").returncode != 0:
            assert holder.poll() is None, "the lock holder ended early"
        result = await assess_on(hosts, host, pool, lock_timeout=2)
    finally:
        holder.kill()
        holder.wait()
        host.run("rm -f /run/lists-lock-held")
    assert result.error.startswith("dpkg lock held for 2s"), result.error
    assert "/var/lib/apt/lists/lock" in result.error
    assert result.updates == ()


async def test_an_unreachable_host_raises_the_transport_error(
    hosts: Fleet, pool: TransportPool
) -> None:
    gone = host_of(hosts, hosts.hosts[0], ansible_port=1)
    with pytest.raises(HostError):
        await assess(transport_for(gone, pool), gone.name)
