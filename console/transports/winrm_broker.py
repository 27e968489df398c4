"""The WinRM helper process: pywinrm's calls, out of the console's process.

pywinrm blocks and does CPU work in Python (NTLM, message encryption, XML, the HTTP
session). Run in threads of the console's process, 50 hosts at once held the GIL for
about 1 s of CPU per job, and the event loop waited for it (measured: 0.5 s of GIL
waits in a 3.5 s job, key presses up to 300-600 ms; bench/windows/README.md). Here
those threads run in a process of their own, which the console starts on first use
(`console.transports.winrm_remote`) and which ends when its stdin closes (the
console ended).

The protocol is one JSON object a line. On stdin:
`{"op": "session", "session": N, "host": NAME, "settings": {WinRMSettings fields}}`
creates a session (inline, before any later line is read), then
`{"id": I, "session": N, "op": OP, "args": [...]}` calls `WinRMSession.OP(*args)` in a
thread; `close` also forgets the session. On stdout, one answer per call:
`{"id": I, "result": ...}` or `{"id": I, "error": {"type": CLASS, "message": TEXT}}`,
CLASS a `HostError` of `console.errors`. Bytes travel as base64 (`send`'s data,
`receive`'s output).
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import json
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO

from console.errors import HostError
from console.transports.winrm_session import WinRMSession, WinRMSettings

CALLS = ("open_shell", "start", "send", "receive", "signal_terminate", "close")
# Out of the console's process, the helper's CPU work (about 1 s per 50-host job)
# still competes with the event loop for the machine's cores. A lower priority asks
# the kernel to run the loop's thread first when both want a core. Its effect did not
# show in bench/windows at load 2.5 to 3 (the loop's waits for a core per 50-host job:
# 0.2 to 1.1 s at nice 0, 0.3 to 1.6 s at nice 10, 6 jobs each; nor the job's length).
NICENESS = 10


def encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def decode(text: str) -> bytes:
    return base64.b64decode(text)


class Broker:
    """Holds the sessions and answers calls on them, each in a thread."""

    def __init__(self, answers: BinaryIO, threads: int) -> None:
        self._answers = answers
        self._writing = threading.Lock()
        self._sessions: dict[int, WinRMSession] = {}
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="winrm")

    def handle(self, request: dict[str, Any]) -> None:
        """One line read from the console; never blocks on the network."""
        number = int(request["session"])
        if request["op"] == "session":
            settings = WinRMSettings(**request["settings"])
            self._sessions[number] = WinRMSession(str(request["host"]), settings)
            return
        self._threads.submit(self._answer, int(request["id"]), number, request)

    def _answer(self, call_id: int, number: int, request: dict[str, Any]) -> None:
        session = self._sessions[number]
        try:
            answer: dict[str, Any] = {"id": call_id, "result": self._call(session, request)}
        except HostError as exc:
            error = {"type": type(exc).__name__, "message": exc.detail}
            answer = {"id": call_id, "error": error}
        except Exception as exc:  # a bug here must not leave the console waiting
            error = {"type": "HostError", "message": f"WinRM helper error: {exc!r}"}
            answer = {"id": call_id, "error": error}
        if request["op"] == "close":
            self._sessions.pop(number, None)
        line = json.dumps(answer).encode() + b"\n"
        with self._writing:
            self._answers.write(line)
            self._answers.flush()

    def _call(self, session: WinRMSession, request: dict[str, Any]) -> Any:
        op, args = request["op"], request["args"]
        if op not in CALLS:
            raise ValueError(f"unknown call {op!r}")
        if op == "send":
            args = [args[0], args[1], decode(args[2])]
        method: Callable[..., Any] = getattr(session, op)
        result = method(*args)
        if op == "receive":
            out, err, code = result
            return [encode(out), encode(err), code]
        return result


def main() -> None:
    """Serve the console on stdin/stdout until stdin closes, then end at once (threads
    blocked in a Receive are not waited for: the console is gone). The one argument
    is the number of threads (the console's `DEFAULT_MAX_COMMANDS`: this module does
    not import the transport pool, so that the helper starts fast)."""
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    # pywinrm (and requests, pyspnego, cryptography under it) loaded once, now, rather
    # than by the first calls' threads at once, each waiting on the import lock.
    importlib.import_module("winrm.protocol")
    # The answers get a descriptor of their own; descriptor 1 becomes stderr, so that
    # nothing else written to stdout (a print, a C library) corrupts the protocol.
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    broker = Broker(answers, int(sys.argv[1]))
    for line in sys.stdin.buffer:
        broker.handle(json.loads(line))
    os._exit(0)


if __name__ == "__main__":
    main()
