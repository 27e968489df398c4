"""The console's side of the WinRM helper process (`console.transports.winrm_broker`).

One helper per console process, started on first use and again after it ended. The
calls of a run's session go to it as JSON lines and come back as futures of the
caller's event loop: no pywinrm thread runs in the console's process, so none takes
the GIL from the event loop. One thread here reads the answers (a line, `json.loads`,
a hand-over to the loop), the only Python work the console does per WinRM call.

If the helper ends (killed, crashed), the calls waiting for it fail with
`WinRMHelperLost` for their host; runs on other transports go on, and the next WinRM
run starts a new helper.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import console
from console import errors
from console.errors import HostError, WinRMHelperLost
from console.transports.pool import DEFAULT_MAX_COMMANDS
from console.transports.winrm_broker import decode, encode
from console.transports.winrm_session import WinRMSettings

_STARTING = threading.Lock()
_helper: Helper | None = None
_session_numbers = itertools.count(1)


@dataclass
class _Waiting:
    """A call sent to the helper; `future` is None when nobody waits for the answer."""

    loop: asyncio.AbstractEventLoop | None
    future: asyncio.Future[Any] | None
    host: str


class Helper:
    """One running helper process and the calls waiting for its answers."""

    def __init__(self) -> None:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the helper)
        # A session of its own: a Ctrl-C in the console's terminal is the console's to
        # handle; the helper ends when its stdin closes.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "console.transports.winrm_broker", str(DEFAULT_MAX_COMMANDS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            start_new_session=True,
            env=_same_code(),
        )
        self.ended = False
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._waiting: dict[int, _Waiting] = {}
        threading.Thread(target=self._read, name="winrm-helper", daemon=True).start()

    def open(self, number: int, host: str, settings: WinRMSettings) -> None:
        """Create session `number` in the helper (a call needs no answer)."""
        request = {
            "op": "session",
            "session": number,
            "host": host,
            "settings": dataclasses.asdict(settings),
        }
        with self._lock:
            self._send(request, host)

    def call(self, host: str, number: int, op: str, args: list[Any]) -> asyncio.Future[Any]:
        """Session `number`'s `op(*args)` in the helper; a future of the running loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._post(_Waiting(loop, future, host), number, op, args)
        return future

    def post(self, host: str, number: int, op: str, args: list[Any]) -> None:
        """As `call`, without waiting for the answer (best effort)."""
        with contextlib.suppress(HostError):
            self._post(_Waiting(None, None, host), number, op, args)

    def _post(self, waiting: _Waiting, number: int, op: str, args: list[Any]) -> None:
        with self._lock:
            call_id = next(self._ids)
            self._waiting[call_id] = waiting
            try:
                self._send({"id": call_id, "session": number, "op": op, "args": args}, waiting.host)
            except HostError:
                del self._waiting[call_id]
                raise

    def _send(self, request: dict[str, Any], host: str) -> None:
        """Write one line (under the lock); a helper gone is WinRMHelperLost."""
        stdin = self.process.stdin
        if self.ended or stdin is None:
            raise WinRMHelperLost(host, self._why_ended())
        try:
            stdin.write(json.dumps(request).encode() + b"\n")
            stdin.flush()
        except (OSError, ValueError):  # a broken pipe, or a pipe already closed
            raise WinRMHelperLost(host, self._why_ended()) from None

    def _read(self) -> None:
        """The reading thread: hand each answer to its caller's loop, then, when the
        helper's stdout ends, fail every call still waiting."""
        stdout = self.process.stdout
        assert stdout is not None
        for line in stdout:
            try:
                answer = json.loads(line)
                call_id = int(answer["id"])
            except (ValueError, KeyError, TypeError):  # not an answer (a bug): skipped
                continue
            with self._lock:
                waiting = self._waiting.pop(call_id, None)
            if waiting is not None and waiting.future is not None:
                _hand_over(waiting, _settle, waiting.future, answer, waiting.host)
        self.process.wait()
        with self._lock:
            self.ended = True
            left, self._waiting = self._waiting, {}
        reason = self._why_ended()
        for waiting in left.values():
            if waiting.future is not None:
                lost = WinRMHelperLost(waiting.host, reason)
                _hand_over(waiting, _fail, waiting.future, lost)

    def _why_ended(self) -> str:
        code = self.process.poll()
        status = "is ending" if code is None else f"ended with exit code {code}"
        return (
            f"the WinRM helper process {status}{self._last_error()}; the next run starts a new one"
        )

    def _last_error(self) -> str:
        """The last line the helper wrote on stderr (a traceback's last line), if any."""
        with contextlib.suppress(OSError):
            self._stderr.seek(0)
            lines = self._stderr.read().decode(errors="replace").strip().splitlines()
            if lines:
                return f" ({lines[-1]})"
        return ""

    def stop(self) -> None:
        """End the helper now (tests: a helper that dies)."""
        self.process.kill()


def _same_code() -> dict[str, str]:
    """The environment, with the folder this process imports `console` from first on
    PYTHONPATH: the helper runs the same code (a checkout run in place, not only the
    installed package)."""
    home = str(Path(console.__file__).resolve().parents[1])
    paths = [home, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def helper() -> Helper:
    """The running helper, started on first use and after one ended."""
    global _helper
    with _STARTING:
        if _helper is None or _helper.ended:
            _helper = Helper()
        return _helper


def _hand_over(waiting: _Waiting, settle: Any, *args: Any) -> None:
    assert waiting.loop is not None
    with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
        waiting.loop.call_soon_threadsafe(settle, *args)


def _settle(future: asyncio.Future[Any], answer: dict[str, Any], host: str) -> None:
    if future.done():  # the caller gave up (timeout, cancel)
        return
    error = answer.get("error")
    if error is None:
        future.set_result(answer["result"])
    else:
        future.set_exception(_rebuilt(error["type"], host, error["message"]))


def _fail(future: asyncio.Future[Any], error: HostError) -> None:
    if not future.done():
        future.set_exception(error)


def _rebuilt(name: str, host: str, message: str) -> HostError:
    """The `HostError` the helper raised, by its class name in `console.errors`."""
    kind = getattr(errors, name, HostError)
    if not (isinstance(kind, type) and issubclass(kind, HostError)):
        kind = HostError
    error = kind.__new__(kind)
    HostError.__init__(error, host, message)
    return error


class RemoteSession:
    """`WinRMSession`'s calls, run by the helper; awaitable from the event loop."""

    def __init__(self, host_name: str, settings: WinRMSettings) -> None:
        self.host_name = host_name
        self.settings = settings
        self._helper: Helper | None = None
        self._number = next(_session_numbers)

    def open_shell(self, env: Mapping[str, str]) -> asyncio.Future[str]:
        """A future (not a coroutine: the caller may shield it and still see its
        result after giving up) of the new shell's id."""
        return self._call("open_shell", [dict(env)])

    async def start(self, shell_id: str, command: str) -> str:
        return str(await self._call("start", [shell_id, command]))

    async def send(self, shell_id: str, command_id: str, data: bytes) -> None:
        await self._call("send", [shell_id, command_id, encode(data)])

    async def receive(self, shell_id: str, command_id: str) -> tuple[bytes, bytes, int | None]:
        out, err, code = await self._call("receive", [shell_id, command_id])
        return decode(out), decode(err), code

    async def signal_terminate(self, shell_id: str, command_id: str) -> None:
        await self._call("signal_terminate", [shell_id, command_id])

    async def close(self, shell_id: str | None) -> None:
        """Delete the shell and the connection; best effort, never raises."""
        if self._helper is not None:
            with contextlib.suppress(HostError):
                await self._call("close", [shell_id])

    def close_soon(self, shell_id: str | None) -> None:
        """As `close`, without waiting (from a callback, or for a session a thread of
        the helper may still be using)."""
        if self._helper is not None and not self._helper.ended:
            self._helper.post(self.host_name, self._number, "close", [shell_id])

    def _call(self, op: str, args: list[Any]) -> asyncio.Future[Any]:
        if self._helper is None:
            self._helper = helper()
            self._helper.open(self._number, self.host_name, self.settings)
        return self._helper.call(self.host_name, self._number, op, args)
