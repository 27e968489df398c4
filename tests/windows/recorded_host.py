"""A stand-in Windows host for the collector and Windows Update tests: it answers
`powershell ... -EncodedCommand X` with the recording (tests/windows/recordings) that
the decoded script's `# opsconsole-collector: NAME` line names, as the WS-Management
test server does over real WinRM; any other command fails as cmd.exe would. It keeps
what is uploaded and which workdirs were made and removed. It proves the dispatch to
the PowerShell collectors and the command line's encoding, without a network.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path

from console.inventory.model import Host
from console.transports.base import ExitStatus, LineCallback, Transport
from console.windows.powershell import POWERSHELL, script_name

RECORDINGS = Path(__file__).parent / "recordings"


class RecordedWindowsHost(Transport):
    """Answers `powershell ... -EncodedCommand X` with the recording its marker names,
    as the WS-Management test server does; anything else fails as cmd.exe would.
    `answers` replaces recordings by name: one output, or a list given one per run
    (the last one again once the list is used up), for a host that changes."""

    def __init__(
        self, host: Host, answers: Mapping[str, bytes | list[bytes]] | None = None
    ) -> None:
        super().__init__(host)
        self.answers = dict(answers or {})
        self.scripts: list[str] = []
        self.uploads: dict[str, bytes] = {}  # Windows path -> content
        self.workdirs: list[str] = []  # made, in order
        self.removed: list[str] = []  # workdirs removed, in order

    async def run(
        self,
        command: str,
        *,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        on_line: LineCallback | None = None,
    ) -> ExitStatus:
        if not command.startswith(POWERSHELL):
            if on_line:
                on_line("stderr", b"'sh' is not recognized as an internal or external command\n")
            return ExitStatus(1)
        script = base64.b64decode(command[len(POWERSHELL) :]).decode("utf-16-le")
        self.scripts.append(script)
        name = script_name(script)
        output = self._answer(name)
        if on_line:
            for line in output.splitlines(keepends=True):
                on_line("stdout", line)
        return ExitStatus(0)

    def _answer(self, name: str) -> bytes:
        answer = self.answers.get(name)
        if answer is None:
            return (RECORDINGS / f"{name}.json").read_bytes()
        if isinstance(answer, bytes):
            return answer
        return answer.pop(0) if len(answer) > 1 else answer[0]

    async def make_workdir(self) -> str:
        self.workdirs.append(
            f"C:\\Users\\ops\\AppData\\Local\\Temp\\opsconsole.{len(self.workdirs)}"
        )
        return self.workdirs[-1]

    async def upload(self, data: bytes, remote_path: str, mode: int = 0o600) -> None:
        self.uploads[remote_path] = data

    async def remove_workdir(self, path: str) -> None:
        self.removed.append(path)

    async def close(self) -> None:
        return None
