"""Connecting to NATS as the engine, a worker and `workers list` do: the settings, the
errors a user can act on (never showing the password), TLS with a private CA and a
client certificate, and reconnecting after the server restarts."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import nkeys
import pytest

from console.errors import (
    ConfigError,
    NatsAuthFailed,
    NatsNotConfigured,
    NatsTlsFailed,
    NatsUnavailable,
)
from console.workers.connection import NatsSettings, connect_nats, masked_url
from tests.nats_server import NatsServer
from tests.nats_tls import TlsFiles, make_tls_files

PASSWORD = "s3cret-nats"


async def wait_until(condition: Callable[[], bool], what: str, limit_s: float = 60.0) -> None:
    """Poll `condition` (a state, not a duration); the limit only stops a hung test."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def round_trip(client_settings: NatsSettings, name: str = "probe") -> str:
    """Connect, publish to JetStream and read it back: the connection really works."""
    client = await connect_nats(client_settings, name)
    try:
        js = client.jetstream()
        await js.add_stream(name="probe", subjects=["probe.>"])
        ack = await js.publish("probe.one", b"hello")
        return (await js.get_msg("probe", ack.seq)).data.decode()
    finally:
        await client.close()


def test_no_url_anywhere_means_nats_is_not_configured() -> None:
    assert NatsSettings.from_options(environ={}) is None
    with pytest.raises(NatsNotConfigured, match=r"--nats URL or set OPSCONSOLE_NATS"):
        NatsSettings.required(environ={})


def test_settings_come_from_the_environment_and_options_win(tls_files: TlsFiles) -> None:
    env = {"OPSCONSOLE_NATS": "nats://env:4222", "OPSCONSOLE_NATS_CA": str(tls_files.ca)}
    from_env = NatsSettings.required(environ=env)
    assert (from_env.url, from_env.ca) == ("nats://env:4222", tls_files.ca)
    given = NatsSettings.required("tls://opt:4222", ca=str(tls_files.server_cert), environ=env)
    assert (given.url, given.ca) == ("tls://opt:4222", tls_files.server_cert)


def test_bad_settings_name_the_option_and_variable(tmp_path: Path, tls_files: TlsFiles) -> None:
    with pytest.raises(ConfigError, match=r"--nats-ca / OPSCONSOLE_NATS_CA: no such file"):
        NatsSettings.required("nats://h:4222", ca=str(tmp_path / "missing.pem"), environ={})
    with pytest.raises(ConfigError, match=r"needs both --nats-cert .* and --nats-key"):
        NatsSettings.required("nats://h:4222", cert=str(tls_files.client_cert), environ={})
    with pytest.raises(ConfigError, match=r"is not a NATS URL") as bad:
        NatsSettings.required(f"http://u:{PASSWORD}@h:4222", environ={})
    assert PASSWORD not in str(bad.value)


def test_the_password_is_masked_in_every_server_of_the_url() -> None:
    url = f"nats://engine:{PASSWORD}@a:4222, nats://b:4222"
    assert masked_url(url) == "nats://engine:***@a:4222,nats://b:4222"


async def test_the_right_password_connects(nats_server_with_auth: NatsServer) -> None:
    settings = NatsSettings.required(nats_server_with_auth.url, environ={})
    assert await round_trip(settings) == "hello"


async def test_a_wrong_password_is_refused_without_showing_it(
    nats_server_with_auth: NatsServer,
) -> None:
    url = nats_server_with_auth.url.replace(PASSWORD, "wrong-password")
    with pytest.raises(NatsAuthFailed) as refused:
        await connect_nats(NatsSettings.required(url, environ={}), "probe")
    message = str(refused.value)
    assert "wrong-password" not in message
    assert f"nats://engine:***@127.0.0.1:{nats_server_with_auth.port}" in message
    assert "OPSCONSOLE_NATS" in message


async def test_no_server_at_the_url_is_unavailable(nats_server: NatsServer) -> None:
    nats_server.stop()
    with pytest.raises(NatsUnavailable, match=rf"NATS nats://127.0.0.1:{nats_server.port} did not"):
        await connect_nats(NatsSettings.required(nats_server.url, environ={}), "probe")


async def test_tls_with_the_ca_and_a_client_certificate_connects(
    nats_server_with_tls: NatsServer, tls_files: TlsFiles
) -> None:
    settings = NatsSettings.required(
        nats_server_with_tls.url,
        ca=str(tls_files.ca),
        cert=str(tls_files.client_cert),
        key=str(tls_files.client_key),
        environ={},
    )
    assert await round_trip(settings) == "hello"


async def test_a_server_certificate_from_an_unknown_ca_is_refused(
    nats_server_with_tls: NatsServer, tls_files: TlsFiles, tmp_path: Path
) -> None:
    other = make_tls_files(tmp_path / "other-pki", ca_name="some other CA")
    settings = NatsSettings.required(
        nats_server_with_tls.url,
        ca=str(other.ca),
        cert=str(tls_files.client_cert),
        key=str(tls_files.client_key),
        environ={},
    )
    with pytest.raises(NatsTlsFailed, match=r"certificate verify failed.*--nats-ca"):
        await connect_nats(settings, "probe")


async def test_a_client_without_a_certificate_is_refused_by_a_verifying_server(
    nats_server_with_tls: NatsServer, tls_files: TlsFiles
) -> None:
    settings = NatsSettings.required(nats_server_with_tls.url, ca=str(tls_files.ca), environ={})
    with pytest.raises(NatsTlsFailed, match=r"--nats-cert / OPSCONSOLE_NATS_CERT"):
        await connect_nats(settings, "probe")


@pytest.mark.parametrize("kill", [False, True], ids=["restart", "kill-9-restart"])
async def test_the_client_reconnects_after_the_server_restarts(
    nats_server: NatsServer, kill: bool
) -> None:
    client = await connect_nats(NatsSettings.required(nats_server.url, environ={}), "probe")
    received: list[bytes] = []

    async def keep(msg: object) -> None:
        received.append(msg.data)  # type: ignore[attr-defined]

    await client.subscribe("greetings", cb=keep)
    await asyncio.to_thread(nats_server.restart, kill)
    await wait_until(lambda: client.is_connected and not client.is_reconnecting, "reconnect")
    await client.publish("greetings", b"after the restart")
    await wait_until(lambda: received == [b"after the restart"], "the message after reconnect")
    await client.close()


async def test_an_nkey_seed_file_authenticates(
    nats_server_with_nkey: NatsServer, nkey_seed_file: Path
) -> None:
    settings = NatsSettings.required(
        nats_server_with_nkey.url, nkey_seed=str(nkey_seed_file), environ={}
    )
    assert await round_trip(settings) == "hello"


async def test_a_seed_the_server_does_not_know_is_refused(
    nats_server_with_nkey: NatsServer, tmp_path: Path
) -> None:
    stranger = tmp_path / "stranger.nk"
    stranger.write_bytes(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER))
    settings = NatsSettings.required(nats_server_with_nkey.url, nkey_seed=str(stranger), environ={})
    with pytest.raises(NatsAuthFailed, match=r"--nats-nkey / OPSCONSOLE_NATS_NKEY"):
        await connect_nats(settings, "probe")
