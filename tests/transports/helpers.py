"""Building `Host`s and pools for the transport tests from a running fleet.

The pool is pointed at the fleet's own known_hosts and at no ssh_config, so the tests
never read or write /root/.ssh.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from console.inventory.model import Host
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
