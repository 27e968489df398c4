"""Fixtures for Windows hosts: WS-Management test servers (stand-ins for Windows hosts,
see wsman_server.py) over HTTP and HTTPS, and inventory hosts that reach them.

The servers live for the session (each test gets its own "C:" root, stats and knobs
through `reset()`); `tls_files` is the HTTPS server's self-signed certificate, which
is its own CA (`ansible_winrm_ca_trust_path`).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.inventory.model import Host
from console.transports.pool import TransportPool
from tests.certs import self_signed_cert
from tests.windows.wsman_server import WSManServer

USER = "opsadmin"
PASSWORD = "Winrm-Test-Pass1"


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("wsman-tls"))


@pytest.fixture(scope="session")
def _http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WSManServer]:
    server = WSManServer(tmp_path_factory.mktemp("wsman-http") / "C", {USER: PASSWORD}).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _https_server(
    tmp_path_factory: pytest.TempPathFactory, tls_files: tuple[Path, Path]
) -> Iterator[WSManServer]:
    root = tmp_path_factory.mktemp("wsman-https") / "C"
    server = WSManServer(root, {USER: PASSWORD}, tls=tls_files).start()
    yield server
    server.stop()


@pytest.fixture
def http_server(_http_server: WSManServer) -> WSManServer:
    _http_server.reset()
    return _http_server


@pytest.fixture
def https_server(_https_server: WSManServer) -> WSManServer:
    _https_server.reset()
    return _https_server


def winrm_vars(
    server: WSManServer, tls_files: tuple[Path, Path] | None, **extra: Any
) -> dict[str, Any]:
    """The inventory variables of a Windows host behind `server`."""
    values: dict[str, Any] = {
        "ansible_connection": "winrm",
        "ansible_host": "127.0.0.1",
        "ansible_port": server.port,
        "ansible_winrm_scheme": server.scheme,
        "ansible_user": USER,
        "ansible_password": PASSWORD,
    }
    if server.tls and tls_files is not None:
        values["ansible_winrm_ca_trust_path"] = str(tls_files[0])
    return {**values, **extra}


def win_host(
    server: WSManServer, tls_files: tuple[Path, Path] | None, name: str = "win1", **extra: Any
) -> Host:
    return Host(name, winrm_vars(server, tls_files, **extra))


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[int]:
    """A WS-Management test server (HTTP, NTLM and Basic) in a process of its own, as a
    Windows host is another machine: its work never competes with the test's event
    loop for this process's GIL. Yields its port."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.windows.wsman_server", str(tmp_path / "C"), USER, PASSWORD],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert process.stdout is not None
        yield int(process.stdout.readline())
    finally:
        process.kill()
        process.wait()


@pytest.fixture
def pool() -> TransportPool:
    """A pool for the forks slots (WinRM keeps no pooled connections); no ssh_config."""
    return TransportPool(ssh_config=[])
