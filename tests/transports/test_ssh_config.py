"""ssh_config over one pool: every host gets the settings of its own `Host` blocks,
though hosts the file treats alike share one parse (console.transports.ssh_config),
and an edit of the file applies to the next connect."""

from __future__ import annotations

from pathlib import Path

from console.inventory.model import Host
from console.transports.pool import TransportPool
from tests.fleet import Fleet, FleetHost
from tests.transports.helpers import host_of, run_on_hosts


def host_block(alias: str, target: FleetHost) -> str:
    return f"Host {alias}\n    HostName {target.address}\n    Port {target.port}\n"


def write_config(path: Path, fleet: Fleet, blocks: list[str]) -> Path:
    common = f"Host *\n    User {fleet.user}\n    IdentityFile {fleet.client_key}\n"
    path.write_text("\n".join([*blocks, common]))
    return path


def reached(output: str) -> str:
    """`address:port` of the sshd that ran `echo $SSH_CONNECTION`."""
    _client, _client_port, address, port = output.split()
    return f"{address}:{port}"


def where(target: FleetHost) -> str:
    return f"{target.address}:{target.port}"


async def test_each_host_gets_its_own_host_block_over_one_pool(
    fleet: Fleet, tmp_path: Path
) -> None:
    one, two, three, four = fleet.hosts[:4]
    config = write_config(
        tmp_path / "ssh_config",
        fleet,
        [host_block("alpha", one), host_block("beta", two), host_block("gamma", three)],
    )
    pool = TransportPool(known_hosts=fleet.known_hosts, ssh_config=[config])
    aliased = [Host(name, {"ansible_host": name}) for name in ("alpha", "beta", "gamma")]
    # two hosts only `Host *` matches: user and key from it, address and port given
    plain = [Host(h.name, {"ansible_host": h.address, "ansible_port": h.port}) for h in (four,)]
    plain.append(host_of(fleet, fleet.hosts[4]))  # user and key given by the inventory too
    try:
        results = await run_on_hosts([*aliased, *plain], "echo $SSH_CONNECTION", pool)
    finally:
        await pool.close()

    assert [r.status for r in results] == ["ok"] * 5, [r.error for r in results]
    assert [reached(r.stdout) for r in results] == [
        where(h) for h in (one, two, three, four, fleet.hosts[4])
    ]
    # one parse per distinct set of matching blocks (and user given or not): alpha,
    # beta, gamma, then the two `Host *`-only hosts, which differ in the user given
    assert pool.ssh_config_parses == 5


async def test_hosts_the_config_treats_alike_share_one_parse(fleet: Fleet, tmp_path: Path) -> None:
    config = write_config(tmp_path / "ssh_config", fleet, [host_block("alpha", fleet.hosts[0])])
    pool = TransportPool(known_hosts=fleet.known_hosts, ssh_config=[config])
    hosts = [host_of(fleet, h) for h in fleet.hosts[:8]]
    try:
        results = await run_on_hosts(hosts, "echo $SSH_CONNECTION", pool)
    finally:
        await pool.close()
    assert [reached(r.stdout) for r in results] == [where(h) for h in fleet.hosts[:8]]
    assert pool.ssh_config_parses == 1


async def test_an_edited_config_applies_to_the_next_connect(fleet: Fleet, tmp_path: Path) -> None:
    one, two = fleet.hosts[:2]
    config = write_config(tmp_path / "ssh_config", fleet, [host_block("alpha", one)])
    pool = TransportPool(known_hosts=fleet.known_hosts, ssh_config=[config])
    alpha = Host("alpha", {"ansible_host": "alpha"})
    try:
        (before,) = await run_on_hosts([alpha], "echo $SSH_CONNECTION", pool)
        pool.discard(alpha)
        write_config(config, fleet, [f"# moved\n{host_block('alpha', two)}"])
        (after,) = await run_on_hosts([alpha], "echo $SSH_CONNECTION", pool)
    finally:
        await pool.close()
    assert (reached(before.stdout), reached(after.stdout)) == (where(one), where(two))


async def test_a_match_block_still_applies_per_host(fleet: Fleet, tmp_path: Path) -> None:
    """`Match` is decided at connect time: such a file is parsed for every connection."""
    one, two = fleet.hosts[:2]
    match = f"Match originalhost beta\n    HostName {two.address}\n    Port {two.port}\n"
    config = write_config(tmp_path / "ssh_config", fleet, [host_block("alpha", one), match])
    pool = TransportPool(known_hosts=fleet.known_hosts, ssh_config=[config])
    hosts = [Host(name, {"ansible_host": name}) for name in ("alpha", "beta")]
    try:
        results = await run_on_hosts(hosts, "echo $SSH_CONNECTION", pool)
    finally:
        await pool.close()
    assert [reached(r.stdout) for r in results] == [where(one), where(two)]
    assert pool.ssh_config_parses == 0


async def test_a_missing_identity_file_of_the_config_does_not_fail_a_host_with_its_own_key(
    fleet: Fleet, tmp_path: Path
) -> None:
    """asyncssh loads the config's IdentityFile only when the host names no key: the
    shared parse must not load it either."""
    config = tmp_path / "ssh_config"
    config.write_text(f"Host *\n    IdentitiesOnly yes\n    IdentityFile {tmp_path / 'absent'}\n")
    pool = TransportPool(known_hosts=fleet.known_hosts, ssh_config=[config])
    try:
        results = await run_on_hosts([host_of(fleet, fleet.hosts[0])], "echo ok", pool)
    finally:
        await pool.close()
    assert [(r.status, r.stdout) for r in results] == [("ok", "ok\n")], results[0].error


async def test_config_values_the_pool_overrides_are_not_checked_against_it(
    fleet: Fleet, tmp_path: Path
) -> None:
    """The pool gives its own keepalives, so a ServerAliveCountMax that asyncssh
    refuses (0) does not fail the connection, shared parse or not."""
    config = write_config(tmp_path / "ssh_config", fleet, ["ServerAliveCountMax 0\n"])
    pool = TransportPool(known_hosts=fleet.known_hosts, ssh_config=[config])
    try:
        results = await run_on_hosts([host_of(fleet, fleet.hosts[0])], "echo ok", pool)
    finally:
        await pool.close()
    assert [(r.status, r.stdout) for r in results] == [("ok", "ok\n")], results[0].error
