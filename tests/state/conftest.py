"""Fleet support for the desired-state tests: an offline local apt repo with tiny real
packages, a SysV service whose state is a flag file, and running check/apply on a
fleet host through a real transport pool."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from console.state.apply import apply_resources
from console.state.checks import check_resources
from console.state.model import Resource, ResourceResult
from console.transports.factory import transport_for
from console.transports.pool import TransportPool
from tests.fleet import Fleet, FleetHost
from tests.transports.helpers import host_of, pool_for

NEEDS_ROOT = pytest.mark.skipif(
    subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip() != "0",
    reason="needs an isolated fleet (root)",
)
REPO = "/srv/fleet-repo"

# A SysV init script (LSB header for update-rc.d) whose state is a flag file in /run.
DEMO_INIT = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          NAME
# Required-Start:
# Required-Stop:
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: a test service
### END INIT INFO
case "$1" in
    start) touch /run/NAME.up ;;
    stop) rm -f /run/NAME.up ;;
    status) [ -e /run/NAME.up ] && exit 0; exit 3 ;;
    *) exit 0 ;;
esac
"""


def build_deb(directory: Path, name: str, version: str) -> Path:
    """A tiny real .deb (dpkg-deb) of `name` at `version`."""
    root = directory / f"{name}-{version}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "usr" / "share" / name).mkdir(parents=True)
    (root / "usr" / "share" / name / "version").write_text(f"{version}\n")
    (root / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: opsconsole tests <tests@example.invalid>\nDescription: test package\n"
    )
    deb = directory / f"{name}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", root, deb], check=True,
                   capture_output=True)  # fmt: skip
    return deb


def publish(host: FleetHost, *debs: Path) -> None:
    """Put `debs` in the host's flat repo, make it the host's only apt source (the
    machine's own sources are hidden in the host's layer, so apt stays offline) and
    read its lists."""
    for deb in debs:
        host.run(
            f"mkdir -p {REPO} && base64 -d > {REPO}/{deb.name}",
            check=True,
            input=base64.b64encode(deb.read_bytes()).decode(),
        )
    host.run(
        "rm -f /etc/apt/sources.list /etc/apt/sources.list.d/* && "
        f"echo 'deb [trusted=yes] file:{REPO} ./' > /etc/apt/sources.list.d/fleet.list && "
        f"cd {REPO} && dpkg-scanpackages --multiversion . /dev/null > Packages 2>/dev/null && "
        "apt-get update -qq",
        check=True,
        timeout=120,
    )


def install_demo_service(host: FleetHost, name: str, *, running: bool, enabled: bool) -> None:
    host.run(
        f"cat > /etc/init.d/{name} && chmod 755 /etc/init.d/{name}",
        input=DEMO_INIT.replace("NAME", name),
        check=True,
    )
    if enabled:
        host.run(f"ln -sf ../init.d/{name} /etc/rc2.d/S01{name}", check=True)
    if running:
        host.run(f"touch /run/{name}.up", check=True)


def on_host(host: FleetHost, command: str) -> str:
    return host.run(command, check=True).stdout


@pytest.fixture
async def pool(hosts: Fleet) -> AsyncIterator[TransportPool]:
    started = pool_for(hosts)
    try:
        yield started
    finally:
        await started.close()


async def check_on(
    fleet: Fleet, host: FleetHost, pool: TransportPool, resources: Sequence[Resource]
) -> dict[str, ResourceResult]:
    transport = transport_for(host_of(fleet, host), pool)
    return {r.resource: r for r in await check_resources(transport, host.name, resources)}


async def apply_on(
    fleet: Fleet,
    host: FleetHost,
    pool: TransportPool,
    resources: Sequence[Resource],
    lock_timeout: float = 120.0,
) -> dict[str, ResourceResult]:
    transport = transport_for(host_of(fleet, host), pool)
    results = await apply_resources(transport, host.name, resources, lock_timeout=lock_timeout)
    return {r.resource: r for r in results}
