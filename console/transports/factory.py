"""Choosing a host's transport from its `connection` (`ansible_connection`)."""

from __future__ import annotations

from console.errors import HostConfigError
from console.inventory.model import Host
from console.transports.base import Transport
from console.transports.local import LocalTransport
from console.transports.pool import TransportPool
from console.transports.ssh import SSHTransport


def transport_for(host: Host, pool: TransportPool) -> Transport:
    """The transport that reaches `host`; SSH ones share `pool`'s connections."""
    connection = host.connection
    if connection == "ssh":
        return SSHTransport(host, pool)
    if connection == "local":
        return LocalTransport(host)
    if connection in ("winrm", "psrp"):
        raise HostConfigError(
            host.name,
            f"WinRM is not supported yet (ansible_connection: {connection}); "
            "reach Windows hosts over OpenSSH with ansible_connection: ssh meanwhile",
        )
    raise HostConfigError(
        host.name, f"unknown ansible_connection {connection!r}; use ssh, local or winrm"
    )
