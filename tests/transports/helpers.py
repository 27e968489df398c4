"""Building `Host`s and pools for the transport tests from a running fleet.

The pool is pointed at the fleet's own known_hosts and at no ssh_config, so the tests
never read or write /root/.ssh.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from console.cli.exec_job import HostResult
from console.errors import HostError
from console.inventory.model import Host
from console.transports.factory import transport_for
from console.transports.pool import TransportPool
from tests.fleet import Fleet, FleetHost


def host_of(fleet: Fleet, fleet_host: FleetHost, **extra: Any) -> Host:
    """The inventory host for a fleet host (what `Fleet.inventory` would write)."""
    return Host(
        fleet_host.name,
        {
            "ansible_host": fleet_host.address,
            "ansible_port": fleet_host.port,
            "ansible_user": fleet.user,
            "ansible_ssh_private_key_file": str(fleet.client_key),
            **extra,
        },
    )


def pool_for(fleet: Fleet, known_hosts: Path | None = None, **options: Any) -> TransportPool:
    return TransportPool(known_hosts=known_hosts or fleet.known_hosts, ssh_config=[], **options)


def gone_on_host(fleet_host: FleetHost, marker: str) -> bool:
    """True when no process on the host has `marker` in its command line.

    The pattern is written `[x]rest` so that it does not match the checking shell.
    """
    pattern = f"[{marker[0]}]{marker[1:]}"
    return fleet_host.run(f"pgrep -f '{pattern}'").returncode == 1


async def run_on_hosts(
    hosts: Sequence[Host], command: str, pool: TransportPool
) -> list[HostResult]:
    """`command` on every host at once through `pool`, one result per host in order:
    the transports alone, without the engine's runner around them."""
    return list(await asyncio.gather(*(_run_on_host(host, command, pool) for host in hosts)))


async def _run_on_host(host: Host, command: str, pool: TransportPool) -> HostResult:
    output = {"stdout": bytearray(), "stderr": bytearray()}
    started = time.monotonic()
    try:
        status = await transport_for(host, pool).run(
            command, on_line=lambda stream, line: output[stream].extend(line)
        )
    except HostError as exc:
        failure = {"kind": exc.kind, "message": exc.detail}
        return HostResult(host.name, exc.kind, None, "", "", time.monotonic() - started, failure)
    return HostResult(
        host.name,
        "ok" if status.ok else "failed",
        status.code,
        output["stdout"].decode(errors="replace"),
        output["stderr"].decode(errors="replace"),
        time.monotonic() - started,
    )
