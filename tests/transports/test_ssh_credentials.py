"""Hosts that log in with a credential asset (`console_credential`) and become root with
sudo (`ansible_become`), on real sshd hosts with a password user (`login_user=True`).

The assets come from a real vault (`AssetVault`) in the test's own data directory."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from console.assets.vault import AssetVault
from console.errors import AuthenticationFailed, HostConfigError, HostError, TimedOut
from console.inventory.model import Host
from console.store import Store
from console.transports.factory import transport_for
from console.transports.pool import TransportPool
from tests.fleet import LOGIN_UID, LOGIN_USER, Fleet, FleetHost, start_fleet
from tests.transports.helpers import gone_on_host, host_of

pytestmark = pytest.mark.skipif(
    not Path("/usr/bin/sudo").exists(), reason="needs sudo (make system-packages)"
)


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[AssetVault]:
    data_dir = tmp_path / "data"
    store = Store(data_dir)
    try:
        yield AssetVault(store, data_dir, environ={})
    finally:
        store.close()


async def credential(vault: AssetVault, name: str, username: str, **secrets: str) -> None:
    await vault.set_credential(name, username, **secrets)


@pytest.fixture(scope="module")
def users_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    if os.geteuid() != 0:
        pytest.skip("a login user needs an isolated (root) fleet")
    with start_fleet(2, tmp_path_factory.mktemp("users-fleet"), login_user=True) as started:
        yield started


def pool_with(fleet: Fleet, assets: AssetVault) -> TransportPool:
    return TransportPool(known_hosts=fleet.known_hosts, ssh_config=[], assets=assets)


async def run(
    host: Host, pool: TransportPool, command: str, **kwargs: Any
) -> tuple[int | None, str]:
    out = bytearray()
    try:
        status = await transport_for(host, pool).run(
            command, on_line=lambda stream, line: out.extend(line), **kwargs
        )
    finally:
        await pool.close()
    return status.code, out.decode()


async def password_assets(fleet: Fleet, vault: AssetVault) -> AssetVault:
    await credential(vault, "ops", LOGIN_USER, password=str(fleet.login_password))
    return vault


def with_vars(fleet: Fleet, target: FleetHost, **values: Any) -> Host:
    return host_of(fleet, target, **values)


async def test_password_credential_logs_in_as_its_user(
    users_fleet: Fleet, vault: AssetVault
) -> None:
    target = users_fleet.hosts[0]
    host = with_vars(users_fleet, target, console_credential="ops")  # group-like ansible_user
    assets = await password_assets(users_fleet, vault)
    code, out = await run(host, pool_with(users_fleet, assets), "id -un")
    assert (code, out.strip()) == (0, LOGIN_USER)
    assert f"Accepted password for {LOGIN_USER}" in target.log.read_text()


async def test_key_credential_with_passphrase_is_used_from_memory(
    users_fleet: Fleet, vault: AssetVault
) -> None:
    target = users_fleet.hosts[1]
    key = asyncssh.generate_private_key("ssh-ed25519")
    public = key.export_public_key().decode()
    target.run(f"cat >> /home/{LOGIN_USER}/.ssh/authorized_keys", input=public, check=True)
    pem = key.export_private_key("pkcs8-pem", passphrase="key-pass-phrase").decode()
    await credential(vault, "deploy", LOGIN_USER, private_key=pem, passphrase="key-pass-phrase")
    host = with_vars(users_fleet, target, console_credential="deploy")
    code, out = await run(host, pool_with(users_fleet, vault), "id -un")
    assert (code, out.strip()) == (0, LOGIN_USER)
    assert f"Accepted publickey for {LOGIN_USER}" in target.log.read_text()


async def test_wrong_password_names_the_credential_not_the_password(
    users_fleet: Fleet, vault: AssetVault
) -> None:
    await credential(vault, "ops", LOGIN_USER, password="not-the-password")
    host = with_vars(users_fleet, users_fleet.hosts[0], console_credential="ops")
    with pytest.raises(AuthenticationFailed) as failed:
        await run(host, pool_with(users_fleet, vault), "true")
    assert "credential 'ops'" in str(failed.value)
    assert "not-the-password" not in str(failed.value)


async def test_missing_or_wrong_kind_asset_fails_that_host_only(
    users_fleet: Fleet, vault: AssetVault
) -> None:
    await vault.set_variable("region", "eu")
    pool = pool_with(users_fleet, await password_assets(users_fleet, vault))
    good = with_vars(users_fleet, users_fleet.hosts[0], console_credential="ops")
    missing = with_vars(users_fleet, users_fleet.hosts[1], console_credential="nope")
    wrong = Host("wrongkind", {**missing.vars, "console_credential": "region"})
    try:
        results = await asyncio.gather(
            *(transport_for(h, pool).run("true") for h in (good, missing, wrong)),
            return_exceptions=True,
        )
    finally:
        await pool.close()
    assert results[0].ok  # type: ignore[union-attr]
    assert isinstance(results[1], HostConfigError) and results[1].kind == "config_error"
    assert (results[1].host, results[1].detail) == (
        "host02",
        "console_credential names credential 'nope', but there is no such asset "
        "(see `opsconsole assets list`)",
    )
    assert isinstance(results[2], HostConfigError) and "not a credential" in str(results[2])


async def test_host_level_ansible_user_contradicting_the_credential(
    users_fleet: Fleet, vault: AssetVault
) -> None:
    host = with_vars(users_fleet, users_fleet.hosts[0], console_credential="ops")
    explicit = Host(host.name, host.vars, own_vars=frozenset({"ansible_user"}))
    assets = await password_assets(users_fleet, vault)
    with pytest.raises(HostConfigError, match=r"ansible_user 'root'.*'opsuser'.*'ops'"):
        await run(explicit, pool_with(users_fleet, assets), "true")


async def test_become_root_with_the_credential_password(
    users_fleet: Fleet, vault: AssetVault
) -> None:
    host = with_vars(
        users_fleet, users_fleet.hosts[0], console_credential="ops", ansible_become=True
    )
    code, out = await run(
        host,
        pool_with(users_fleet, await password_assets(users_fleet, vault)),
        'id -u; echo "$GREETING"; cat',
        env={"GREETING": "hello there"},
        stdin=b"from stdin\n",
    )
    assert (code, out.splitlines()) == (0, ["0", "hello there", "from stdin"])


async def test_become_another_user_from_root_login(users_fleet: Fleet, vault: AssetVault) -> None:
    host = with_vars(
        users_fleet, users_fleet.hosts[1], ansible_become="yes", ansible_become_user=LOGIN_USER
    )
    code, out = await run(host, pool_with(users_fleet, vault), "id -u")
    assert (code, out.strip()) == (0, str(LOGIN_UID))


async def test_wrong_become_password_fails_fast_and_clearly(
    users_fleet: Fleet, vault: AssetVault
) -> None:
    assets = await password_assets(users_fleet, vault)
    await credential(vault, "sudo", "x", password="wrong-sudo-pw")
    host = with_vars(
        users_fleet,
        users_fleet.hosts[0],
        console_credential="ops",
        ansible_become=True,
        console_become_credential="sudo",
    )
    started = time.monotonic()
    with pytest.raises(AuthenticationFailed) as failed:
        await run(host, pool_with(users_fleet, assets), "id -u", timeout=30)
    assert time.monotonic() - started < 15  # sudo's own delay, never the time limit
    assert "sudo: incorrect password for become on host01" in str(failed.value)
    assert "wrong-sudo-pw" not in str(failed.value)


async def test_become_without_a_password_is_a_clear_error(
    users_fleet: Fleet, vault: AssetVault
) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    target = users_fleet.hosts[1]
    target.run(
        f"cat >> /home/{LOGIN_USER}/.ssh/authorized_keys",
        input=key.export_public_key().decode(),
        check=True,
    )
    await credential(vault, "k", LOGIN_USER, private_key=key.export_private_key().decode())
    host = with_vars(users_fleet, target, console_credential="k", ansible_become=True)
    with pytest.raises(HostError, match="password is required"):
        await run(host, pool_with(users_fleet, vault), "id -u", timeout=30)


async def test_unsupported_become_method(users_fleet: Fleet, vault: AssetVault) -> None:
    host = with_vars(
        users_fleet, users_fleet.hosts[0], ansible_become=True, ansible_become_method="su"
    )
    with pytest.raises(HostConfigError, match="ansible_become_method 'su'"):
        await run(host, pool_with(users_fleet, vault), "true")


async def test_a_become_password_in_the_inventory_is_refused(
    users_fleet: Fleet, vault: AssetVault
) -> None:
    host = with_vars(
        users_fleet, users_fleet.hosts[0], ansible_become=True, ansible_become_password="plain"
    )
    with pytest.raises(HostConfigError, match="ansible_become_password is not read") as refused:
        await run(host, pool_with(users_fleet, vault), "true")
    assert "plain" not in str(refused.value)


async def test_become_timeout_stops_the_commands_on_the_host(
    users_fleet: Fleet, vault: AssetVault
) -> None:
    target = users_fleet.hosts[0]
    host = with_vars(users_fleet, target, console_credential="ops", ansible_become=True)
    with pytest.raises(TimedOut):
        await run(
            host,
            pool_with(users_fleet, await password_assets(users_fleet, vault)),
            '[ "$(id -u)" = 0 ] && sleep 737; true',
            timeout=3,
        )
    assert gone_on_host(target, "sleep 737")


async def test_passwords_are_in_no_process_list_during_the_run(
    users_fleet: Fleet, vault: AssetVault
) -> None:
    target = users_fleet.hosts[0]
    password = str(users_fleet.login_password)
    host = with_vars(users_fleet, target, console_credential="ops", ansible_become=True)
    seen: dict[str, str] = {}

    async def look_while_running() -> None:
        while "host" not in seen or "sleep 3.4242" not in seen["host"]:
            await asyncio.sleep(0.1)  # polling the process lists, not synchronising
            seen["host"] = target.run("ps -eo args").stdout
            seen["controller"] = subprocess.run(
                ["ps", "-eo", "args"], capture_output=True, text=True
            ).stdout

    pool = pool_with(users_fleet, await password_assets(users_fleet, vault))
    looking = asyncio.ensure_future(look_while_running())
    code, _ = await run(host, pool, "sleep 3.4242")
    await asyncio.wait_for(looking, 5)
    assert code == 0
    assert password not in seen["host"] and password not in seen["controller"]
