"""The engine's local control API: JSON over HTTP on a Unix socket (mode 0600).

Every engine serves it, headless or inside a TUI, so a second console or any CLI
command attaches to the running engine instead of starting its own. Access control is
the socket's file mode: only the engine's user can connect. `GET /events` streams
engine events as JSON lines for live views.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import struct
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from console.engine.admin_calls import admin_operations
from console.engine.client import EngineClient
from console.engine.wire import (
    event_to_dict,
    host_to_dict,
    probe_to_dict,
    runbook_to_dict,
)
from console.errors import OpsError, UsageError, error_status, error_to_dict
from console.jobs.events import EngineEvent
from console.jobs.model import Job, JobStatus, Trigger, default_starter, user_name
from console.settings import Settings

SHUTDOWN_TIMEOUT = 5.0  # seconds a request in flight may take once the engine stops
# Events one `GET /events` client may be behind before newer ones are dropped for it
# (it sees the gap in `seq` and re-reads state; the engine never waits for a reader).
EVENT_BACKLOG = 10_000
# What a client may say started its job (a child job needs its parent's token instead;
# schedules and webhooks start jobs inside the engine).
CLIENT_TRIGGERS = frozenset({Trigger.MANUAL, Trigger.CLI})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ServedEngine(EngineClient, Protocol):
    """What the control API serves: the client interface, plus who started a job, which
    only this server can tell (the socket's peer); `console.engine.core.Engine`."""

    settings: Settings

    async def start_job(
        self,
        runbook: str,
        pattern: str,
        raw_parameters: Mapping[str, str],
        trigger: Trigger = Trigger.MANUAL,
        *,
        trigger_ref: str | None = None,
        timeout: float | None = None,
        parent_token: str | None = None,
        started_by: str | None = None,
    ) -> Job: ...

    async def start_command(
        self,
        pattern: str,
        command: str,
        trigger: Trigger = Trigger.MANUAL,
        *,
        timeout: float | None = None,
        started_by: str | None = None,
    ) -> Job: ...

    async def rerun_job(
        self, job_id: str, failed_only: bool = False, *, started_by: str | None = None
    ) -> Job: ...


def peer_user(request: web.Request) -> str:
    """The Unix user of the process at the other end of the control socket, as the
    kernel reports it (SO_PEERCRED): a client cannot claim to be someone else."""
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is None:
        raise OpsError("the control socket did not say who is connected")
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return user_name(uid)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=str))


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Typed engine errors become JSON the client turns back into the same error."""
    try:
        return await handler(request)
    except OpsError as exc:
        return _json({"error": error_to_dict(exc)}, error_status(exc))


class ControlServer:
    def __init__(self, engine: ServedEngine, path: Path) -> None:
        self.engine = engine
        self.path = path
        self._runner: web.AppRunner | None = None
        # Open `GET /events` streams. aiohttp does not end a handler when its client goes
        # away, and waits for every handler on shutdown: stop() must end these itself.
        self._streams: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        app = web.Application(middlewares=[_errors])
        app.add_routes(self._routes())
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT
        )
        await self._runner.setup()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a crashed engine's socket; we hold the lock, so it is stale
        old_umask = os.umask(0o177)  # the socket is born 0600: no window for others
        try:
            await web.UnixSite(self._runner, str(self.path)).start()
        finally:
            os.umask(old_umask)

    async def stop(self) -> None:
        for task in list(self._streams):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _routes(self) -> list[web.RouteDef]:
        return [
            web.get("/info", self.info),
            web.get("/hosts", self.hosts),
            web.post("/probe", self.probe),
            web.get("/runbooks", self.runbooks),
            web.post("/parameters/check", self.check_parameters),
            web.post("/jobs", self.start_job),
            web.post("/commands", self.start_command),
            web.get("/jobs", self.jobs),
            web.get("/jobs/{id}", self.job),
            web.post("/jobs/{id}/stop", self.stop_job),
            web.post("/jobs/{id}/rerun", self.rerun_job),
            web.get("/jobs/{id}/streams", self.streams),
            web.get("/events", self.events),
            web.post("/admin/{service}/{operation}", self.admin),
        ]

    async def admin(self, request: web.Request) -> web.Response:
        service, operation = request.match_info["service"], request.match_info["operation"]
        call = admin_operations(self.engine, service).get(operation)
        if call is None:
            raise web.HTTPNotFound(text=f"no operation {service}/{operation}")
        where = f"POST /admin/{service}/{operation}"
        try:
            arguments = await request.json() if request.can_read_body else {}
        except ValueError:
            raise UsageError(f"{where}: the body is not JSON") from None
        return _json(await call(where, arguments))

    async def info(self, request: web.Request) -> web.Response:
        settings = self.engine.settings
        return _json(
            {
                "pid": os.getpid(),
                "inventory": str(settings.inventory.resolve()),
                "runbooks": str(settings.runbooks.resolve()),
                "data_dir": str(settings.data_dir.resolve()),
            }
        )

    async def hosts(self, request: web.Request) -> web.Response:
        pattern = request.query.get("pattern", "all")
        return _json([host_to_dict(h) for h in self.engine.hosts(pattern)])

    async def probe(self, request: web.Request) -> web.Response:
        body = await request.json()
        return _json([probe_to_dict(p) for p in await self.engine.probe(body["hosts"])])

    async def runbooks(self, request: web.Request) -> web.Response:
        return _json([runbook_to_dict(r) for r in await self.engine.runbooks()])

    async def check_parameters(self, request: web.Request) -> web.Response:
        body = await request.json()
        return _json(await self.engine.check_parameters(body["runbook"], body["parameters"]))

    async def start_job(self, request: web.Request) -> web.Response:
        body = await request.json()
        trigger, trigger_ref, started_by = self._starter(request, body)
        job = await self.engine.start_job(
            body["runbook"],
            body["pattern"],
            body.get("parameters", {}),
            trigger=trigger,
            trigger_ref=trigger_ref,
            timeout=body.get("timeout"),
            parent_token=body.get("parent_token"),
            started_by=started_by,
        )
        return _json(job.to_dict(), 201)

    async def start_command(self, request: web.Request) -> web.Response:
        body = await request.json()
        trigger, _, started_by = self._starter(request, body)
        if trigger is Trigger.PARENT:
            raise UsageError("a command cannot be a child job; use `opsconsole run`")
        job = await self.engine.start_command(
            body["pattern"],
            body["command"],
            trigger=trigger,
            timeout=body.get("timeout"),
            started_by=started_by,
        )
        return _json(job.to_dict(), 201)

    def _starter(
        self, request: web.Request, body: dict[str, Any]
    ) -> tuple[Trigger, str | None, str]:
        """The trigger, its reference and who started the job, from what this engine
        can check, never from what the client says: the Unix user of the peer process
        (SO_PEERCRED), or, for a child job, its parent (the engine starts it only with
        the parent's per-job token: child jobs skip `max_jobs`)."""
        try:
            trigger = Trigger(body.get("trigger", "cli"))
        except ValueError:
            raise UsageError(f"unknown trigger {body.get('trigger')!r}") from None
        if trigger is Trigger.PARENT:
            parent = str(body.get("trigger_ref") or "")
            return trigger, parent, default_starter(trigger, parent)
        if trigger not in CLIENT_TRIGGERS:
            raise UsageError(
                f"a client may not start a job as trigger {trigger.value!r}; "
                f"use one of {', '.join(sorted(t.value for t in CLIENT_TRIGGERS))}"
            )
        return trigger, None, peer_user(request)

    async def jobs(self, request: web.Request) -> web.Response:
        q = request.query
        # `?status=Queued&status=Running`: jobs in any of the statuses given.
        statuses = [JobStatus(s) for s in q.getall("status", [])]
        jobs = await self.engine.jobs(
            status=statuses or None,
            runbook=q.get("runbook"),
            host=q.get("host"),
            limit=int(q.get("limit", "200")),
            before_id=q.get("before_id"),
        )
        return _json([j.to_dict() for j in jobs])

    async def job(self, request: web.Request) -> web.Response:
        return _json((await self.engine.job(request.match_info["id"])).to_dict())

    async def stop_job(self, request: web.Request) -> web.Response:
        return _json((await self.engine.stop_job(request.match_info["id"])).to_dict())

    async def rerun_job(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        job = await self.engine.rerun_job(
            request.match_info["id"],
            bool(body.get("failed_only", False)),
            started_by=peer_user(request),
        )
        return _json(job.to_dict(), 201)

    async def streams(self, request: web.Request) -> web.Response:
        q = request.query
        records = await self.engine.streams(
            request.match_info["id"], host=q.get("host"), stream=q.get("stream")
        )
        return _json([r.to_dict() for r in records])

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Engine events as JSON lines until the client goes away. Each line carries
        `seq`, counting every event offered to this client: a client that reads too
        slowly loses events past EVENT_BACKLOG and sees the jump in `seq`."""
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        queue: asyncio.Queue[tuple[int, EngineEvent]] = asyncio.Queue(maxsize=EVENT_BACKLOG)
        offered = 0

        def on_event(event: EngineEvent) -> None:
            nonlocal offered
            offered += 1
            with contextlib.suppress(asyncio.QueueFull):  # the client sees the gap
                queue.put_nowait((offered, event))

        unsubscribe = self.engine.subscribe(on_event)
        task = asyncio.current_task()
        assert task is not None
        self._streams.add(task)
        try:
            await response.write(b'{"ready": true}\n')
            while True:
                seq, event = await queue.get()
                await response.write(json.dumps(event_to_dict(event, seq)).encode() + b"\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            unsubscribe()
            self._streams.discard(task)
        return response
