"""Fixtures of the worker-group tests: a real nats-server per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.nats_server import NatsServer


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A JetStream nats-server on a free loopback port, its store under tmp_path."""
    with NatsServer(tmp_path / "nats") as server:
        yield server


@pytest.fixture
def nats_server_with_auth(tmp_path: Path) -> Iterator[NatsServer]:
    """The same, requiring a user and password (given in its `url`)."""
    with NatsServer(tmp_path / "nats", user="engine", password="s3cret-nats") as server:
        yield server
