"""A job's private temporary directory: made 0700 on the host, gone afterwards."""

from __future__ import annotations

import os
import stat

from console.inventory.model import Host
from console.transports.factory import transport_for
from console.transports.pool import TransportPool
from tests.fleet import Fleet
from tests.transports.helpers import host_of, pool_for


async def test_local_workdir_is_private_and_removed() -> None:
    here = Host("here", {"ansible_connection": "local"})
    transport = transport_for(here, TransportPool(ssh_config=[]))
    path = await transport.make_workdir()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
    await transport.upload(b"data", f"{path}/file", 0o600)
    await transport.remove_workdir(path)
    assert not os.path.exists(path)


async def test_ssh_workdir_is_private_and_removed(fleet: Fleet) -> None:
    target = fleet.hosts[3]
    pool = pool_for(fleet)
    try:
        transport = transport_for(host_of(fleet, target), pool)
        path = await transport.make_workdir()
        assert target.run(f"stat -c %a {path}").stdout.strip() == "700"
        await transport.upload(b"data", f"{path}/file", 0o600)
        await transport.remove_workdir(path)
    finally:
        await pool.close()
    assert target.run(f"test -e {path}").returncode == 1
