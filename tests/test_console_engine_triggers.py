"""The console's own engine owns the data directory, so it runs schedules and webhooks
too; a webhook port already in use must not keep the console from starting."""

from __future__ import annotations

import socket
from pathlib import Path

from console.engine.connect import console_options
from console.engine.core import Engine
from console.settings import Settings


async def test_console_engine_serves_webhooks(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    engine = Engine(settings, console_options(listen="127.0.0.1:0"))
    await engine.start()
    try:
        assert engine.webhooks is not None and engine.webhooks.listening
        assert engine.schedules is not None
    finally:
        await engine.close()


async def test_console_starts_when_the_webhook_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        engine = Engine(_settings(tmp_path), console_options(listen=f"127.0.0.1:{port}"))
        await engine.start()
        try:
            assert engine.webhooks is not None and not engine.webhooks.listening
            assert engine.listener_problem is not None
            assert str(port) in engine.listener_problem
        finally:
            await engine.close()


def _settings(tmp_path: Path) -> Settings:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n")
    return Settings(inventory, tmp_path / "data", tmp_path / "runbooks")
