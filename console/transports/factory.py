"""Choosing a host's transport from its `connection` (`ansible_connection`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from console.errors import ConfigError
from console.inventory.model import Host
from console.transports.base import Transport

if TYPE_CHECKING:
    from console.transports.pool import TransportPool


def transport_for(host: Host, pool: TransportPool) -> Transport:
    """The transport that reaches `host`; SSH ones share `pool`'s connections."""
    connection = host.connection
    if connection == "ssh":
        from console.transports.ssh import SSHTransport

        return SSHTransport(host, pool)
    if connection == "local":
        from console.transports.local import LocalTransport

        return LocalTransport(host)
    if connection in ("winrm", "psrp"):
        raise ConfigError(
            f"{host.name}: WinRM is not supported yet (ansible_connection: {connection}); "
            "reach Windows hosts over OpenSSH with ansible_connection: ssh meanwhile"
        )
    raise ConfigError(
        f"{host.name}: unknown ansible_connection {connection!r}; use ssh, local or winrm"
    )
