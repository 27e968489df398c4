"""Rebooting a real isolated host and waiting for it to be back.

The fleet's hosts cannot reboot (sshd is PID 1 of each host's namespace, and they
share the machine's kernel, so the boot id never changes): the reboot command here is
`kill 1`, which ends the host's namespace, and a watcher starts the host again, with
its files and host key but a fresh /run, as a reboot would. The marker tells."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator

import pytest

from console.errors import HostConfigError, HostError
from console.inventory.model import Host
from console.transports.factory import transport_for
from console.transports.pool import TransportPool
from console.updates.model import REBOOT_MARGIN_S
from console.updates.reboot import (
    DEFAULT_REBOOT_COMMAND,
    RebootTimedOut,
    reboot_and_wait,
    reboot_command_for,
    reboot_fits,
)
from tests.fleet import Fleet, start_fleet
from tests.state.conftest import NEEDS_ROOT
from tests.transports.helpers import host_of, pool_for

END_THE_HOST = "kill 1"


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with start_fleet(2, tmp_path_factory.mktemp("reboot")) as started:
        yield started


@pytest.fixture
async def pool(hosts: Fleet) -> AsyncIterator[TransportPool]:
    started = pool_for(hosts)
    try:
        yield started
    finally:
        await started.close()


async def restart_when_down(fleet: Fleet, name: str) -> None:
    """Start the host again once its namespace ended. Runs on the test's thread: a
    host dies with the thread that started it (its parent-death signal)."""
    host = fleet.host(name)
    while host.running:
        await asyncio.sleep(0.05)
    fleet.start_host(name)


@NEEDS_ROOT
async def test_a_reboot_returns_once_the_host_is_back_on_a_fresh_run(
    hosts: Fleet, pool: TransportPool
) -> None:
    host = hosts.hosts[0]
    transport = transport_for(host_of(hosts, host), pool)
    assert (await transport.run("echo kept > /root/kept")).ok
    first_pid = host.pid
    watcher = asyncio.create_task(restart_when_down(hosts, host.name))

    note = await reboot_and_wait(transport, host.name, END_THE_HOST, timeout=120)

    assert watcher.done(), "returned before the host was restarted"
    await watcher
    assert re.fullmatch(r"back after \d+ s", note), note
    assert host.pid != first_pid
    assert host.run("ls /run").stdout.count("opsconsole-reboot") == 0
    assert host.run("cat /root/kept").stdout == "kept\n"
    # The pool forgot the dead connection: the next command runs on a new one.
    assert (await transport.run("true")).ok
    assert pool.stats.connects >= 2


@NEEDS_ROOT
async def test_a_host_that_never_comes_back_raises_after_the_timeout(
    hosts: Fleet, pool: TransportPool
) -> None:
    host = hosts.hosts[1]
    transport = transport_for(host_of(hosts, host), pool)
    try:
        with pytest.raises(RebootTimedOut) as raised:
            await reboot_and_wait(transport, host.name, END_THE_HOST, timeout=4)
    finally:
        hosts.start_host(host.name)
    assert raised.value.kind == "reboot_timed_out"
    assert raised.value.detail.startswith("did not come back in 4 s (last: unreachable:")


@NEEDS_ROOT
async def test_a_reboot_command_that_does_not_reboot_is_reported_with_its_words(
    hosts: Fleet, pool: TransportPool
) -> None:
    host = hosts.hosts[1]
    transport = transport_for(host_of(hosts, host), pool)
    with pytest.raises(RebootTimedOut) as raised:
        await reboot_and_wait(
            transport, host.name, "echo 'reboot: not permitted' >&2; exit 1", timeout=6
        )
    assert raised.value.detail.startswith("still up on the same boot after 6 s")
    assert raised.value.detail.endswith("it said: reboot: not permitted")
    assert host.running


@NEEDS_ROOT
async def test_an_unreachable_host_raises_the_transports_host_error(
    hosts: Fleet, pool: TransportPool
) -> None:
    down = host_of(hosts, hosts.hosts[0], ansible_port=1)
    with pytest.raises(HostError) as raised:
        await reboot_and_wait(transport_for(down, pool), down.name, END_THE_HOST, timeout=5)
    assert raised.value.kind == "unreachable"


def test_the_reboot_command_comes_from_the_inventory_or_defaults_to_shutdown() -> None:
    assert reboot_command_for(Host("a", {})) == DEFAULT_REBOOT_COMMAND == "shutdown -r now"
    custom = Host("b", {"console_reboot_command": "systemctl reboot"})
    assert reboot_command_for(custom) == "systemctl reboot"
    with pytest.raises(HostConfigError, match="console_reboot_command must be a command line"):
        reboot_command_for(Host("c", {"console_reboot_command": " "}))


def test_a_reboot_fits_only_with_its_margin_left() -> None:
    assert reboot_fits(deadline=1000 + REBOOT_MARGIN_S, now=1000)
    assert not reboot_fits(deadline=999 + REBOOT_MARGIN_S, now=1000)
