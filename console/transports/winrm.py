"""Running commands on Windows hosts over WinRM (`ansible_connection: winrm`), with pywinrm.

pywinrm blocks and does CPU work in Python, so its calls run in a helper process
(`winrm_broker`, reached through `winrm_remote`), in threads there, never in the
console's process where they would take the GIL from the event loop; the pool's
`forks` slots bound commands in flight as for SSH. A run is one pywinrm session (its
own HTTP connection and authentication) and one shell: the environment goes in the
shell's Create request, never on a command line. Output is read in Receive rounds
and handed on line by line as each round returns; PowerShell's CLIXML error stream
is decoded to text (`console.transports.clixml`).

A timeout or a cancel signals `terminate` to the command and deletes its shell over
a second session (the first may be blocked in a Receive for up to the operation
timeout), so the remote process is gone when `run` raises, as with SSH.

Uploads and the workdir use the PowerShell scripts of `winrm_scripts`: a private
folder under the user's `$env:TEMP` (Windows makes it readable by the user only, so
the POSIX `mode` of an upload is not applied), files written in base64 chunks.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Mapping
from dataclasses import dataclass

from console.errors import Cancelled, HostError, TimedOut, Unreachable
from console.inventory.model import Host
from console.transports import winrm_scripts
from console.transports.base import ExitStatus, LineCallback, StreamName, Transport
from console.transports.clixml import ClixmlDecoder
from console.transports.pool import TransportPool
from console.transports.streams import LineSplitter
from console.transports.winrm_remote import RemoteSession
from console.transports.winrm_session import WinRMSettings

# Connection set-ups (NTLM, building the HTTP session, the Create) are the CPU-heavy
# part of a run. When they ran in the console's own threads, 8 at a time kept the
# loop's largest delay at 49 ms against 130 ms with no limit (50 hosts, 1.7 s against
# 1.6 s in all). In the helper process they no longer take the console's GIL; the
# limit stays so that a burst of set-ups takes at most this many threads' worth of CPU
# from the 2 cores the console shares. A host that does not answer fails the TCP check
# of `connect` first, so it never holds one of these for long.
MAX_SETUPS = 8
_setup_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _setup_slot() -> asyncio.Semaphore:
    """The running loop's MAX_SETUPS slots (a semaphore belongs to one loop)."""
    loop = asyncio.get_running_loop()
    slot = _setup_slots.get(loop)
    if slot is None:
        slot = _setup_slots[loop] = asyncio.Semaphore(MAX_SETUPS)
    return slot


@dataclass
class _Remote:
    """What exists on the host so far, so a stop knows what to end."""

    shell: str | None = None
    command: str | None = None
    opening: bool = False  # a helper thread is opening the shell (and owns the session)


async def _open_shell(session: RemoteSession, remote: _Remote, env: dict[str, str]) -> None:
    """`session.open_shell`. The helper's thread cannot be stopped: when the caller
    gives up first (timeout, cancel), the session is left to that thread, and the shell
    it opens is deleted once it is open."""
    opening = session.open_shell(env)
    remote.opening = True
    try:
        remote.shell = await asyncio.shield(opening)
    except asyncio.CancelledError:
        opening.add_done_callback(lambda done: _close_late(session, done))
        raise
    except BaseException:
        remote.opening = False
        raise
    remote.opening = False


def _close_late(session: RemoteSession, opened: asyncio.Future[str]) -> None:
    failed = opened.cancelled() or opened.exception() is not None
    session.close_soon(None if failed else opened.result())


class _Output:
    """One command's stdout and stderr as lines, CLIXML decoded."""

    def __init__(self, on_line: LineCallback | None) -> None:
        self._on_line = on_line
        self._splitters: dict[StreamName, LineSplitter] = {
            "stdout": LineSplitter(),
            "stderr": LineSplitter(),
        }
        self._clixml = ClixmlDecoder()

    def feed(self, out: bytes, err: bytes) -> None:
        self._emit("stdout", self._splitters["stdout"].feed(out))
        self._emit("stderr", self._splitters["stderr"].feed(self._clixml.feed(err)))

    def flush(self) -> None:
        err = self._splitters["stderr"]
        self._emit("stderr", err.feed(self._clixml.flush()))
        for name, splitter in self._splitters.items():
            rest = splitter.flush()
            if rest:
                self._emit(name, [rest])

    def _emit(self, stream: StreamName, lines: list[bytes]) -> None:
        if self._on_line is not None:
            for line in lines:
                self._on_line(stream, line)


class WinRMTransport(Transport):
    """Commands, uploads and workdirs on one Windows host."""

    def __init__(self, host: Host, pool: TransportPool) -> None:
        super().__init__(host)
        self.pool = pool
        self._answered = False

    def settings(self) -> WinRMSettings:
        return WinRMSettings.from_host(self.host, self.pool.assets)

    async def run(
        self,
        command: str,
        *,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        on_line: LineCallback | None = None,
    ) -> ExitStatus:
        """`command` is a Windows command line (see `winrm_scripts.powershell_command`
        for PowerShell). `timeout` bounds connecting and running."""
        return await self._in_shell([command], stdin, env, timeout, on_line)

    async def connect(self) -> None:
        """A TCP connect to the WinRM listener within the pool's connect timeout (once
        per transport), so a host that does not answer fails fast, as over SSH, and
        never waits for or holds a set-up slot."""
        if self._answered:
            return
        endpoint, limit = self.settings().endpoint, self.pool.connect_timeout
        try:
            async with asyncio.timeout(limit):
                _, writer = await asyncio.open_connection(self.host.address, self.host.port)
        except TimeoutError:
            raise Unreachable(
                self.host.name,
                f"no answer from {endpoint} within {limit:g} s "
                "(host down, firewalled, or wrong address/port?)",
            ) from None
        except OSError as exc:
            raise Unreachable(
                self.host.name, f"cannot connect to {endpoint}: {exc.strerror or exc}"
            ) from None
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        self._answered = True

    async def upload(self, data: bytes, remote_path: str, mode: int = 0o600) -> None:
        """In chunks (a command line holds ~8 KB), all in one shell."""
        try:
            scripts = winrm_scripts.upload_scripts(data, remote_path)
        except ValueError as exc:
            raise HostError(self.host.name, str(exc)) from None
        errors: list[bytes] = []
        commands = [winrm_scripts.powershell_command(s) for s in scripts]
        status = await self._in_shell(commands, None, None, None, lambda s, ln: errors.append(ln))
        if not status.ok:
            message = b"".join(errors).decode(errors="replace").strip()
            raise HostError(self.host.name, f"upload to {remote_path} failed: {message or status}")

    async def make_workdir(self) -> str:
        """A new folder under the login's `$env:TEMP`."""
        lines: list[bytes] = []
        command = winrm_scripts.powershell_command(winrm_scripts.MAKE_WORKDIR)
        status = await self.run(command, timeout=60, on_line=lambda s, ln: lines.append(ln))
        path = b"".join(lines).decode(errors="replace").strip()
        if not status.ok or len(path) < 3 or path[1:3] != ":\\":
            raise HostError(self.host.name, f"could not create a temporary folder: {path}")
        return path

    async def remove_workdir(self, path: str) -> None:
        """Best effort, never raises."""
        script = winrm_scripts.remove_workdir(path)
        with contextlib.suppress(HostError, OSError):
            await self.run(winrm_scripts.powershell_command(script), timeout=60)

    async def close(self) -> None:
        """Nothing to release: every run has its own session."""

    async def _in_shell(
        self,
        commands: list[str],
        stdin: bytes | None,
        env: Mapping[str, str] | None,
        timeout: float | None,
        on_line: LineCallback | None,
    ) -> ExitStatus:
        """Run `commands` one after the other in one new shell, up to the first that
        fails; the status of the last one run."""
        session = RemoteSession(self.host.name, self.settings())
        remote = _Remote()
        try:
            async with asyncio.timeout(timeout):
                await self.connect()
                async with _setup_slot():
                    await _open_shell(session, remote, dict(env or {}))
                async with self.pool.command_slot():
                    status = ExitStatus(code=0)
                    for command in commands:
                        status = await self._one(session, remote, command, stdin, on_line)
                        if not status.ok:
                            break
                    return status
        except TimeoutError:
            await self._stop(remote)
            what = "command still running" if remote.command else "no answer"
            raise TimedOut(
                self.host.name, f"{what} after {timeout:g} s; it was stopped on the host"
            ) from None
        except asyncio.CancelledError:
            await self._stop(remote)
            raise Cancelled(
                self.host.name, "cancelled; the command was stopped on the host"
            ) from None
        except HostError:
            await self._stop(remote)
            raise
        finally:
            if remote.shell is not None:  # ended normally: delete the shell, then disconnect
                await session.close(remote.shell)
            elif not remote.opening:
                session.close_soon(None)

    async def _one(
        self,
        session: RemoteSession,
        remote: _Remote,
        command: str,
        stdin: bytes | None,
        on_line: LineCallback | None,
    ) -> ExitStatus:
        assert remote.shell is not None
        shell = remote.shell
        remote.command = await session.start(shell, command)
        if stdin:
            await session.send(shell, remote.command, stdin)
        output = _Output(on_line)
        code: int | None = None
        while code is None:
            out, err, code = await session.receive(shell, remote.command)
            output.feed(out, err)
        output.flush()
        await session.signal_terminate(shell, remote.command)
        remote.command = None
        return ExitStatus(code=code)

    async def _stop(self, remote: _Remote) -> None:
        """End what runs on the host over a new session (the run's own may be blocked
        in a Receive); shielded so a second cancel cannot leave it half done."""
        if remote.shell is None:
            return
        stopper = RemoteSession(self.host.name, self.settings())

        async def stop() -> None:
            with contextlib.suppress(HostError):
                if remote.command is not None:
                    await stopper.signal_terminate(remote.shell or "", remote.command)
            await stopper.close(remote.shell)

        stopping = asyncio.ensure_future(stop())
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(stopping)
        remote.shell = None
