"""`opsconsole workers list` as an operator runs it, against a real nats-server where
two workers announce themselves: the JSON keys and values, the table, and the errors
for a missing or wrong NATS setting."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS

from console.workers.connection import NatsSettings, connect_nats
from console.workers.presence import Presence
from tests.nats_server import NatsServer
from tests.nats_tls import TlsFiles

PASSWORD = "s3cret-nats"


async def opsconsole(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """`python -m console ARGS` in a subprocess; awaited, so heartbeats go on meanwhile."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def user_env(tmp_path: Path, **nats: str) -> dict[str, str]:
    """The operator's environment: no OPSCONSOLE_* of the machine running the tests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSCONSOLE_")}
    return {**env, "OPSCONSOLE_DATA_DIR": str(tmp_path / "data"), **nats}


@pytest.fixture
async def worker_client(nats_server_with_auth: NatsServer) -> AsyncIterator[NATS]:
    settings = NatsSettings.required(nats_server_with_auth.url, environ={})
    client = await connect_nats(settings, "workers")
    yield client
    await client.close()


async def announce(client: NATS, name: str, group: str, running: int) -> Presence:
    presence = Presence(
        client.jetstream(), name=name, group=group, capacity=8, running=lambda: running
    )
    await presence.start()
    return presence


async def test_workers_list_json_shows_each_worker_and_its_state(
    nats_server_with_auth: NatsServer, worker_client: NATS, tmp_path: Path
) -> None:
    dmz = await announce(worker_client, "dmz-1", "dmz", running=2)
    lab = await announce(worker_client, "lab-1", "lab", running=0)
    await lab.stop()  # a clean shutdown: offline

    env = user_env(tmp_path, OPSCONSOLE_NATS=nats_server_with_auth.url)
    code, out, err = await opsconsole(env, "workers", "list", "--json")

    assert (code, err) == (0, "")
    rows = json.loads(out)
    assert [set(row) for row in rows] == [
        {"name", "group", "host", "version", "last_seen", "running", "capacity", "state"}
    ] * 2
    assert [(r["name"], r["group"], r["state"], r["running"], r["capacity"]) for r in rows] == [
        ("dmz-1", "dmz", "online", 2, 8),
        ("lab-1", "lab", "offline", 0, 8),
    ]
    assert rows[0]["host"] == socket.gethostname()
    assert rows[0]["last_seen"].endswith("+00:00")
    await dmz.stop()


async def test_workers_list_table_with_the_url_as_an_option(
    nats_server_with_auth: NatsServer, worker_client: NATS, tmp_path: Path
) -> None:
    dmz = await announce(worker_client, "dmz-1", "dmz", running=1)
    code, out, _ = await opsconsole(
        user_env(tmp_path), "workers", "list", "--nats", nats_server_with_auth.url
    )
    header, line = out.splitlines()
    assert code == 0
    assert header.split()[:4] == ["NAME", "GROUP", "STATE", "RUNS"]
    assert line.split()[:4] == ["dmz-1", "dmz", "online", "1/8"]
    await dmz.stop()


async def test_no_nats_setting_is_an_error_naming_it(tmp_path: Path) -> None:
    code, out, err = await opsconsole(user_env(tmp_path), "workers", "list")
    assert (code, out) == (2, "")
    assert "give --nats URL or set OPSCONSOLE_NATS" in err


async def test_a_wrong_password_is_refused_and_not_printed(
    nats_server_with_auth: NatsServer, tmp_path: Path
) -> None:
    url = nats_server_with_auth.url.replace(PASSWORD, "not-the-password")
    code, _, err = await opsconsole(user_env(tmp_path, OPSCONSOLE_NATS=url), "workers", "list")
    assert code == 2
    assert "refused the credentials" in err
    assert "not-the-password" not in err and "engine:***@" in err


async def test_tls_settings_come_from_the_environment(
    nats_server_with_tls: NatsServer, tls_files: TlsFiles, tmp_path: Path
) -> None:
    env = user_env(
        tmp_path,
        OPSCONSOLE_NATS=nats_server_with_tls.url,
        OPSCONSOLE_NATS_CA=str(tls_files.ca),
        OPSCONSOLE_NATS_CERT=str(tls_files.client_cert),
        OPSCONSOLE_NATS_KEY=str(tls_files.client_key),
    )
    code, out, err = await opsconsole(env, "workers", "list", "--json")
    assert (code, json.loads(out), err) == (0, [], "")
