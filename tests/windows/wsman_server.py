"""A WS-Management test server: a stand-in for a Windows host's WinRM listener.

No Windows machine runs here. This is a real HTTP(S) endpoint at `/wsman` (aiohttp,
in a thread with its own event loop, so the console's loop under test never runs
it) speaking the WinRM shell operations pywinrm sends, as `winrm/protocol.py` builds
and parses them: Create (a shell, with its environment), Command, Send (stdin),
Receive (stdout/stderr base64 in `rsp:Stream`s, several rounds for long output,
`CommandState/Done` with the `ExitCode`; the WinRM operation-timeout fault when
nothing came within the request's OperationTimeout), Signal (terminate, ctrl_c) and
Delete.

Authentication: Basic, and NTLM (`WWW-Authenticate: Negotiate`, raw NTLM tokens as
requests_ntlm sends them) through pyspnego's acceptor, which reads the users from
the file named by `NTLM_USER_FILE` (set by `start()`, process-wide: servers of one
process share their users). An NTLM-authenticated connection stays authenticated.
Over plain HTTP, NTLM requests must use message encryption (`multipart/encrypted`,
the format of pywinrm's `winrm/encryption.py`) as a Windows host requires by default
(`AllowUnencrypted=false`); answers are wrapped likewise. Basic over HTTP is accepted
(as `AllowUnencrypted=true` would). HTTPS with a given certificate.

What a command does is decided by `tests/windows/fake_powershell.py`. Commands run
with the server's "C:" root folder as their working directory, output streamed back
as it comes. `Knobs` make the server misbehave for tests.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import socket
import ssl
import sys
import threading
import uuid
import weakref
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import spnego
from aiohttp import web

from tests.windows.commands import Command
from tests.windows.fake_powershell import WindowsPaths
from tests.windows.wsman_messages import (
    ENCRYPTED,
    NS,
    SHELL_NS,
    Fault,
    encrypted_response,
    envelope,
    fault_body,
    unwrap,
)

ACTION = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
TIMEOUT_FAULT = 2150858793
# At most this much output goes into one Receive answer (Windows sends ~ a few KB to
# hundreds of KB per answer): long output takes several rounds.
RECEIVE_LIMIT = 256 * 1024


@dataclass
class Knobs:
    """Misbehaviour on demand. `stall`: every request waits this long before it is
    answered. `drop_receives`: that many Receive requests drop their connection
    instead of answering (counted down)."""

    stall: float = 0.0
    drop_receives: int = 0


@dataclass
class Stats:
    """What the server saw, for tests to read."""

    shells_created: int = 0
    shells_deleted: int = 0
    signals: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)


@dataclass
class _Shell:
    env: dict[str, str]
    user: str
    commands: dict[str, Command] = field(default_factory=dict)


class WSManServer:
    """The WinRM listener of one fake Windows host. `users`: name -> password."""

    def __init__(
        self,
        root: Path,
        users: dict[str, str],
        *,
        tls: tuple[Path, Path] | None = None,
        auth: tuple[str, ...] = ("basic", "ntlm"),
    ) -> None:
        self.root = root
        self.users = users
        self.tls = tls
        self.auth = auth
        self.knobs = Knobs()
        self.stats = Stats()
        self.paths = WindowsPaths(root)
        self.port = 0
        self._shells: dict[str, _Shell] = {}
        self._ntlm: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/wsman"

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> WSManServer:
        self.root.mkdir(parents=True, exist_ok=True)
        users_file = self.root.parent / f"{self.root.name}-ntlm-users"
        users_file.write_text("".join(f":{u}:{p}\n" for u, p in self.users.items()))
        os.environ["NTLM_USER_FILE"] = str(users_file)
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(30) or not self.port:
            raise RuntimeError("the WS-Management test server did not start")
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)

    def _serve(self, ready: threading.Event) -> None:
        loop = self._loop = asyncio.new_event_loop()
        loop.run_until_complete(self._listen())
        ready.set()
        loop.run_forever()
        loop.close()

    async def _listen(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/wsman", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        context = None
        if self.tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*self.tls)
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        self.port = listener.getsockname()[1]
        await web.SockSite(self._runner, listener, ssl_context=context).start()

    async def _shutdown(self) -> None:
        for shell in self._shells.values():
            for command in shell.commands.values():
                await command.terminate()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- HTTP and authentication -----------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if self.knobs.stall:
            await asyncio.sleep(self.knobs.stall)
        if request.transport is None:  # the client hung up meanwhile
            return web.Response(status=400)
        user, challenge = self._authenticate(request)
        if user is None:
            return self._unauthorized(challenge)
        context = self._ntlm.get(request.transport) if "ntlm" in self.auth else None
        encrypted = context is not None and context.complete and not self.tls
        if encrypted:
            if ENCRYPTED not in request.headers.get("Content-Type", "") and body:
                return web.Response(status=400, text="NTLM over HTTP needs message encryption")
            body = unwrap(context, body) if body else b""
        if not body:
            return web.Response(status=200)
        try:
            status, answer = 200, await self._dispatch(ET.fromstring(body), user, request)
        except Fault as fault:
            status, answer = 500, fault_body(fault)
        if encrypted:
            return encrypted_response(context, status, answer)
        return web.Response(status=status, body=answer, content_type="application/soap+xml")

    def _authenticate(self, request: web.Request) -> tuple[str | None, str | None]:
        """(user, None) when authenticated; (None, challenge token) otherwise."""
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "basic" and "basic" in self.auth:
            name, _, password = base64.b64decode(token).decode().partition(":")
            return (name, None) if self.users.get(name) == password else (None, None)
        if scheme.lower() in ("negotiate", "ntlm") and "ntlm" in self.auth:
            return self._ntlm_step(request, base64.b64decode(token))
        context = self._ntlm.get(request.transport)
        if context is not None and context.complete:
            return str(context.client_principal), None
        return None, None

    def _ntlm_step(self, request: web.Request, token: bytes) -> tuple[str | None, str | None]:
        context = self._ntlm.get(request.transport)
        if context is None or context.complete:
            context = spnego.server(protocol="ntlm")
            self._ntlm[request.transport] = context
        try:
            answer = context.step(token)
        except spnego.exceptions.SpnegoError:
            del self._ntlm[request.transport]
            return None, None
        if context.complete:
            return str(context.client_principal), None
        return None, base64.b64encode(answer or b"").decode()

    def _unauthorized(self, challenge: str | None) -> web.Response:
        response = web.Response(status=401)
        if challenge:
            response.headers["WWW-Authenticate"] = f"Negotiate {challenge}"
            return response
        offers = []
        if "ntlm" in self.auth:
            offers.append("Negotiate")
        if "basic" in self.auth:
            offers.append('Basic realm="WSMAN"')
        response.headers["WWW-Authenticate"] = ", ".join(offers)
        return response

    # -- the shell operations ----------------------------------------------------------

    async def _dispatch(self, message: ET.Element, user: str, request: web.Request) -> bytes:
        header = message.find("s:Header", NS)
        body = message.find("s:Body", NS)
        assert header is not None and body is not None
        action = _text(header, "a:Action")
        message_id = _text(header, "a:MessageID")
        shell_id = next(
            (s.text for s in header.iter(f"{{{NS['w']}}}Selector") if s.get("Name") == "ShellId"),
            None,
        )
        if action == TRANSFER + "Create":
            answer = self._create(body, user)
        elif action == TRANSFER + "Delete":
            answer = await self._delete(self._shell(shell_id))
        elif action == ACTION + "Command":
            answer = await self._command(self._shell(shell_id), body)
        elif action == ACTION + "Send":
            answer = await self._send(self._shell(shell_id), body)
        elif action == ACTION + "Receive":
            timeout = float(_text(header, "w:OperationTimeout")[2:-1] or 20)
            answer = await self._receive(self._shell(shell_id), body, timeout, request)
        elif action == ACTION + "Signal":
            answer = await self._signal(self._shell(shell_id), body)
        else:
            raise Fault(0, f"unsupported action {action}")
        return envelope(action + "Response", message_id, answer)

    def _shell(self, shell_id: str | None) -> _Shell:
        shell = self._shells.get(shell_id or "")
        if shell is None:
            raise Fault(2150858843, f"the shell {shell_id} does not exist")
        return shell

    def _create(self, body: ET.Element, user: str) -> str:
        env = {v.get("Name", ""): v.text or "" for v in body.iter(f"{{{SHELL_NS}}}Variable")}
        shell_id = str(uuid.uuid4()).upper()
        self._shells[shell_id] = _Shell(env, user.rpartition("\\")[2])
        self.stats.shells_created += 1
        return (
            f"<x:ResourceCreated><a:Address>{self.url}</a:Address><a:ReferenceParameters>"
            "<w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
            f'</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">{shell_id}'
            "</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>"
            f"<rsp:Shell><rsp:ShellId>{shell_id}</rsp:ShellId></rsp:Shell>"
        )

    async def _delete(self, shell: _Shell) -> str:
        for shell_id, known in list(self._shells.items()):
            if known is shell:
                del self._shells[shell_id]
        for command in shell.commands.values():
            await command.terminate()
        self.stats.shells_deleted += 1
        return ""

    async def _command(self, shell: _Shell, body: ET.Element) -> str:
        line = _text(body, "rsp:CommandLine/rsp:Command")
        arguments = [a.text or "" for a in body.iter(f"{{{SHELL_NS}}}Arguments")]
        command_line = " ".join([line, *arguments]).strip()
        self.stats.commands.append(command_line)
        command = Command(command_line, self.paths, shell.env, shell.user)
        await command.start()
        command_id = str(uuid.uuid4()).upper()
        shell.commands[command_id] = command
        return (
            f"<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId>"
            "</rsp:CommandResponse>"
        )

    async def _send(self, shell: _Shell, body: ET.Element) -> str:
        stream = body.find("rsp:Send/rsp:Stream", NS)
        assert stream is not None
        command = self._command_of(shell, stream.get("CommandId"))
        await command.feed(base64.b64decode(stream.text or ""), stream.get("End") == "true")
        return "<rsp:SendResponse/>"

    async def _receive(
        self, shell: _Shell, body: ET.Element, timeout: float, request: web.Request
    ) -> str:
        stream = body.find("rsp:Receive/rsp:DesiredStream", NS)
        assert stream is not None
        command_id = stream.get("CommandId") or ""
        command = self._command_of(shell, command_id)
        if self.knobs.drop_receives > 0:
            self.knobs.drop_receives -= 1
            assert request.transport is not None
            request.transport.abort()
            raise ConnectionResetError("dropped by the drop_receives knob")
        if not await command.wait_output(timeout):
            raise Fault(
                TIMEOUT_FAULT,
                "The WS-Management service cannot complete the "
                "operation within the time specified in OperationTimeout.",
            )
        out, err, code = command.take(RECEIVE_LIMIT)
        parts = [
            f'<rsp:Stream Name="{name}" CommandId="{command_id}">{base64.b64encode(data).decode()}'
            "</rsp:Stream>"
            for name, data in (("stdout", out), ("stderr", err))
            if data
        ]
        if code is None:
            state = (
                f'<rsp:CommandState CommandId="{command_id}" State="{ACTION}CommandState/Running"/>'
            )
        else:
            state = (
                f'<rsp:CommandState CommandId="{command_id}" State="{ACTION}CommandState/Done">'
                f"<rsp:ExitCode>{code}</rsp:ExitCode></rsp:CommandState>"
            )
        return f"<rsp:ReceiveResponse>{''.join(parts)}{state}</rsp:ReceiveResponse>"

    async def _signal(self, shell: _Shell, body: ET.Element) -> str:
        signal = body.find("rsp:Signal", NS)
        assert signal is not None
        code = _text(signal, "rsp:Code").rpartition("/")[2]
        self.stats.signals.append(code)
        command = self._command_of(shell, signal.get("CommandId"))
        await command.terminate()
        return "<rsp:SignalResponse/>"

    def _command_of(self, shell: _Shell, command_id: str | None) -> Command:
        command = shell.commands.get(command_id or "")
        if command is None:
            raise Fault(2150858843, f"the command {command_id} does not exist")
        return command

    def reset(self) -> None:
        """Empty the "C:" root and forget the stats and knobs (between tests)."""
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True)
        self.knobs = Knobs()
        self.stats = Stats()


def _text(element: ET.Element, path: str) -> str:
    found = element.find(path, NS)
    return (found.text or "") if found is not None else ""


def main() -> None:
    """`python -m tests.windows.wsman_server ROOT USER PASSWORD`: serve HTTP in this
    process (away from the console's) and print the port once listening."""
    root, user, password = sys.argv[1:4]
    server = WSManServer(Path(root), {user: password}).start()
    print(server.port, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
