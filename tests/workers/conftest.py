"""Fixtures of the worker-group tests: a real nats-server per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import nkeys
import pytest

from tests.nats_server import NatsServer
from tests.nats_tls import TlsFiles, make_tls_files
from tests.workers.harness import World, make_world


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


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    """A private CA with a server certificate for 127.0.0.1 and a client certificate."""
    return make_tls_files(tmp_path / "pki")


@pytest.fixture
def nats_server_with_tls(tmp_path: Path, tls_files: TlsFiles) -> Iterator[NatsServer]:
    """A nats-server requiring TLS and a client certificate signed by `tls_files.ca`."""
    with NatsServer(tmp_path / "nats", tls=tls_files, verify_clients=True) as server:
        yield server


@pytest.fixture
def nkey_seed_file(tmp_path: Path) -> Path:
    """A new user nkey's seed in a file (mode 0600), as `nsc`/`nk` would write it."""
    path = tmp_path / "user.nk"
    path.write_bytes(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER))
    path.chmod(0o600)
    return path


@pytest.fixture
def nats_server_with_nkey(tmp_path: Path, nkey_seed_file: Path) -> Iterator[NatsServer]:
    """A nats-server that lets in only the holder of `nkey_seed_file`."""
    public = nkeys.from_seed(bytearray(nkey_seed_file.read_bytes())).public_key.decode()
    with NatsServer(tmp_path / "nats", nkey_users=(public,)) as server:
        yield server


@pytest.fixture
def world(tmp_path: Path, nats_server: NatsServer) -> Iterator[World]:
    """A worker-group world (tests/workers/harness.py) on its own nats-server."""
    made = make_world(tmp_path, nats_server)
    try:
        yield made
    finally:
        made.close()
