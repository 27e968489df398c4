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
        return LocalTransport(host, pool.local_workdirs)
    if connection == "winrm":  # imported here: an SSH-only fleet never loads pywinrm
        from console.transports.winrm import WinRMTransport

        return WinRMTransport(host, pool)
    raise HostConfigError(
        host.name, f"unknown ansible_connection {connection!r}; use ssh, local or winrm"
    )
