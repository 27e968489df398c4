"""Running commands on a host over SSH (asyncssh), on the pool's shared connection.

Every command is one channel on the host's pooled connection. The command runs
under the wrapper of `console.transports.remote_shell`, which keeps environment
values off the remote command line and reports the command's process group, so that
a timeout or a cancel can end the remote process (a second channel kills the group)
rather than merely stop reading it.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from collections.abc import Coroutine, Mapping
from typing import Any

from console.errors import Cancelled, HostError, TimedOut, Unreachable
from console.inventory.model import Host
from console.ssh_library import asyncssh
from console.transports import remote_shell
from console.transports.base import ExitStatus, LineCallback, StreamName, Transport
from console.transports.login import Become, become_for
from console.transports.pool import TransportPool
from console.transports.streams import pump_outputs
from console.transports.sudo import SudoGate

# How long to wait for the wrapper's process-group report before giving up on a
# clean kill, and how long the kill channel may take.
MARKER_WAIT = 2.0
KILL_WAIT = 10.0


class SSHTransport(Transport):
    """Commands and uploads on one host through the pool's connection to it."""

    def __init__(self, host: Host, pool: TransportPool) -> None:
        super().__init__(host)
        self.pool = pool

    async def run(
        self,
        command: str,
        *,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        on_line: LineCallback | None = None,
    ) -> ExitStatus:
        """`timeout` bounds connecting and running, not waiting for a `forks` slot: the
        slot is taken once connected, so a host that does not answer never holds one."""
        data = remote_shell.env_block(env) + (stdin or b"")
        become = become_for(self.host, self.pool.assets)
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with self.pool.connection(self.host, timeout) as conn:
            connecting = loop.time() - started
            async with self.pool.command_slot():
                left = None if timeout is None else max(timeout - connecting, 0.001)
                return await self._run_on(conn, command, data, (left, timeout), on_line, become)

    async def connect(self) -> None:
        """Open the pooled connection (kept open while idle for the pool's idle time)."""
        async with self.pool.connection(self.host):
            pass

    async def upload(self, data: bytes, remote_path: str, mode: int = 0o600) -> None:
        """Written through a private temp file and renamed, so readers never see half a
        file and the content is never readable by others in between."""
        path = shlex.quote(remote_path)
        tmp = shlex.quote(f"{remote_path}.opsconsole-tmp")
        command = (
            f"umask 077 && cat > {tmp} && chmod {mode:o} {tmp} && mv -f {tmp} {path}"
            f" || {{ rc=$?; rm -f {tmp}; exit $rc; }}"
        )
        errors: list[bytes] = []
        status = await self.run(command, stdin=data, on_line=lambda s, line: errors.append(line))
        if not status.ok:
            message = b"".join(errors).decode(errors="replace").strip()
            raise HostError(self.host.name, f"upload to {remote_path} failed: {message or status}")

    async def close(self) -> None:
        self.pool.discard(self.host)

    async def _run_on(
        self,
        conn: asyncssh.SSHClientConnection,
        command: str,
        data: bytes,
        limits: tuple[float | None, float | None],
        on_line: LineCallback | None,
        become: Become | None,
    ) -> ExitStatus:
        """`limits`: the time left for the command, and the run's whole time limit
        (which the message names). `become`: run it through sudo."""
        timeout, stated = limits
        nonce = remote_shell.new_nonce()
        gate = SudoGate(self.host.name, become, nonce) if become is not None else None
        wrapped = gate.command(command) if gate else remote_shell.wrap(command, nonce)
        try:
            process = await conn.create_process(wrapped, encoding=None)
        except (asyncssh.Error, OSError) as exc:
            self.pool.discard(self.host)
            raise Unreachable(self.host.name, f"cannot open a session: {exc}") from exc
        pgid: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def on_output(stream: StreamName, line: bytes) -> None:
            if stream == "stderr" and not pgid.done():
                found = remote_shell.parse_marker(line, nonce)
                if found is not None:
                    pgid.set_result(found)
                    return
            if gate is not None and gate.take(process, stream, line):
                return
            if on_line is not None:
                on_line(stream, line)

        try:
            async with asyncio.timeout(timeout):
                feed = gate.feed(process, data) if gate else _feed(process, data)
                await _drive(process, feed, on_output)
        except TimeoutError:
            await self._stop(conn, process, pgid, gate)
            raise TimedOut(
                self.host.name,
                f"command still running after {stated:g} s; it was stopped on the host",
            ) from None
        except asyncio.CancelledError:
            await self._stop(conn, process, pgid, gate)
            raise Cancelled(
                self.host.name, "cancelled; the command was stopped on the host"
            ) from None
        if gate is not None:
            gate.check()
        return self._status(process)

    def _status(self, process: asyncssh.SSHClientProcess) -> ExitStatus:
        signal = process.exit_signal
        if signal is not None:
            return ExitStatus(code=None, signal=signal[0])
        code = process.exit_status
        if code is None:
            self.pool.discard(self.host)
            raise Unreachable(self.host.name, "connection lost while the command ran")
        return ExitStatus(code=code)

    async def _stop(
        self,
        conn: asyncssh.SSHClientConnection,
        process: asyncssh.SSHClientProcess,
        pgid: asyncio.Future[str],
        gate: SudoGate | None,
    ) -> None:
        """End the remote command: the SSH signal request (reaches the wrapper shell)
        plus a kill of its whole process group over a new channel; returns once the
        group is gone. Shielded so a second cancel cannot leave it half done."""
        stopping = asyncio.ensure_future(_kill_remote(conn, process, pgid, gate))
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(stopping)


async def _feed(process: asyncssh.SSHClientProcess, data: bytes) -> None:
    with contextlib.suppress(asyncssh.Error, OSError):
        process.stdin.write(data)
        await process.stdin.drain()
        process.stdin.write_eof()


async def _drive(
    process: asyncssh.SSHClientProcess,
    feed: Coroutine[Any, Any, None],
    on_line: LineCallback,
) -> None:
    """Feed stdin and stream both outputs until the channel closes."""
    await pump_outputs(feed, process.stdout.read, process.stderr.read, on_line, process.wait_closed)


async def _kill_remote(
    conn: asyncssh.SSHClientConnection,
    process: asyncssh.SSHClientProcess,
    pgid: asyncio.Future[str],
    gate: SudoGate | None,
) -> None:
    """The kill runs as the user the command runs as (through sudo when it became)."""
    with contextlib.suppress(asyncssh.Error, OSError):
        process.send_signal("TERM")
    try:
        target = await asyncio.wait_for(asyncio.shield(pgid), MARKER_WAIT)
    except TimeoutError:
        target = None
    if target is not None:
        with contextlib.suppress(asyncssh.Error, OSError, TimeoutError):
            script = remote_shell.kill_script(target)
            command, stdin = gate.kill_command(script) if gate else (script, b"")
            await conn.run(command, input=stdin, encoding=None, timeout=KILL_WAIT)
    process.close()
