"""The SSH transport and pool against real sshd hosts (tests/fleet.py)."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from console.errors import (
    AuthenticationFailed,
    Cancelled,
    ConfigError,
    HostKeyChanged,
    HostKeyUnknown,
    TimedOut,
    Unreachable,
)
from console.inventory.model import Host
from console.transports.factory import transport_for
from tests.fleet import Fleet
from tests.transports.helpers import gone_on_host, host_of, pool_for, run_on_hosts


def _collector() -> tuple[list[tuple[str, bytes]], object]:
    lines: list[tuple[str, bytes]] = []
    return lines, lambda stream, line: lines.append((stream, line))


async def test_twenty_hosts_at_once_one_connection_each(fleet: Fleet) -> None:
    pool = pool_for(fleet)
    hosts = [host_of(fleet, h) for h in fleet.hosts]
    try:
        started = time.monotonic()
        results = await run_on_hosts(hosts, "sleep 3; hostname", pool)
        elapsed = time.monotonic() - started
    finally:
        await pool.close()
    assert [r.status for r in results] == ["ok"] * 20
    assert [r.stdout for r in results] == [f"{h.name}\n" for h in fleet.hosts]
    assert pool.stats.connects == 20
    assert elapsed < 30  # one after another would take 60 s


async def test_two_commands_share_one_connection(small_fleet: Fleet) -> None:
    target = small_fleet.hosts[0]
    pool = pool_for(small_fleet)
    transport = transport_for(host_of(small_fleet, target), pool)
    try:
        await transport.run("true")
        await transport.run("true")
        both = await asyncio.gather(transport.run("sleep 0.3"), transport.run("sleep 0.3"))
        sessions = target.run("pgrep -c -f '^sshd: .*@notty'").stdout.strip()
    finally:
        await pool.close()
    assert all(s.ok for s in both)
    assert pool.stats.connects == 1
    assert pool.stats.reuses == 3
    assert sessions == "1"  # one SSH connection on the host for four commands


async def test_idle_connection_is_closed_and_reopened(small_fleet: Fleet) -> None:
    pool = pool_for(small_fleet, idle_timeout=0.2)
    transport = transport_for(host_of(small_fleet, small_fleet.hosts[0]), pool)
    try:
        await transport.run("true")
        deadline = time.monotonic() + 30
        while pool.stats.closed_idle == 0:
            assert time.monotonic() < deadline, "the idle connection was never closed"
            await asyncio.sleep(0.05)
        assert pool.stats.closed_idle == 1
        assert pool.open_connections == 0
        assert (await transport.run("true")).ok
    finally:
        await pool.close()
    assert pool.stats.connects == 2


async def test_reconnects_after_the_host_restarts(small_fleet: Fleet) -> None:
    target = small_fleet.hosts[0]
    pool = pool_for(small_fleet)
    transport = transport_for(host_of(small_fleet, target), pool)
    try:
        assert (await transport.run("true")).ok
        small_fleet.stop_host(target.name)
        with pytest.raises(Unreachable):
            await transport.run("true")
        small_fleet.start_host(target.name)
        assert (await transport.run("true")).ok
    finally:
        await pool.close()


@pytest.fixture
def blackhole() -> Iterator[tuple[str, int]]:
    """A TCP port that accepts connections and never says a word (a hung sshd)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield listener.getsockname()
    finally:
        listener.close()


async def test_unreachable_hosts_do_not_slow_the_others(
    small_fleet: Fleet, blackhole: tuple[str, int]
) -> None:
    stopped = small_fleet.hosts[2]
    small_fleet.stop_host(stopped.name)
    address, port = blackhole
    hosts = [
        *(host_of(small_fleet, h) for h in small_fleet.hosts),
        Host("hung", {"ansible_host": address, "ansible_port": port}),
    ]
    # A single set-up slot: the hung host must give it back at the connect timeout.
    pool = pool_for(small_fleet, connect_timeout=1.5, max_connects=1)
    try:
        results = await run_on_hosts(hosts, "echo hi", pool)
    finally:
        await pool.close()
    by_name = {r.host: r for r in results}
    for fleet_host in small_fleet.hosts[:2]:
        assert by_name[fleet_host.name].status == "ok"
        assert by_name[fleet_host.name].duration < 10
    assert by_name[stopped.name].status == "unreachable"
    assert by_name["hung"].status == "unreachable"
    assert "within 1.5 s" in by_name["hung"].error["message"]  # type: ignore[index]
    assert 1.4 < by_name["hung"].duration < 10


async def test_wrong_key_is_an_authentication_failure(fleet: Fleet, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong_key"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(wrong))
    pool = pool_for(fleet)
    host = host_of(fleet, fleet.hosts[0], ansible_ssh_private_key_file=str(wrong))
    try:
        with pytest.raises(AuthenticationFailed, match="authorized_keys"):
            await transport_for(host, pool).run("true")
    finally:
        await pool.close()


async def test_a_key_with_a_passphrase_is_an_authentication_failure_naming_it(
    fleet: Fleet, tmp_path: Path
) -> None:
    locked = tmp_path / "locked_key"
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(locked), format_name="pkcs8-pem", passphrase="hunter2")
    pool = pool_for(fleet)
    host = host_of(fleet, fleet.hosts[0], ansible_ssh_private_key_file=str(locked))
    try:
        with pytest.raises(AuthenticationFailed, match=f"cannot use private key {locked}"):
            await transport_for(host, pool).run("true")
    finally:
        await pool.close()


async def test_a_key_file_replaced_on_disk_is_read_again(fleet: Fleet, tmp_path: Path) -> None:
    """The pool reads each key file once, but not once for ever: a rotated key counts."""
    key_file = tmp_path / "rotating_key"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(key_file))
    pool = pool_for(fleet)
    hosts = [host_of(fleet, h, ansible_ssh_private_key_file=str(key_file)) for h in fleet.hosts[:2]]
    try:
        with pytest.raises(AuthenticationFailed):
            await transport_for(hosts[0], pool).run("true")
        key_file.write_bytes(fleet.client_key.read_bytes())
        os.utime(key_file, ns=(time.time_ns(), time.time_ns() + 1_000_000))
        assert (await transport_for(hosts[1], pool).run("true")).ok
    finally:
        await pool.close()


async def test_unknown_host_key_is_refused_with_instructions(fleet: Fleet, tmp_path: Path) -> None:
    target = fleet.hosts[0]
    pool = pool_for(fleet, known_hosts=tmp_path / "known_hosts")
    try:
        with pytest.raises(HostKeyUnknown) as caught:
            await transport_for(host_of(fleet, target), pool).run("true")
    finally:
        await pool.close()
    message = str(caught.value)
    key_data = target.host_key_line.split()[2]
    assert "ssh-keyscan" in message and "accept-new" in message
    assert key_data in message  # the exact line to add, after checking the fingerprint
    assert "SHA256:" in message
    assert not (tmp_path / "known_hosts").exists()


async def test_accept_new_records_the_key_then_strict_accepts_it(
    fleet: Fleet, tmp_path: Path
) -> None:
    target = fleet.hosts[1]
    known = tmp_path / "ssh" / "known_hosts"
    pool = pool_for(fleet, known_hosts=known)
    try:
        lenient = host_of(fleet, target, console_host_key_policy="accept-new")
        assert (await transport_for(lenient, pool).run("true")).ok
    finally:
        await pool.close()
    recorded = known.read_text().split()
    assert recorded == target.host_key_line.split()[:3]
    assert known.stat().st_mode & 0o777 == 0o600
    pool = pool_for(fleet, known_hosts=known)
    try:
        assert (await transport_for(host_of(fleet, target), pool).run("true")).ok
    finally:
        await pool.close()


@pytest.mark.parametrize("policy", ["strict", "accept-new"])
async def test_changed_host_key_is_always_refused(
    small_fleet: Fleet, tmp_path: Path, policy: str
) -> None:
    target = small_fleet.hosts[0]
    known = tmp_path / "known_hosts"
    known.write_text(target.host_key_line + "\n")
    before = known.read_text()
    old = asyncssh.import_public_key(" ".join(target.host_key_line.split()[1:3]))
    small_fleet.rotate_host_key(target.name)
    new = asyncssh.import_public_key(" ".join(target.host_key_line.split()[1:3]))
    pool = pool_for(small_fleet, known_hosts=known)
    host = host_of(small_fleet, target, console_host_key_policy=policy)
    try:
        with pytest.raises(HostKeyChanged) as caught:
            await transport_for(host, pool).run("true")
    finally:
        await pool.close()
    message = str(caught.value)
    assert "CHANGED" in message
    assert old.get_fingerprint() in message and new.get_fingerprint() in message
    assert known.read_text() == before  # nothing recorded, nothing replaced


async def test_host_key_policy_off_skips_checking(fleet: Fleet, tmp_path: Path) -> None:
    pool = pool_for(fleet, known_hosts=tmp_path / "known_hosts")
    host = host_of(fleet, fleet.hosts[2], console_host_key_policy="off")
    try:
        assert (await transport_for(host, pool).run("true")).ok
    finally:
        await pool.close()
    assert not (tmp_path / "known_hosts").exists()


async def test_jump_host_by_inventory_name_and_by_address(small_fleet: Fleet) -> None:
    jump, inner = small_fleet.jump_pair()
    jump_host = host_of(small_fleet, jump)
    by_name = host_of(small_fleet, inner, console_jump_host=jump.name)
    by_address = Host(
        "inner-by-address",
        {**by_name.vars, "console_jump_host": f"{small_fleet.user}@{jump.address}:{jump.port}"},
    )
    pool = pool_for(small_fleet, resolve_host={jump.name: jump_host}.get)
    try:
        results = await run_on_hosts([by_name, by_address], "hostname", pool)
        direct = await run_on_hosts(
            [host_of(small_fleet, inner)], "hostname", pool_for(small_fleet, connect_timeout=1)
        )
    finally:
        await pool.close()
    assert [r.stdout for r in results] == [f"{inner.name}\n", f"{inner.name}\n"]
    assert direct[0].status == "unreachable"  # so the jump really was the way in


async def test_timeout_stops_the_remote_command(fleet: Fleet) -> None:
    target = fleet.hosts[3]
    pool = pool_for(fleet)
    transport = transport_for(host_of(fleet, target), pool)
    try:
        started = time.monotonic()
        with pytest.raises(TimedOut):
            await transport.run("sleep 300 & sleep 301", timeout=1)
        assert time.monotonic() - started < 30  # not the 300 s of the sleeps
        assert gone_on_host(target, "sleep 30")
        assert (await transport.run("true")).ok  # the connection is still good
    finally:
        await pool.close()


async def test_cancel_stops_the_remote_command(fleet: Fleet) -> None:
    target = fleet.hosts[4]
    pool = pool_for(fleet)
    transport = transport_for(host_of(fleet, target), pool)
    lines, on_line = _collector()
    try:
        task = asyncio.ensure_future(
            transport.run("sleep 303 & echo started; sleep 302", on_line=on_line)  # type: ignore[arg-type]
        )
        while not lines:
            await asyncio.sleep(0.02)
        assert not gone_on_host(target, "sleep 302")
        task.cancel()
        with pytest.raises(Cancelled):
            await task
        assert gone_on_host(target, "sleep 302")
        assert gone_on_host(target, "sleep 303")  # its background child too
    finally:
        await pool.close()


async def test_non_utf8_output_is_shown_not_fatal(fleet: Fleet) -> None:
    pool = pool_for(fleet)
    try:
        [result] = await run_on_hosts(
            [host_of(fleet, fleet.hosts[6])], "printf 'caf\\351 \\377\\n'", pool
        )
    finally:
        await pool.close()
    assert result.status == "ok"
    assert result.stdout == "caf\ufffd \ufffd\n"


HOSTILE = {
    "INJECT": '"; touch /tmp/pwned-env #',
    "SUBST": "$(touch /tmp/pwned-env) `touch /tmp/pwned-env`",
    "LINES": "first\nsecond\n\n",
    "QUOTES": 'it\'s "quoted" \\ back\\slash %s %b \\0101',
    "UNICODE": "héllo wörld ✓",
    "EMPTY": "",
}


async def test_env_values_arrive_intact_and_never_as_code(fleet: Fleet) -> None:
    target = fleet.hosts[7]
    pool = pool_for(fleet)
    transport = transport_for(host_of(fleet, target), pool)
    lines, on_line = _collector()
    command = "; ".join(f'printf "%s\\0" "${name}"' for name in HOSTILE)
    try:
        status = await transport.run(command, env=HOSTILE, on_line=on_line)  # type: ignore[arg-type]
    finally:
        await pool.close()
    assert status.ok
    values = b"".join(line for stream, line in lines if stream == "stdout").split(b"\0")[:-1]
    assert [v.decode() for v in values] == list(HOSTILE.values())
    assert target.run("test -e /tmp/pwned-env").returncode == 1


async def test_env_values_are_not_on_the_remote_command_line(fleet: Fleet) -> None:
    target = fleet.hosts[8]
    pool = pool_for(fleet)
    transport = transport_for(host_of(fleet, target), pool)
    try:
        task = asyncio.ensure_future(
            transport.run("sleep 31.5", env={"SECRET": "hunter2-not-in-cmdline"})
        )
        # Wait until `sleep` itself runs, however slow the host: the wrapper shell has
        # "sleep 31.5" in its command line from the start, but the value reaches an
        # environment only once the wrapper read it and started the command.
        for _ in range(600):
            environ = target.run("cat /proc/[0-9]*/environ | tr '\\0' ' '").stdout
            if "hunter2-not-in-cmdline" in environ:
                break
            await asyncio.sleep(0.1)
        cmdlines = target.run("cat /proc/[0-9]*/cmdline | tr '\\0' ' '").stdout
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    finally:
        await pool.close()
    assert "sleep 31.5" in cmdlines  # the command itself is there...
    assert "hunter2-not-in-cmdline" not in cmdlines  # ...its environment is not
    assert "hunter2-not-in-cmdline" in environ  # (only root and the user can read this)


async def test_stdin_reaches_the_command_after_the_env(fleet: Fleet) -> None:
    pool = pool_for(fleet)
    data = bytes(range(256)) * 1000 + b"no newline at end"
    lines, on_line = _collector()
    try:
        status = await transport_for(host_of(fleet, fleet.hosts[9]), pool).run(
            "printf '%s|' \"$A\"; sha256sum; wc -c",
            stdin=data,
            env={"A": "x"},
            on_line=on_line,  # type: ignore[arg-type]
        )
    finally:
        await pool.close()
    import hashlib

    out = b"".join(line for _, line in lines).decode()
    assert status.ok
    assert out.startswith(f"x|{hashlib.sha256(data).hexdigest()}")
    assert out.strip().endswith("0")  # sha256sum consumed everything


async def test_lines_arrive_while_the_command_runs(fleet: Fleet) -> None:
    pool = pool_for(fleet)
    seen: list[tuple[float, bytes]] = []
    started = time.monotonic()
    try:
        await transport_for(host_of(fleet, fleet.hosts[10]), pool).run(
            "echo one; sleep 3; echo two >&2",
            on_line=lambda s, line: seen.append((time.monotonic() - started, line)),
        )
    finally:
        await pool.close()
    assert [line for _, line in seen] == [b"one\n", b"two\n"]
    assert seen[1][0] - seen[0][0] > 2  # the first line came 3 s before the end


async def test_exit_status_and_signal(fleet: Fleet) -> None:
    pool = pool_for(fleet)
    transport = transport_for(host_of(fleet, fleet.hosts[11]), pool)
    try:
        assert (await transport.run("exit 7")).code == 7
        killed = await transport.run("kill -KILL $$")
    finally:
        await pool.close()
    assert not killed.ok
    assert killed.signal == "KILL" or killed.code == 137


async def test_upload_writes_the_file_with_its_mode(fleet: Fleet) -> None:
    target = fleet.hosts[12]
    pool = pool_for(fleet)
    data = b"#!/bin/sh\necho uploaded\n" + os.urandom(100_000)
    try:
        await transport_for(host_of(fleet, target), pool).upload(data, "/tmp/up.sh", 0o750)
    finally:
        await pool.close()
    mode = target.run("stat -c %a /tmp/up.sh").stdout.strip()
    size = target.run("wc -c < /tmp/up.sh").stdout.strip()
    target.run("rm -f /tmp/up.sh")
    assert mode == "750"
    assert size == str(len(data))


async def test_an_unknown_connection_is_a_clear_config_error(fleet: Fleet) -> None:
    pool = pool_for(fleet)
    with pytest.raises(ConfigError, match="unknown ansible_connection 'psrp'; use ssh, local"):
        transport_for(Host("win01", {"ansible_connection": "psrp"}), pool)
    await pool.close()


@pytest.mark.parametrize("how", ["console_known_hosts_file", "ansible_ssh_common_args"])
async def test_per_host_known_hosts_file_from_the_inventory(
    fleet: Fleet, tmp_path: Path, how: str
) -> None:
    value = (
        str(fleet.known_hosts)
        if how == "console_known_hosts_file"
        else f"-o UserKnownHostsFile={fleet.known_hosts}"
    )
    pool = pool_for(fleet, known_hosts=tmp_path / "empty_known_hosts")
    host = host_of(fleet, fleet.hosts[13], **{how: value})
    try:
        assert (await transport_for(host, pool).run("true")).ok
    finally:
        await pool.close()
