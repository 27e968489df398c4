"""One command of the WS-Management test server: a process whose output is buffered
for Receive, or an answer the server computes itself (a transport script, a recording).

The transport scripts are those of `console/transports/winrm_scripts.py`, recognised
by their `# opsconsole-transport: NAME` line and carried out here on the server's "C:"
root folder, as PowerShell would on Windows:

- `make-workdir`: a new folder `C:\\Users\\USER\\AppData\\Local\\Temp\\opsconsole.HEX`
  (`$env:TEMP`), whose Windows path is printed;
- `upload-chunk` (`$path`, `$data` base64, `$first`, `$last`): the first chunk creates
  `PATH.opsconsole-tmp`, the others append, the last renames it to PATH;
- `remove-workdir` (`$dir`): removes that folder and everything in it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import signal
import uuid

from tests.windows.fake_powershell import Plan, WindowsPaths, clixml, plan_for

KILL_GRACE = 2.0
BASE_ENV = ("PATH", "LANG", "LC_ALL", "HOME")


class Command:
    """A command's process (or canned answer) and its not yet received output."""

    def __init__(self, line: str, paths: WindowsPaths, env: dict[str, str], user: str) -> None:
        self.line = line
        self.paths = paths
        self.env = env
        self.user = user
        self.code: int | None = None
        self._out = bytearray()
        self._err = bytearray()
        self._held_err = bytearray()  # fake PowerShell's stderr, sent as CLIXML at the end
        self._changed = asyncio.Event()
        self._process: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._clixml = False

    async def start(self) -> None:
        try:
            plan = plan_for(self.line, self.paths)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            self._finish(b"", f"the command cannot run: {exc}\n".encode(), 1)
            return
        if plan.template is not None:
            self._finish(*self._template(*plan.template))
        elif plan.canned is not None:
            self._finish(*plan.canned)
        else:
            await self._spawn(plan)

    async def _spawn(self, plan: Plan) -> None:
        env = {name: os.environ[name] for name in BASE_ENV if name in os.environ}
        self._clixml = plan.clixml
        self._process = await asyncio.create_subprocess_exec(
            *plan.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=self.paths.root,
            env={**env, **self.env},
            start_new_session=True,
        )
        if plan.script is not None:
            await self.feed(plan.script, end=True)
        assert self._process.stdout and self._process.stderr
        self._readers = [
            asyncio.ensure_future(self._read(self._process.stdout, self._out)),
            asyncio.ensure_future(
                self._read(self._process.stderr, self._held_err if plan.clixml else self._err)
            ),
        ]
        self._readers.append(asyncio.ensure_future(self._wait()))

    async def _read(self, pipe: asyncio.StreamReader, into: bytearray) -> None:
        while chunk := await pipe.read(65536):
            into += chunk
            self._changed.set()

    async def _wait(self) -> None:
        assert self._process is not None
        await asyncio.gather(*self._readers[:2], return_exceptions=True)
        code = await self._process.wait()
        if self._clixml:
            self._err += clixml(bytes(self._held_err))
        self.code = code if code >= 0 else 1
        self._changed.set()

    def _finish(self, out: bytes, err: bytes, code: int) -> None:
        self._out += out
        self._err += err
        self.code = code
        self._changed.set()

    async def feed(self, data: bytes, end: bool) -> None:
        """stdin (a Send): written to the process; `end` closes it."""
        if self._process is None or self._process.stdin is None:
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._process.stdin.write(data)
            await self._process.stdin.drain()
            if end:
                self._process.stdin.close()

    async def wait_output(self, timeout: float) -> bool:
        """True once there is output to send or the command ended, False after
        `timeout` seconds without either (the operation-timeout fault)."""
        while not (self._out or self._err or self.code is not None):
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout)
            except TimeoutError:
                return False
        return True

    def take(self, limit: int) -> tuple[bytes, bytes, int | None]:
        """Up to `limit` bytes of output; the exit code once all output is taken."""
        out = bytes(self._out[:limit])
        del self._out[:limit]
        err = bytes(self._err[: limit - len(out)])
        del self._err[: len(err)]
        done = self.code is not None and not self._out and not self._err
        return out, err, self.code if done else None

    async def terminate(self) -> None:
        """The Signal (terminate, ctrl_c) and the shell's Delete: the process group
        is ended, TERM then KILL."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                await asyncio.wait_for(process.wait(), KILL_GRACE)
                return
            except TimeoutError:
                continue

    # -- the transport's own scripts ---------------------------------------------------

    def _template(self, name: str, values: dict[str, str]) -> tuple[bytes, bytes, int]:
        try:
            if name == "make-workdir":
                return self._make_workdir(), b"", 0
            if name == "remove-workdir":
                shutil.rmtree(self.paths.local(values["dir"]), ignore_errors=True)
                return b"", b"", 0
            if name == "upload-chunk":
                self._upload_chunk(values)
                return b"", b"", 0
        except (KeyError, OSError, ValueError) as exc:
            return b"", f"{name} failed: {exc}\r\n".encode(), 1
        return b"", f"the test server knows no transport script {name!r}\r\n".encode(), 1

    def _make_workdir(self) -> bytes:
        temp = self.paths.root / "Users" / self.user / "AppData" / "Local" / "Temp"
        folder = temp / f"opsconsole.{uuid.uuid4().hex}"
        folder.mkdir(parents=True, mode=0o700)
        return (self.paths.windows(folder) + "\r\n").encode()

    def _upload_chunk(self, values: dict[str, str]) -> None:
        target = self.paths.local(values["path"])
        tmp = target.with_name(target.name + ".opsconsole-tmp")
        with open(tmp, "wb" if values["first"] == "true" else "ab") as out:
            out.write(base64.b64decode(values["data"]))
        if values["last"] == "true":
            os.replace(tmp, target)
