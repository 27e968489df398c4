"""Fixtures for the webhook tests: a real listener on 127.0.0.1 (free port) serving a
real registry, and the engine side played by `Jobs`, a small real `submit` that records
every call and returns job ids."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from console.secrets import SecretBox
from console.webhooks.http import MAX_BODY, create_handler
from console.webhooks.listener import WebhookListener
from console.webhooks.registry import Webhook, WebhookRegistry, webhook_url


class MemoryStore:
    """The persistence protocol kept in a dict (the engine's store is tested elsewhere)."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}

    def load(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.records.values()]

    def save(self, name: str, record: dict[str, Any]) -> None:
        self.records[name] = dict(record)

    def delete(self, name: str) -> None:
        del self.records[name]


@dataclass
class Jobs:
    """The engine's `submit` for tests: records calls; can be held or made to fail."""

    calls: list[tuple[Webhook, dict[str, Any]]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    gate: asyncio.Event | None = None
    fail: Exception | None = None

    async def submit(self, webhook: Webhook, data: dict[str, Any]) -> list[str]:
        self.events.append("submit called")
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        self.calls.append((webhook, data))
        self.events.append("submit returned")
        return [f"job-{len(self.calls)}"]


class Clock:
    """Real time plus an offset the test can move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class Server:
    registry: WebhookRegistry
    jobs: Jobs
    clock: Clock
    listener: WebhookListener
    box: SecretBox

    @property
    def port(self) -> int:
        return self.listener.port

    def url(self, token: str) -> str:
        return webhook_url(self.listener.url_base, token)

    def create(self, name: str = "deploy", **options: Any) -> str:
        """Create a webhook on runbook `deploy.sh` and return its token."""
        options.setdefault("parameters", {"env": "prod"})
        options.setdefault("now", self.clock())
        _, token = self.registry.create(name, "deploy.sh", **options)
        return token


MakeServer = Callable[..., Awaitable[Server]]


@pytest.fixture
async def make_server(tmp_path: Path) -> AsyncIterator[MakeServer]:
    listeners: list[WebhookListener] = []

    async def make(
        *,
        host: str = "127.0.0.1",
        body_timeout: float = 10.0,
        header_timeout: float = 15.0,
        max_body: int = MAX_BODY,
        ssl_cert: Path | None = None,
        ssl_key: Path | None = None,
    ) -> Server:
        box = SecretBox.for_data_dir(tmp_path / f"data{len(listeners)}", environ={})
        registry = WebhookRegistry(MemoryStore(), box)
        jobs, clock = Jobs(), Clock()
        handler = create_handler(
            registry, jobs.submit, now=clock, body_timeout=body_timeout, max_body=max_body
        )
        listener = WebhookListener(
            handler, host, port=0, ssl_cert=ssl_cert, ssl_key=ssl_key, header_timeout=header_timeout
        )
        await listener.start()
        listeners.append(listener)
        return Server(registry, jobs, clock, listener, box)

    yield make
    for listener in listeners:
        await listener.stop()


@pytest.fixture
async def server(make_server: MakeServer) -> Server:
    return await make_server()


async def raw_exchange(port: int, data: bytes, *, timeout: float = 60.0) -> bytes:
    """Send raw bytes to the listener and read until it closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


async def raw_head(port: int, data: bytes, *, timeout: float = 60.0) -> bytes:
    """Send raw bytes and return the response's status line and headers, without
    waiting for the connection to close."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    finally:
        writer.close()


def status_of(response: bytes) -> int | None:
    """The status code of a raw HTTP response, or None if there was none."""
    parts = response.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        return None
    return int(parts[1])
