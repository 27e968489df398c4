"""Reach the engine of a data directory: attach to the running one, or start one here.

Only one engine may own a data directory. A command first looks for a live owner
(the lock is held and its control socket answers) and attaches to it; otherwise it
starts an engine in this process. Two commands racing to start are settled by the
lock: the loser attaches to the winner.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from console.engine.client import EngineClient
from console.engine.core import Engine
from console.engine.options import EngineOptions
from console.engine.services import control_wanted_path
from console.errors import ConfigError
from console.isolated import python_module_command
from console.settings import Settings
from console.store.lock import DataDirLock, EngineRunning, socket_path
from console.workers.connection import NatsSettings

if TYPE_CHECKING:
    from console.engine.remote import RemoteClient

ATTACH_WAIT = 10.0


def options_from_env(**overrides: Any) -> EngineOptions:
    """Engine options a user sets for every command at once, e.g. in a systemd unit."""
    env = os.environ
    values: dict[str, Any] = {
        "listen": env.get("OPSCONSOLE_LISTEN", "127.0.0.1:8080"),
        "tls_cert": env.get("OPSCONSOLE_TLS_CERT") or None,
        "tls_key": env.get("OPSCONSOLE_TLS_KEY") or None,
        "public_url": env.get("OPSCONSOLE_PUBLIC_URL") or None,
        "nats": NatsSettings.from_options(environ=env),
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return EngineOptions(**values)


async def attach(settings: Settings, wait: float = ATTACH_WAIT) -> RemoteClient | None:
    """A client of the engine holding the lock, or None when no engine holds it."""
    if DataDirLock(settings.data_dir).holder_pid() is None:
        return None  # the usual case of a CLI command: it needs no aiohttp
    from console.engine.remote import RemoteClient

    deadline = asyncio.get_running_loop().time() + wait
    sock = socket_path(settings.data_dir)
    while True:
        if DataDirLock(settings.data_dir).holder_pid() is None:
            return None
        if sock.exists():
            try:
                return await RemoteClient(sock).open()
            except ConfigError:
                pass
        else:  # a one-shot engine starts its control API when asked (services_on_request)
            control_wanted_path(settings.data_dir).touch(mode=0o600)
        if asyncio.get_running_loop().time() > deadline:
            raise ConfigError(
                f"an engine holds {settings.data_dir} but its control socket {sock} does not answer"
            )
        await asyncio.sleep(0.05)  # the holder is still starting up


def reader_options() -> EngineOptions:
    """For a command that only reads jobs (`jobs list`, `jobs show`) when no engine runs:
    crash recovery under the lock, then nothing started (see EngineOptions.read_only)."""
    return EngineOptions(read_only=True)


def console_options(**overrides: Any) -> EngineOptions:
    """The console's own engine owns the data directory like `serve` does, so it also
    fires schedules, serves webhooks and collects inventory data; a busy webhook port
    must not stop the UI."""
    return options_from_env(
        triggers=True,
        collection=True,
        desired_state=True,
        listener_required=False,
        **overrides,
    )


@asynccontextmanager
async def engine_client(
    settings: Settings,
    options: EngineOptions | None = None,
) -> AsyncIterator[EngineClient]:
    """Yield an EngineClient: a RemoteClient when attached, else an in-process Engine
    (closed, with its running jobs stopped, when the block ends). The one way every
    command and the console reach jobs, schedules, webhooks and the store."""
    for _ in range(3):
        remote = await attach(settings)
        if remote is not None:
            try:
                yield remote
            finally:
                await remote.close()
            return
        engine = Engine(settings, options or options_from_env())
        try:
            await engine.start()
        except EngineRunning:
            continue  # lost the race to another process: attach to it
        try:
            yield engine
        finally:
            await engine.close()
        return
    raise ConfigError(f"could not start or attach to an engine for {settings.data_dir}")


def spawn_background_engine(settings: Settings) -> None:
    """Start `opsconsole serve --until-idle` detached, for `run --no-wait` with no engine."""

    env = {
        **os.environ,
        "OPSCONSOLE_INVENTORY": str(settings.inventory.resolve()),
        "OPSCONSOLE_DATA_DIR": str(settings.data_dir.resolve()),
        "OPSCONSOLE_RUNBOOKS": str(settings.runbooks.resolve()),
    }
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    log = open(settings.data_dir / "background-engine.log", "ab")  # noqa: SIM115
    subprocess.Popen(
        python_module_command("console", "serve", "--until-idle"),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
