"""Running commands on the console's own machine (`ansible_connection: local`).

Same semantics as SSH: `/bin/sh -c COMMAND`, output line by line, the environment
passed through `execve` (never on the command line; `/proc/PID/environ` is readable
only by the same user), and the command started in its own session so a timeout or a
cancel kills its whole process group, children included.

A command starts from a clean environment, as sudo's `env_reset` and systemd services
do: PATH, HOME, LANG, LC_ALL, TZ, USER and LOGNAME from the engine, then the variables
the caller passes. Nothing else of the engine's environment (`OPSCONSOLE_SECRET_KEY`,
tokens an operator exported, the engine's settings) reaches a job, just as an SSH host
never sees them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import tempfile
from collections.abc import Mapping
from pathlib import Path

from console.errors import Cancelled, HostError, TimedOut
from console.inventory.model import Host
from console.transports.base import ExitStatus, LineCallback, Transport
from console.transports.streams import pump_outputs

KILL_GRACE = 2.0
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME")


class LocalTransport(Transport):
    """Commands as subprocesses of the console itself; uploads as file writes.

    `workdirs` is the folder the work folders of host runs go in; None for the
    system's temporary folder (a worker, a test)."""

    def __init__(self, host: Host, workdirs: Path | None = None) -> None:
        super().__init__(host)
        self._workdirs = workdirs

    async def make_workdir(self) -> str:
        # No shell needed on this machine: two process spawns fewer per job.
        return tempfile.mkdtemp(prefix="opsconsole.", dir=self._workdirs)

    async def remove_workdir(self, path: str) -> None:
        await asyncio.to_thread(shutil.rmtree, path, True)

    async def run(
        self,
        command: str,
        *,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        on_line: LineCallback | None = None,
    ) -> ExitStatus:
        try:
            process = await asyncio.create_subprocess_exec(
                "/bin/sh",
                "-c",
                command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=clean_environment(env),
                start_new_session=True,
            )
        except OSError as exc:  # E2BIG, ENOMEM, EAGAIN: this host run fails, not the job
            raise HostError(self.host.name, f"cannot start /bin/sh: {exc.strerror}") from exc
        try:
            async with asyncio.timeout(timeout):
                await _drive(process, stdin or b"", on_line)
        except TimeoutError:
            await _kill_group(process)
            raise TimedOut(
                self.host.name, f"command still running after {timeout:g} s; it was stopped"
            ) from None
        except asyncio.CancelledError:
            await asyncio.shield(_kill_group(process))
            raise Cancelled(self.host.name, "cancelled; the command was stopped") from None
        code = process.returncode
        assert code is not None
        if code < 0:
            return ExitStatus(code=None, signal=signal.Signals(-code).name.removeprefix("SIG"))
        return ExitStatus(code=code)

    async def upload(self, data: bytes, remote_path: str, mode: int = 0o600) -> None:
        """Written to a private temp file, then renamed into place."""
        target = Path(remote_path)
        tmp = target.with_name(f".{target.name}.opsconsole-tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.chmod(tmp, mode)
            os.replace(tmp, target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise HostError(self.host.name, f"upload to {remote_path} failed: {exc}") from exc

    async def close(self) -> None:
        """Nothing to release: every command is its own process."""


def clean_environment(variables: Mapping[str, str] | None) -> dict[str, str]:
    """The environment of a local command: the `INHERITED` variables of the engine
    (HOME, USER and LOGNAME from the password database when the engine lacks them, as
    under a bare systemd unit), then `variables`."""
    env = {name: os.environ[name] for name in INHERITED if name in os.environ}
    env.setdefault("PATH", os.defpath)
    if not {"HOME", "USER", "LOGNAME"} <= env.keys():
        with contextlib.suppress(KeyError):
            account = pwd.getpwuid(os.getuid())
            env.setdefault("HOME", account.pw_dir)
            env.setdefault("USER", account.pw_name)
            env.setdefault("LOGNAME", account.pw_name)
    return {**env, **(variables or {})}


async def _drive(
    process: asyncio.subprocess.Process, data: bytes, on_line: LineCallback | None
) -> None:
    assert process.stdin and process.stdout and process.stderr

    async def feed() -> None:
        assert process.stdin
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            process.stdin.write(data)
            await process.stdin.drain()
        process.stdin.close()

    await pump_outputs(feed(), process.stdout.read, process.stderr.read, on_line, process.wait)


async def _kill_group(process: asyncio.subprocess.Process) -> None:
    """TERM the command's process group, KILL it after a grace period, reap it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            await asyncio.wait_for(process.wait(), KILL_GRACE)
        except TimeoutError:
            continue
        # The leader is gone; children that ignored TERM may still hold the group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        return
