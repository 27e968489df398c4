"""Child runbooks from runs on a worker: a control socket on the worker that relays
`opsconsole run` to the engine over NATS.

A runbook running locally on a worker (`--run-on`) starts a child as it would in the
engine: `opsconsole run CHILD PATTERN`, with OPS_JOB_ID and OPS_JOB_TOKEN in its
environment. No engine runs on a worker, so its OPSCONSOLE_DATA_DIR is this relay's
private folder: the worker holds the folder's engine lock and answers the control
API on its socket, so the command attaches here as it would to an engine. Each call
goes to the engine as a sealed NATS request (`console.workers.child_requests`),
which decides everything: the token, and that the run reads and stops only its own
children. The relay adds one check of its own: the caller presents the token of a
run this worker is running now (the client sends it with every call).

Live events do not travel over NATS: the relay's event stream says so (`live:
false`), and the client's follower reads the child's stored output instead, every
couple of seconds (console.engine.follow).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from aiohttp import web
from nats.aio.client import Client as NATS
from nats.errors import Error as NatsClientError

from console.errors import OpsError, UsageError, error_status, error_to_dict
from console.jobs.host_run import path_with_opsconsole
from console.store.lock import DataDirLock, socket_path
from console.workers.nats_link import MSG_ID_HEADER, open_message, sealed_headers
from console.workers.protocol import (
    JOB_ID_HEADER,
    JOB_TOKEN_HEADER,
    ChildReply,
    ChildRequest,
    children_subject,
)
from console.workers.signing import ForgedMessage, GroupSeal

log = logging.getLogger(__name__)

FOLDER_PREFIX = "opsconsole-worker-"
STALE_AFTER = 60.0  # seconds: a younger folder may be a starting worker's, not locked yet
ASK_TIMEOUT = 10.0  # seconds the engine has to answer one relayed call
ASK_ATTEMPTS = 3  # reads are asked again (NATS restarting); a start is asked once


class ChildRelay:
    """One per worker, started with it; `admit`/`dismiss` a local run's job token
    for the time the run lasts."""

    def __init__(self, nc: NATS, seal: GroupSeal, group: str) -> None:
        self._nc = nc
        self._seal = seal
        self._subject = children_subject(group)
        self._tokens: dict[str, str] = {}  # job id -> its OPS_JOB_TOKEN
        self._admitted: dict[str, int] = {}  # job id -> its local runs here now
        self._folder: Path | None = None
        self._lock: DataDirLock | None = None
        self._runner: web.AppRunner | None = None

    @property
    def data_dir(self) -> Path:
        """The OPSCONSOLE_DATA_DIR of a local run on this worker."""
        assert self._folder is not None, "start() first"
        return self._folder

    async def start(self) -> None:
        _remove_stale_folders()
        self._folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))  # 0700
        self._lock = DataDirLock(self._folder)
        self._lock.acquire()
        app = web.Application()
        app.add_routes(
            [
                web.get("/info", self._info),
                web.get("/events", self._events),
                web.route("*", "/{path:.*}", self._relay),
            ]
        )
        # A client gone ends its handler (the event stream waits for nothing else).
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        await web.UnixSite(self._runner, str(socket_path(self._folder))).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._lock is not None:
            self._lock.release()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)

    def admit(self, job_id: str, token: str) -> None:
        self._tokens[job_id] = token
        self._admitted[job_id] = self._admitted.get(job_id, 0) + 1

    def dismiss(self, job_id: str) -> None:
        left = self._admitted.get(job_id, 1) - 1
        if left > 0:
            self._admitted[job_id] = left
        else:
            self._admitted.pop(job_id, None)
            self._tokens.pop(job_id, None)

    async def _info(self, request: web.Request) -> web.Response:
        return web.json_response({"pid": os.getpid(), "relay": "worker"})

    async def _events(self, request: web.Request) -> web.StreamResponse:
        """No live events here: the follower reads stored output (see the module)."""
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        await response.write(b'{"ready": true, "live": false}\n')
        await asyncio.Event().wait()  # until the client goes away (the task is cancelled)
        return response

    async def _relay(self, request: web.Request) -> web.Response:
        try:
            job_id, token = self._caller(request)
            body = await _body(request)
            call = ChildRequest(
                request.method, request.path, job_id, token, 0.0, dict(request.query), body
            )
            reply = await self._ask(call)
        except OpsError as exc:
            return web.json_response({"error": error_to_dict(exc)}, status=error_status(exc))
        return web.json_response(reply.data, status=reply.status)

    def _caller(self, request: web.Request) -> tuple[str, str]:
        job_id = request.headers.get(JOB_ID_HEADER, "")
        token = request.headers.get(JOB_TOKEN_HEADER, "")
        expected = self._tokens.get(job_id)
        if expected is None or not hmac.compare_digest(expected, token):
            raise UsageError(
                "only a runbook running on this worker can reach the engine from here "
                "(with its OPS_JOB_ID and OPS_JOB_TOKEN)"
            )
        return job_id, token

    async def _ask(self, call: ChildRequest) -> ChildReply:
        attempts = ASK_ATTEMPTS if call.method == "GET" else 1
        for attempt in range(1, attempts + 1):
            try:
                return await self._ask_once(call)
            except (NatsClientError, TimeoutError) as exc:
                if attempt == attempts:
                    raise OpsError(
                        f"the engine did not answer over NATS ({type(exc).__name__}): is it "
                        "running with --nats, and does it have this group's key?"
                    ) from None
                log.warning("relaying %s %s: %s; asking again", call.method, call.path, exc)
        raise AssertionError("unreachable")

    async def _ask_once(self, call: ChildRequest) -> ChildReply:
        call.sent_at = time.time()
        request_id = uuid.uuid4().hex
        body, headers = sealed_headers(self._seal, self._subject, request_id, call.encode())
        msg = await self._nc.request(self._subject, body, timeout=ASK_TIMEOUT, headers=headers)
        try:
            if (msg.headers or {}).get(MSG_ID_HEADER) != f"{request_id}.reply":
                raise ForgedMessage("an answer to another request")
            return ChildReply.decode(open_message(self._seal, msg))
        except (ForgedMessage, ValueError, TypeError) as exc:
            log.error("refused the engine's answer on %s: %s", msg.subject, exc)
            raise OpsError(f"the engine's answer was refused: {exc}") from None

    def run_env(self) -> dict[str, str]:
        """What a local run on this worker adds to its environment: this relay as its
        data directory, and `opsconsole` on its PATH."""
        return {"OPSCONSOLE_DATA_DIR": str(self.data_dir), "PATH": path_with_opsconsole()}


async def _body(request: web.Request) -> object:
    if not request.can_read_body:
        return None
    try:
        return await request.json()
    except ValueError:
        raise UsageError(f"{request.method} {request.path}: the body is not JSON") from None


def _remove_stale_folders() -> None:
    """Remove the relay folders of this user's workers that ended without cleaning up
    (killed): nobody holds their lock any more."""
    for folder in Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*"):
        try:
            info = folder.stat()
        except OSError:
            continue
        if info.st_uid != os.geteuid() or time.time() - info.st_mtime < STALE_AFTER:
            continue
        if DataDirLock(folder).holder_pid() is None:
            shutil.rmtree(folder, ignore_errors=True)
