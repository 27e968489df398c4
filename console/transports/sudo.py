"""The controller's side of a command run through sudo (`ansible_become`).

sudo reads its password from the same stdin that then carries the env block and the
command's own input, and after a wrong password it would read the next line as the
next attempt, and wait. So nothing is sent ahead: sudo's prompt is a marker line
(`remote_shell.BECOME_WRAPPER`), the password goes out only when sudo asks for it, a
second prompt means it was wrong and stdin is closed at once (sudo then fails after its
own delay instead of waiting), and the env block goes out only once the command
reports it runs as the become user. The password therefore never reaches anything but
sudo, and a wrong one can never be taken for the env block or the reverse.
"""

from __future__ import annotations

import asyncio
import contextlib

from console.errors import AuthenticationFailed, HostError
from console.ssh_library import asyncssh
from console.transports import remote_shell
from console.transports.base import StreamName
from console.transports.login import Become


class SudoGate:
    """Answers sudo's prompt and holds the env block back until the command runs."""

    def __init__(self, host: str, become: Become, nonce: str) -> None:
        self.host = host
        self.become = become
        self.nonce = nonce
        self._prompt = remote_shell.sudo_prompt(nonce)
        self._became = remote_shell.became(nonce)
        self._prompts = 0
        self._running = asyncio.Event()
        self._said: list[bytes] = []  # sudo's own messages, before the command runs

    def command(self, command: str) -> str:
        """The remote command line: `command` as the become user."""
        return remote_shell.wrap_become(
            command, self.nonce, self.become.user, with_password=self.become.password is not None
        )

    def take(self, process: asyncssh.SSHClientProcess, stream: StreamName, line: bytes) -> bool:
        """Whether `line` was sudo's or the gate's (and so is not the command's output)."""
        if self._running.is_set() or stream != "stderr":
            return False
        if line == self._became:
            self._running.set()
        elif line == self._prompt:
            self._prompts += 1
            self._answer(process)
        else:
            self._said.append(line)
        return True

    def _answer(self, process: asyncssh.SSHClientProcess) -> None:
        with contextlib.suppress(asyncssh.Error, OSError):
            if self._prompts == 1 and self.become.password is not None:
                process.stdin.write(self.become.password.encode() + b"\n")
            else:  # asked again: the password was wrong; EOF ends sudo's retries
                process.stdin.write_eof()

    async def feed(self, process: asyncssh.SSHClientProcess, data: bytes) -> None:
        """Send the env block and stdin once the command runs as the become user."""
        await self._running.wait()
        with contextlib.suppress(asyncssh.Error, OSError):
            process.stdin.write(data)
            await process.stdin.drain()
            process.stdin.write_eof()

    def check(self) -> None:
        """After the channel closed: raise if the command never ran (sudo refused)."""
        if self._running.is_set():
            return
        if self._prompts > 1:
            raise AuthenticationFailed(
                self.host,
                f"sudo: incorrect password for become on {self.host} "
                f"(the password of credential {self.become.credential!r})",
            )
        said = b"".join(self._said).decode(errors="replace").strip() or "no message"
        hint = "" if self.become.password else " (no become password: console_become_credential)"
        raise HostError(self.host, f"become {self.become.user} with sudo failed: {said}{hint}")

    def kill_command(self, script: str) -> tuple[str, bytes]:
        """`script` (the kill) as the become user, whose processes it must signal, and
        the stdin that carries sudo's password."""
        password = self.become.password
        command = remote_shell.as_user(script, self.become.user, with_password=password is not None)
        return command, (password.encode() + b"\n") if password is not None else b""
