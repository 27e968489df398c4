"""`RemoteClient`: the EngineClient interface over a running engine's control socket.

A second console, or any CLI command, uses it when another process owns the data
directory, so that every view shows the same jobs and only one engine runs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp

from console.assets.model import AssetView
from console.engine.client import (
    HostProbe,
    ParameterValue,
    RunbookInfo,
)
from console.engine.remote_changes import RemoteChanges
from console.engine.remote_state import RemoteState
from console.engine.remote_updates import RemoteUpdates
from console.engine.wire import (
    asset_from_dict,
    event_from_dict,
    probe_from_dict,
    record_from_dict,
    runbook_from_dict,
)
from console.errors import ConfigError, error_from_dict
from console.inventory.live import LiveInventory
from console.inventory.model import Host
from console.jobs.events import EngineEvent, EventCallback
from console.jobs.model import Job, JobStatus, StreamRecord, Trigger
from console.schedules.model import Schedule
from console.schedules.views import ScheduleDetail, ScheduleDict, ScheduleView
from console.webhooks.views import CreatedWebhook, RotatedSecret, WebhookView
from console.workers.protocol import JOB_ID_HEADER, JOB_TOKEN_HEADER

# The longest `GET /events` line read: a job-level event carries the whole job, ~150
# bytes a host, so aiohttp's default (512 KiB) would end the stream of a job of a few
# thousand hosts.
EVENT_LINE_LIMIT = 256 * 1024 * 1024


class RemoteClient:
    """The `console.engine.client.EngineClient` of an engine in another process."""

    is_attached = True

    def __init__(self, socket: Path) -> None:
        self.socket = socket
        self.schedules = RemoteSchedules(self)
        self.webhooks = RemoteWebhooks(self)
        self.assets = RemoteAssets(self)
        self.changes = RemoteChanges(self._call)
        self.state = RemoteState(self._call)
        self.updates = RemoteUpdates(self._call)
        self._session: aiohttp.ClientSession | None = None
        self._subscribers: list[EventCallback] = []
        self._events_task: asyncio.Task[None] | None = None
        self._events_ready = asyncio.Event()
        self._inventory: LiveInventory | None = None
        self.info: dict[str, object] = {}  # GET /info: the engine's pid and paths

    async def open(self) -> RemoteClient:
        connector = aiohttp.UnixConnector(path=str(self.socket))
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None),
            headers=_job_headers(),
        )
        try:
            self.info = await self._call("GET", "/info")
        except aiohttp.ClientError as exc:
            await self.close()
            raise ConfigError(f"cannot reach the engine at {self.socket}: {exc}") from exc
        return self

    async def close(self) -> None:
        if self._events_task:
            self._events_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._events_task
        if self._session:
            await self._session.close()

    async def _call(
        self,
        method: str,
        path: str,
        body: object = None,
        params: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
    ) -> Any:
        """The decoded JSON answer (its shape is the route's; callers name it), or the
        engine's typed error raised here."""
        assert self._session is not None, "call open() first"
        async with self._session.request(
            method, f"http://engine{path}", json=body, params=params
        ) as response:
            data = await response.json()
        # An answer may well have an "error" field of its own (a report's): only a
        # failed request's body is the engine's error.
        if response.status >= 400 and isinstance(data, dict) and "error" in data:
            raise error_from_dict(data["error"])
        return data

    # The EngineClient calls ------------------------------------------------
    def hosts(self, pattern: str = "all") -> list[Host]:
        """Evaluated here, on the engine's own inventory file, so typing a filter never
        waits for a round trip; the file is re-read when it changes."""
        if self._inventory is None:
            self._inventory = LiveInventory(Path(str(self.info["inventory"])))
        return self._inventory.current().select(pattern)

    async def probe(self, hosts: Sequence[str]) -> list[HostProbe]:
        return [
            probe_from_dict(d) for d in await self._call("POST", "/probe", {"hosts": list(hosts)})
        ]

    async def runbooks(self) -> list[RunbookInfo]:
        return [runbook_from_dict(d) for d in await self._call("GET", "/runbooks")]

    async def check_parameters(
        self, runbook: str, raw: Mapping[str, str]
    ) -> dict[str, ParameterValue]:
        result: dict[str, ParameterValue] = await self._call(
            "POST", "/parameters/check", {"runbook": runbook, "parameters": dict(raw)}
        )
        return result

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
    ) -> Job:
        """A child job (trigger PARENT) needs its parent's OPS_JOB_TOKEN; the engine
        records who started the job from the socket's peer, not from this call."""
        body = {
            "runbook": runbook,
            "pattern": pattern,
            "parameters": dict(raw_parameters),
            "trigger": trigger.value,
            "trigger_ref": trigger_ref,
            "timeout": timeout,
            "parent_token": parent_token,
        }
        return Job.from_dict(await self._call("POST", "/jobs", body))

    async def start_command(
        self,
        pattern: str,
        command: str,
        trigger: Trigger = Trigger.MANUAL,
        *,
        timeout: float | None = None,
    ) -> Job:
        body = {
            "pattern": pattern,
            "command": command,
            "trigger": trigger.value,
            "timeout": timeout,
        }
        return Job.from_dict(await self._call("POST", "/commands", body))

    async def stop_job(self, job_id: str) -> Job:
        return Job.from_dict(await self._call("POST", f"/jobs/{job_id}/stop"))

    async def rerun_job(self, job_id: str, failed_only: bool = False) -> Job:
        return Job.from_dict(
            await self._call("POST", f"/jobs/{job_id}/rerun", {"failed_only": failed_only})
        )

    async def jobs(
        self,
        *,
        status: JobStatus | Collection[JobStatus] | None = None,
        runbook: str | None = None,
        host: str | None = None,
        limit: int = 200,
        before_id: str | None = None,
    ) -> list[Job]:
        statuses = [status] if isinstance(status, JobStatus) else list(status or ())
        params = [("limit", str(limit))] + [("status", JobStatus(s).value) for s in statuses]
        for key, value in (("runbook", runbook), ("host", host), ("before_id", before_id)):
            if value is not None:
                params.append((key, value))
        return [Job.from_dict(d) for d in await self._call("GET", "/jobs", params=params)]

    async def job(self, job_id: str) -> Job:
        return Job.from_dict(await self._call("GET", f"/jobs/{job_id}"))

    async def streams(
        self, job_id: str, host: str | None = None, stream: str | None = None
    ) -> list[StreamRecord]:
        params = {k: v for k, v in (("host", host), ("stream", stream)) if v is not None}
        data = await self._call("GET", f"/jobs/{job_id}/streams", params=params)
        return [record_from_dict(d) for d in data]

    def subscribe(self, callback: EventCallback) -> Callable[[], None]:
        self._subscribers.append(callback)
        if self._events_task is None:
            self._events_task = asyncio.create_task(self._pump_events())

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    async def wait_subscribed(self) -> None:
        """Return once the event stream is open (so no event after this is missed)."""
        await self._events_ready.wait()

    async def _pump_events(self) -> None:
        """Deliver the engine's events; a jump in `seq` (the engine dropped events this
        client read too slowly) is delivered first as a `missed` event."""
        assert self._session is not None
        last_seq = 0
        async with self._session.get("http://engine/events") as response:
            while raw := await response.content.readline(max_line_length=EVENT_LINE_LIMIT):
                data = json.loads(raw)
                if data.get("ready"):
                    self._events_ready.set()
                    if data.get("live") is False:  # a worker's relay: read stored output
                        self._deliver(EngineEvent(job_id="", missed=True))
                    continue
                seq = int(data.get("seq", last_seq + 1))
                if seq != last_seq + 1:
                    self._deliver(EngineEvent(job_id="", missed=True))
                last_seq = seq
                self._deliver(event_from_dict(data))

    def _deliver(self, event: EngineEvent) -> None:
        for callback in list(self._subscribers):
            callback(event)


def _job_headers() -> dict[str, str]:
    """Inside a job, the job it runs in: a worker's child relay admits only the runs
    it runs (console.workers.child_relay); an engine's control socket ignores them."""
    job_id, token = os.environ.get("OPS_JOB_ID"), os.environ.get("OPS_JOB_TOKEN")
    return {JOB_ID_HEADER: job_id, JOB_TOKEN_HEADER: token} if job_id and token else {}


class RemoteSchedules:
    """`console.engine.client.ScheduleAdmin` of the attached engine."""

    def __init__(self, client: RemoteClient) -> None:
        self._client = client

    async def _admin(self, operation: str, **arguments: object) -> Any:
        return await self._client._call("POST", f"/admin/schedules/{operation}", arguments)

    async def create(self, schedule: Schedule) -> ScheduleView:
        view: ScheduleView = await self._admin("create", schedule=schedule.to_dict())
        return view

    async def entries(self) -> list[ScheduleView]:
        views: list[ScheduleView] = await self._admin("entries")
        return views

    async def show(self, name: str, decisions: int = 20) -> ScheduleDetail:
        detail: ScheduleDetail = await self._admin("show", name=name, decisions=decisions)
        return detail

    async def set_enabled(self, name: str, enabled: bool) -> ScheduleView:
        view: ScheduleView = await self._admin("set_enabled", name=name, enabled=enabled)
        return view

    async def delete(self, name: str) -> ScheduleDict:
        stored: ScheduleDict = await self._admin("delete", name=name)
        return stored

    async def next(self, name: str, count: int = 5) -> list[str]:
        times: list[str] = await self._admin("next", name=name, count=count)
        return times


class RemoteWebhooks:
    """`console.engine.client.WebhookAdmin` of the attached engine."""

    def __init__(self, client: RemoteClient) -> None:
        self._client = client

    async def _admin(self, operation: str, **arguments: object) -> Any:
        return await self._client._call("POST", f"/admin/webhooks/{operation}", arguments)

    async def create(
        self,
        name: str,
        runbook: str,
        pattern: str,
        parameters: dict[str, str],
        expires: float | None = None,
        signed: bool = False,
        allow_from: list[str] | None = None,
        rate_limit: int | None = None,
    ) -> CreatedWebhook:
        created: CreatedWebhook = await self._admin(
            "create",
            name=name,
            runbook=runbook,
            pattern=pattern,
            parameters=parameters,
            expires=expires,
            signed=signed,
            allow_from=allow_from,
            rate_limit=rate_limit,
        )
        return created

    async def entries(self) -> list[WebhookView]:
        views: list[WebhookView] = await self._admin("entries")
        return views

    async def set_enabled(self, name: str, enabled: bool) -> WebhookView:
        view: WebhookView = await self._admin("set_enabled", name=name, enabled=enabled)
        return view

    async def rotate_secret(self, name: str, grace_hours: float | None = None) -> RotatedSecret:
        rotated: RotatedSecret = await self._admin(
            "rotate_secret", name=name, grace_hours=grace_hours
        )
        return rotated

    async def delete(self, name: str) -> WebhookView:
        view: WebhookView = await self._admin("delete", name=name)
        return view


class RemoteAssets:
    """`console.engine.client.AssetAdmin` of the attached engine. Secret values go to
    the engine over its control socket (only its own user may connect); the answers
    are AssetViews, which hold none."""

    def __init__(self, client: RemoteClient) -> None:
        self._client = client

    async def _admin(self, operation: str, **arguments: object) -> Any:
        return await self._client._call("POST", f"/admin/assets/{operation}", arguments)

    async def _view(self, operation: str, **arguments: object) -> AssetView:
        return asset_from_dict(await self._admin(operation, **arguments))

    async def set_credential(
        self,
        name: str,
        username: str,
        *,
        password: str | None = None,
        private_key: str | None = None,
        passphrase: str | None = None,
        description: str = "",
    ) -> AssetView:
        return await self._view(
            "set_credential",
            name=name,
            username=username,
            password=password,
            private_key=private_key,
            passphrase=passphrase,
            description=description,
        )

    async def set_variable(
        self, name: str, value: Any, *, encrypted: bool = False, description: str = ""
    ) -> AssetView:
        return await self._view(
            "set_variable", name=name, value=value, encrypted=encrypted, description=description
        )

    async def set_connection(
        self,
        name: str,
        fields: Mapping[str, str],
        *,
        secret: Collection[str] = (),
        description: str = "",
    ) -> AssetView:
        return await self._view(
            "set_connection",
            name=name,
            fields=dict(fields),
            secret=list(secret),
            description=description,
        )

    async def set_certificate(self, name: str, pem: str, *, description: str = "") -> AssetView:
        return await self._view("set_certificate", name=name, pem=pem, description=description)

    async def entries(self) -> list[AssetView]:
        return [asset_from_dict(v) for v in await self._admin("entries")]

    async def show(self, name: str) -> AssetView:
        return await self._view("show", name=name)

    async def delete(self, name: str, *, force: bool = False) -> AssetView:
        return await self._view("delete", name=name, force=force)

    async def rotate_key(self) -> int:
        return int(await self._admin("rotate_key"))
